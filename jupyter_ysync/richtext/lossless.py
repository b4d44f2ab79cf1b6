"""Lossless conversion of Markdown and HTML files to and from the room's Quill delta.

A file is read as a sequence of top-level *blocks* (a paragraph, a list, a table, a
``<head>``...). A block becomes rich text only when that conversion is faithful, which is not
guessed but checked: the block's ops are rendered back, and the result must render (markdown-it
for Markdown, a normalised element tree for HTML) exactly as the original block does. Every
other block is a *verbatim block*: its source lines become delta lines formatted
``{"code-block": "verbatim"}``, which :func:`render` writes back byte for byte.

:func:`render` with ``base`` (the :class:`Parsed` the room was loaded from) keeps the original
source of every block whose lines did not change, so saving an unedited document gives the
file back unchanged and an edit rewrites only its block.

Example::

    parsed = parse(text, "markdown")
    room.set_delta(parsed.ops)  # ...users edit...
    new_text = render(room.delta, "markdown", base=parsed)
"""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from difflib import SequenceMatcher
from itertools import groupby
from typing import Any

from ._blocks import (
    _MERGING,
    _VERBATIM_LINE,
    VERBATIM,
    Format,
    Parsed,
    _Block,
    _Candidate,
    _ends_with_newline,
    _merge_verbatim,
    _shape,
    _split_lines,
)
from ._html_source import _html_blocks
from ._markdown_source import _check_neighbours, _markdown_read, _Read, _scratch
from .delta import Line, Op, line_kind, lines, push
from .diff import _trim
from .html import delta_to_html
from .markdown import delta_to_markdown

__all__ = ["VERBATIM", "Format", "Parsed", "parse", "render"]


def parse(text: str, format: Format, previous: Parsed | None = None) -> Parsed:
    """Read a Markdown or HTML file as a Quill delta, keeping what rich text cannot show.

    Example::

        parse("# Title\\n\\n| a |\\n|---|\\n", "markdown").ops
        # [{'insert': 'Title'}, {'insert': '\\n', 'attributes': {'header': 1}},
        #  {'insert': '| a |'}, {'insert': '\\n', 'attributes': {'code-block': 'verbatim'}},
        #  {'insert': '|---|'}, {'insert': '\\n', 'attributes': {'code-block': 'verbatim'}}]

    With ``previous``, the :class:`Parsed` of an earlier version of the same file, a Markdown
    file is parsed incrementally: only the blocks around what changed are read again (the
    result is the same as without it). HTML is always read whole.

    Raises:
        ValueError: ``format`` is not ``"markdown"`` or ``"html"``.
    """
    if not isinstance(text, str):
        raise TypeError(f"text must be a str, not {type(text).__name__}")
    read: _Read | None = None
    if format == "markdown":
        old = previous if previous is not None and previous.format == "markdown" else None
        read = _markdown_read(text, old)
        candidates = [candidate.copy() for candidate in read.candidates]
        _check_neighbours(candidates, text, _scratch(read.env))
    elif format == "html":
        candidates = _html_blocks(text)
    else:
        raise ValueError(f"unknown format {format!r}; use 'markdown' or 'html'")
    return _assemble(format, text, candidates, read)


def _assemble(
    format: Format, text: str, candidates: list[_Candidate], read: _Read | None
) -> Parsed:
    """The delta and the block map of the candidate blocks, in order."""
    ops = _Ops()
    blocks: list[_Block] = []
    for group in _merge_verbatim(candidates):
        first = group[0]
        if first.ops is None:
            start, end = first.start, group[-1].end
            count = 0
            for source_line in _split_lines(text[start:end]):
                ops.push(source_line, None)
                ops.push("\n", _VERBATIM_LINE)
                count += 1
            blocks.append(_Block(start, end, count, True, VERBATIM, VERBATIM))
        else:
            for op in first.ops:
                ops.push(op["insert"], op.get("attributes"))
            if first.shape is None:
                first.shape = _shape(first.ops)
            count, first_kind, last_kind = first.shape
            blocks.append(_Block(first.start, first.end, count, False, first_kind, last_kind))
    done = ops.done()
    if not done or not _ends_with_newline(done):
        push(done, "\n", None)
    return Parsed(format, text, done, tuple(blocks), read)


class _Ops:
    """Ops pushed as :func:`~.delta.push` does, each merged text joined once at the end (a
    ``+=`` per push copies the text so far: quadratic in a long run of plain lines)."""

    __slots__ = ("_ops", "_pieces")

    def __init__(self) -> None:
        self._ops: list[Op] = []
        self._pieces: list[str] | None = None  # the last op's text, when it is text

    def push(self, value: str | dict[str, Any], attrs: dict[str, Any] | None) -> None:
        if value == "":
            return
        normal = dict(attrs) if attrs else None
        pieces = self._pieces
        if isinstance(value, str):
            if pieces is not None and self._ops[-1].get("attributes") == normal:
                pieces.append(value)
                return
            self._flush()
            self._pieces = [value]
        else:
            self._flush()
            self._pieces = None
        op: Op = {"insert": value}
        if normal:
            op["attributes"] = normal
        self._ops.append(op)

    def _flush(self) -> None:
        if self._pieces is not None and len(self._pieces) > 1:
            self._ops[-1]["insert"] = "".join(self._pieces)

    def done(self) -> list[Op]:
        self._flush()
        self._pieces = None
        return self._ops


def render(ops: Sequence[Op], format: Format, base: Parsed | None = None) -> str:
    """Write a Quill delta as a Markdown or HTML file.

    Verbatim lines are written as they are; the other lines are rendered by
    :func:`~jupyter_ysync.richtext.markdown.delta_to_markdown` or
    :func:`~jupyter_ysync.richtext.html.delta_to_html`. With ``base``, the :class:`Parsed`
    the delta was loaded from, every block whose lines are unchanged keeps its original source
    and the blank lines around it, so only edited blocks are rewritten.

    Example::

        parsed = parse(text, "markdown")
        assert render(parsed.ops, "markdown", base=parsed) == text
    """
    if format not in ("markdown", "html"):
        raise ValueError(f"unknown format {format!r}; use 'markdown' or 'html'")
    if base is None or base.format != format:
        body = _render_lines(lines(ops), format)
        return body + "\n" if body else ""
    return _Splice(base, ops).render()


# --------------------------------------------------------------------------------------------
# Candidate blocks, shared by both formats


def _line_ops(line: Line) -> list[Op]:
    ops: list[Op] = []
    for value, attrs in line.segments:
        push(ops, value, attrs)
    push(ops, "\n", line.attrs)
    return ops


def _render_lines(current: Sequence[Line], format: Format) -> str:
    """Lines written without a base: verbatim runs raw, rich runs rendered (no final newline)."""
    pieces: list[str] = []
    for verbatim, run in groupby(
        current, key=lambda line: line.attrs.get("code-block") == VERBATIM
    ):
        group = list(run)
        if verbatim:
            pieces.append("\n".join(line.plain_text for line in group))
        elif format == "markdown":
            ops = [op for line in group for op in _line_ops(line)]
            rendered = delta_to_markdown(ops).rstrip("\n")
            if rendered:
                pieces.append(rendered)
        else:
            pieces.extend(_html_pieces(group))
    return ("\n\n" if format == "markdown" else "\n").join(pieces)


def _is_verbatim(line: Line) -> bool:
    return bool(line.attrs.get("code-block") == VERBATIM)


def _html_pieces(group: Sequence[Line]) -> Iterator[str]:
    """Rich lines as HTML, one top-level element per source line."""
    for kind, run in groupby(group, key=lambda line: line_kind(line.attrs)):
        block = list(run)
        chunks = [block] if kind in ("list", "code") else [[line] for line in block]
        for chunk in chunks:
            yield delta_to_html([op for line in chunk for op in _line_ops(line)])


# --------------------------------------------------------------------------------------------
# Rendering against a base


def _line_key(line: Line) -> tuple[Any, ...]:
    return (
        tuple(
            (value if isinstance(value, str) else repr(sorted(value.items())), _frozen(attrs))
            for value, attrs in line.segments
        ),
        _frozen(line.attrs),
    )


def _frozen(attrs: dict[str, Any]) -> Any:
    return repr(sorted(attrs.items())) if attrs else ""


class _Splice:
    """Writes the current lines, reusing the base's source for the blocks left unchanged."""

    def __init__(self, base: Parsed, ops: Sequence[Op]) -> None:
        self.base = base
        self.blocks = base._blocks
        trimmed = _trim(base.ops, ops)  # the lines both start and end with stay as they are
        self.head, self.tail = trimmed.head_lines, trimmed.tail_lines
        self.base_middle = lines(trimmed.old_rest)
        self.current = _CurrentLines(ops, self.head, lines(trimmed.new_rest), self.tail)
        self.newline = "\r\n" if "\r\n" in base.text[: base.text.find("\n") + 1] else "\n"

    def render(self) -> str:
        if not self.blocks:
            body = _render_lines(self.current.all(), self.base.format)
            return body.replace("\n", self.newline) + self.newline if body else self.base.text
        segments = self._segments()
        text = self.base.text
        out: list[str] = []
        if self.blocks:
            out.append(text[: self.blocks[0].start])
        previous: tuple[str, int, int] | None = None
        for segment in segments:
            if previous is not None:
                out.append(self._separator(previous, segment))
            out.append(self._piece(segment))
            previous = segment
        out.append(text[self.blocks[-1].end :] if self.blocks else self.newline)
        return "".join(out)

    def _segments(self) -> list[tuple[str, int, int]]:
        """``("kept", block, first line)`` and ``("fresh", first line, end line)`` in order."""
        head, tail = self.head, self.tail
        middle = _match(
            [_line_key(line) for line in self.base_middle],
            [_line_key(line) for line in self.current.middle],
        )
        base_end = head + len(self.base_middle)
        shift = len(self.current) - (base_end + tail)

        def matched(line: int) -> int | None:
            if line < head:
                return line
            if line >= base_end:
                return line + shift
            found = middle.get(line - head)
            return None if found is None else found + head

        kept: dict[int, int] = {}  # current first line -> base block
        line = 0
        for index, block in enumerate(self.blocks):
            first = matched(line)
            if first is not None and (
                line + block.lines <= head
                or line >= base_end
                or all(matched(line + k) == first + k for k in range(block.lines))
            ):
                kept[first] = index
            line += block.lines
        segments: list[tuple[str, int, int]] = []
        position = 0
        size = len(self.current)
        while position < size:
            found = kept.get(position)
            if found is not None:
                segments.append(("kept", found, position))
                position += self.blocks[found].lines
                continue
            end = position + 1
            while end < size and end not in kept:
                end += 1
            segments.append(("fresh", position, end))
            position = end
        return self._absorb(segments)

    def _absorb(self, segments: list[tuple[str, int, int]]) -> list[tuple[str, int, int]]:
        """Re-render a kept rich block with a fresh neighbour its lines would merge with
        (an item added to a list re-renders the list)."""
        changed = True
        while changed:
            changed = False
            for at, segment in enumerate(segments):
                if segment[0] != "fresh":
                    continue
                for side in (at - 1, at + 1):
                    if 0 <= side < len(segments) and self._merges(
                        segments[side], segment, side < at
                    ):
                        neighbour = segments[side]
                        block = self.blocks[neighbour[1]]
                        first = min(neighbour[2], segment[1])
                        end = max(neighbour[2] + block.lines, segment[2])
                        low, high = min(side, at), max(side, at)
                        segments[low : high + 1] = [("fresh", first, end)]
                        changed = True
                        break
                if changed:
                    break
            # neighbouring fresh segments are one
            merged: list[tuple[str, int, int]] = []
            for segment in segments:
                if merged and segment[0] == "fresh" and merged[-1][0] == "fresh":
                    merged[-1] = ("fresh", merged[-1][1], segment[2])
                else:
                    merged.append(segment)
            segments[:] = merged
        return segments

    def _merges(self, kept: tuple[str, int, int], fresh: tuple[str, int, int], left: bool) -> bool:
        if kept[0] != "kept":
            return False
        block = self.blocks[kept[1]]
        touching = self.current.line(fresh[1] if left else fresh[2] - 1)
        if block.verbatim:  # source lines are joined by line breaks, not blank lines
            return _is_verbatim(touching)
        mine = block.last if left else block.first
        theirs = line_kind(touching.attrs)
        return mine == theirs and mine in _MERGING

    def _piece(self, segment: tuple[str, int, int]) -> str:
        if segment[0] == "kept":
            block = self.blocks[segment[1]]
            return self.base.text[block.start : block.end]
        body = _render_lines(self.current.span(segment[1], segment[2]), self.base.format)
        return body.replace("\n", self.newline) if self.newline != "\n" else body

    def _separator(self, left: tuple[str, int, int], right: tuple[str, int, int]) -> str:
        """The base's separator where one exists and is safe, else a blank line."""
        text = self.base.text
        markdown = self.base.format == "markdown"
        default = self.newline * 2 if markdown else self.newline
        if left[0] == "kept" and left[1] + 1 < len(self.blocks):
            gap = text[self.blocks[left[1]].end : self.blocks[left[1] + 1].start]
            if right[0] == "kept" and right[1] == left[1] + 1:
                return gap
        elif right[0] == "kept" and right[1] > 0:
            gap = text[self.blocks[right[1] - 1].end : self.blocks[right[1]].start]
        else:
            return default
        if not markdown:
            return gap or default
        if gap.count("\n") + gap.count("\r") - gap.count("\r\n") >= 2:
            return gap
        # A single line break is safe only after a heading, or before an ATX heading.
        if left[0] == "kept":
            safe = self.blocks[left[1]].last == "header"
        else:
            safe = line_kind(self.current.line(left[2] - 1).attrs) == "header"
        if right[0] == "fresh":
            safe = safe or line_kind(self.current.line(right[1]).attrs) == "header"
        else:
            block = self.blocks[right[1]]
            safe = safe or (block.first == "header" and text.startswith("#", block.start))
        return gap if safe else default


class _CurrentLines:
    """The lines of the delta being written: made where it differs from the base; the
    others (the same as the base's) only if a block there is written again."""

    def __init__(self, ops: Sequence[Op], head: int, middle: list[Line], tail: int) -> None:
        self.ops = ops
        self.head = head
        self.middle = middle
        self.size = head + len(middle) + tail
        self._all: list[Line] | None = None

    def __len__(self) -> int:
        return self.size

    def line(self, index: int) -> Line:
        if 0 <= index - self.head < len(self.middle):
            return self.middle[index - self.head]
        return self.all()[index]

    def span(self, start: int, end: int) -> list[Line]:
        if self.head <= start and end <= self.head + len(self.middle):
            return self.middle[start - self.head : end - self.head]
        return self.all()[start:end]

    def all(self) -> list[Line]:
        if self._all is None:
            self._all = lines(self.ops)
        return self._all


def _match(base: list[Any], current: list[Any]) -> dict[int, int]:
    """Base line index -> current line index, for the lines that stay.

    Common prefix and suffix are matched first in linear time; the rest by
    :class:`difflib.SequenceMatcher`.
    """
    matched: dict[int, int] = {}
    prefix = 0
    limit = min(len(base), len(current))
    while prefix < limit and base[prefix] == current[prefix]:
        matched[prefix] = prefix
        prefix += 1
    suffix = 0
    while (
        suffix < limit - prefix
        and base[len(base) - 1 - suffix] == current[len(current) - 1 - suffix]
    ):
        matched[len(base) - 1 - suffix] = len(current) - 1 - suffix
        suffix += 1
    middle = SequenceMatcher(
        None, base[prefix : len(base) - suffix], current[prefix : len(current) - suffix], False
    )
    for a, b, size in middle.get_matching_blocks():
        for k in range(size):
            matched[prefix + a + k] = prefix + b + k
    return matched
