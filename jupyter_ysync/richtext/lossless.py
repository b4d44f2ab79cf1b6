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

import re
from bisect import bisect_left, bisect_right
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass, field
from difflib import SequenceMatcher
from html.parser import HTMLParser
from itertools import groupby, pairwise
from typing import Any, Literal, TypeAlias

import nh3
from markdown_it import MarkdownIt
from markdown_it.rules_core import inline as _core_inline
from markdown_it.rules_core import text_join as _text_join
from markdown_it.rules_core.state_core import StateCore
from markdown_it.token import Token

from .delta import Line, Op, line_kind, lines, push
from .diff import _trim
from .html import delta_to_html
from .markdown import _tokens_to_ops, delta_to_markdown

__all__ = ["VERBATIM", "Format", "Parsed", "parse", "render"]

Format: TypeAlias = Literal["markdown", "html"]

VERBATIM = "verbatim"
"""The ``code-block`` value of a verbatim line: raw source, written back as it is."""

_VERBATIM_LINE = {"code-block": VERBATIM}
_MERGING = frozenset({"list", "quote", "code"})
"""Line kinds whose consecutive lines the renderers join into one block."""


@dataclass(frozen=True)
class _Block:
    """A top-level block: its source span and how many delta lines it became."""

    start: int
    end: int
    lines: int
    verbatim: bool
    first: str
    """The kind of its first line (``"verbatim"`` for a verbatim block)."""
    last: str


@dataclass(frozen=True)
class Parsed:
    """A file read as a Quill delta, with the map from its blocks back to their source.

    Attributes:
        format: ``"markdown"`` or ``"html"``.
        text: the source it was parsed from.
        ops: the Quill delta the room holds; it always ends with ``"\\n"``.
    """

    format: Format
    text: str
    ops: list[Op]
    _blocks: tuple[_Block, ...] = field(default=(), repr=False, compare=False)
    _read: _Read | None = field(default=None, repr=False, compare=False)
    """How the Markdown was read, kept so that its next version is parsed incrementally."""


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


def _shape(ops: list[Op]) -> tuple[int, str, str]:
    """How many lines rich ops make, and the kinds of the first and the last."""
    block_lines = lines(ops)
    return len(block_lines), line_kind(block_lines[0].attrs), line_kind(block_lines[-1].attrs)


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


@dataclass
class _Candidate:
    """A block as read: its span, and its ops when it converts faithfully (else None)."""

    start: int
    end: int
    ops: list[Op] | None
    kind: str = ""
    """Its block kind for the neighbour check: ``"list"``, ``"quote"``, ``"code"``, ..."""
    isolated: bool = False
    """Nothing rendered next to it can change how it reads (front matter, reference lines)."""
    rich: list[Op] | None = None
    """Its ops when it converts faithfully on its own, before the neighbour check."""
    shape: tuple[int, str, str] | None = None
    """Of ``rich``: how many lines, the kinds of the first and the last (see :func:`_shape`)."""

    def copy(self, shift: int = 0) -> _Candidate:
        """A copy to run the neighbour check on (``ops`` reset to ``rich``), moved by ``shift``."""
        return _Candidate(
            self.start + shift,
            self.end + shift,
            self.rich,
            self.kind,
            self.isolated,
            self.rich,
            self.shape,
        )


def _merge_verbatim(candidates: list[_Candidate]) -> Iterator[list[_Candidate]]:
    """Rich blocks one by one, neighbouring verbatim blocks in one group (with the blank
    lines between them, so the group's source is written back exactly)."""
    for verbatim, group in groupby(candidates, key=lambda c: c.ops is None):
        if verbatim:
            yield list(group)
        else:
            yield from ([candidate] for candidate in group)


def _ends_with_newline(ops: list[Op]) -> bool:
    last = ops[-1].get("insert")
    return isinstance(last, str) and last.endswith("\n")


_LINE_BREAK = re.compile(r"\r\n|\r|\n")


def _split_lines(text: str) -> list[str]:
    """Source lines without their terminators (a final terminator ends the last line)."""
    parts = _LINE_BREAK.split(text)
    if len(parts) > 1 and parts[-1] == "":
        parts.pop()
    return parts


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


# --------------------------------------------------------------------------------------------
# Markdown

_CHECK = MarkdownIt("commonmark", {"html": True}).enable(["strikethrough", "table"])
# Quill has no soft line break: the import reads one as a space, so the check does too.
_CHECK.add_render_rule("softbreak", lambda self, tokens, idx, options, env: " ")
_FRONT_MATTER_OPEN = re.compile(r"---[ \t]*")
_FRONT_MATTER_CLOSE = re.compile(r"(?:---|\.\.\.)[ \t]*")
_FOOTNOTE = re.compile(r"\[\^[^\]\s]+\]")
_MATH = re.compile(r"\$\$|\$[^\s$](?:[^$\n]*[^\s$\\])?\$(?!\d)")
_ALWAYS_VERBATIM = frozenset({"html_block", "hr", "table_open"})
_KINDS = {
    "bullet_list_open": "list",
    "ordered_list_open": "list",
    "blockquote_open": "quote",
    "fence": "code",
    "code_block": "code",
}


_BLOCKS = MarkdownIt("commonmark", {"html": True}).enable(["strikethrough", "table"])
_BLOCKS.disable(["inline", "text_join"])
"""``_CHECK``'s block phase alone: the inline phase runs per block, with the whole file's
reference definitions (markdown-it runs it after every block is read, for the same reason)."""

_MARGIN_LINES = 3
"""Lines between the start of the first block read again and the first change.

A top-level block is read from its first line on, looking at most one line past the start
of the next block (a table can interrupt a paragraph: its delimiter row is the line after).
"""
_MARGIN_BLOCKS = 4
"""Blocks read past a change before the reading may rejoin the previous version's."""


@dataclass
class _Read:
    """How a Markdown file was read: enough to read its next version incrementally."""

    candidates: list[_Candidate]
    """Its blocks in order, each with ``rich`` set (before the neighbour check)."""
    visited: list[int]
    """The offsets where markdown-it started a top-level block, in order."""
    env: dict[str, Any]
    """markdown-it's env once the file's blocks are read: its link reference definitions."""


def _markdown_read(text: str, previous: Parsed | None) -> _Read:
    if previous is not None and previous._read is not None:
        read = _markdown_incremental(text, previous.text, previous._read)
        if read is not None:
            return read
    env: dict[str, Any] = {}
    candidates, visited = _markdown_blocks(text, 0, len(text), env)
    return _Read(candidates, visited, env)


def _markdown_blocks(
    text: str, low: int, high: int, env: dict[str, Any], inline_env: dict[str, Any] | None = None
) -> tuple[list[_Candidate], list[int]]:
    """The candidate blocks of ``text[low:high]`` and where markdown-it started each, as
    offsets in ``text``.

    ``low`` is the start of the file or of a top-level block. The reference definitions found
    go into ``env``; the inline phase uses ``inline_env`` (default: ``env`` once complete).
    """
    source = _split_lines(text[low:high])
    starts = [low]
    for match in _LINE_BREAK.finditer(text, low, high):
        starts.append(match.end())
    ends = [starts[k] + len(source[k]) for k in range(len(source))]

    def span(first: int, last: int) -> tuple[int, int]:
        return starts[first], ends[last - 1]

    candidates: list[_Candidate] = []
    skip = _front_matter(source) if low == 0 else 0
    if skip:
        candidates.append(_Candidate(*span(0, skip), None, isolated=True))
    tokens = _BLOCKS.parse("\n" * skip + "\n".join(source[skip:]), env)
    if inline_env is None:
        inline_env = env
    covered = skip
    visited: list[int] = []
    for first_token, last_token in _top_level(tokens):
        block_tokens = tokens[first_token : last_token + 1]
        token = block_tokens[0]
        assert token.map is not None
        first, last = token.map
        visited.append(starts[first])
        last = min(last, len(source))
        if token.type != "fence":
            while last > first and not source[last - 1].strip():
                last -= 1
        candidates.extend(_uncovered(source, covered, first, span))
        covered = max(covered, last)
        if last <= first:
            continue
        start, end = span(first, last)
        candidate = _Candidate(start, end, None, _KINDS.get(token.type, token.type))
        if not _forced_verbatim(token, text[start:end]):
            _inline(block_tokens, inline_env)
            rich = _faithful_ops(block_tokens, inline_env, "\n".join(source[first:last]))
            if rich is not None:
                candidate.rich, candidate.shape = rich, _shape(rich)
        candidates.append(candidate)
    candidates.extend(_uncovered(source, covered, len(source), span))
    return candidates, visited


def _scratch(env: dict[str, Any]) -> dict[str, Any]:
    """A copy of markdown-it's env that parsing something else may add definitions to."""
    return {"references": dict(env.get("references", {}))}


def _inline(tokens: list[Token], env: dict[str, Any]) -> None:
    """markdown-it's inline phase (and its text join) on one block's tokens."""
    state = StateCore("", _CHECK, env, tokens)
    _core_inline(state)
    _text_join(state)


def _markdown_incremental(text: str, old: str, read: _Read) -> _Read | None:
    """``text`` read by reusing how ``old`` was read where they agree, or None when that
    cannot be done safely (then the whole file is read).

    markdown-it reads a file top-level block by top-level block, and what it makes of the
    lines from where it starts a block on depends on those lines only. So the blocks before
    the change (with a margin: a block looks a little past its end) are ``old``'s; from a
    block start before the change, a window is read until it starts a block where ``old``'s
    reading also started one, in the common suffix: from there on, both readings agree.
    Reference definitions apply to the whole file: a change to them reads it all again.
    """
    if text == old:
        return _Read(list(read.candidates), list(read.visited), read.env)
    if old.startswith("---") or text.startswith("---"):
        return None  # a front matter's end may be anywhere: read it all
    prefix = _common_prefix(old, text)
    suffix = _common_suffix(old, text, min(len(old), len(text)) - prefix)
    shift = len(text) - len(old)
    visited = read.visited
    # the window starts at a block that read nothing at or after the change, and one more
    first = bisect_right(visited, prefix) - 1
    while first >= 0 and _line_breaks(old, visited[first], prefix) < _MARGIN_LINES:
        first -= 1
    first -= 1
    low = visited[first] if first >= 0 else 0
    changed_end = len(old) - suffix
    after = bisect_left(visited, changed_end)
    margin = _MARGIN_BLOCKS
    while True:
        stop = after + margin
        high_old = visited[stop] if stop < len(visited) else len(old)
        high = high_old + shift
        env: dict[str, Any] = {}
        window, window_visited = _markdown_blocks(text, low, high, env, _scratch(read.env))
        if env.get("references", {}) != _references(old, low, high_old):
            return None
        if high == len(text):
            rejoin, rejoin_old = len(text), len(old)
            break
        found = _rejoin(window_visited, len(text) - suffix, shift, visited)
        if found is not None:
            rejoin, rejoin_old = found, found - shift
            break
        margin *= 4
    old_candidates = read.candidates
    head = bisect_left([c.start for c in old_candidates], low)
    tail = bisect_left([c.start for c in old_candidates], rejoin_old)
    candidates = old_candidates[:head]
    candidates.extend(c for c in window if c.start < rejoin)
    candidates.extend(c.copy(shift) for c in old_candidates[tail:])
    cut = bisect_left(visited, rejoin_old)
    new_visited = visited[: max(first, 0)]
    new_visited.extend(v for v in window_visited if v < rejoin)
    new_visited.extend(v + shift for v in visited[cut:])
    return _Read(candidates, new_visited, read.env)


def _rejoin(window: list[int], common: int, shift: int, old: list[int]) -> int | None:
    """The first block start of the window, in the common suffix, where the old reading also
    started a block, with two more block starts after it in the window (the blocks before it
    then looked at nothing past the window)."""
    for offset in window[:-2]:
        if offset >= common:
            found = bisect_left(old, offset - shift)
            if found < len(old) and old[found] == offset - shift:
                return offset
    return None


def _references(text: str, low: int, high: int) -> dict[str, Any]:
    """The link reference definitions of the blocks of ``text[low:high]`` (a block start)."""
    if "]:" not in text[low:high]:
        return {}
    env: dict[str, Any] = {}
    _BLOCKS.parse("\n".join(_split_lines(text[low:high])), env)
    return dict(env.get("references", {}))


def _common_prefix(a: str, b: str) -> int:
    """The length of the common prefix of ``a`` and ``b`` (comparing slices: C speed)."""
    low, high = 0, min(len(a), len(b))
    step = 4096
    while low + step <= high and a[low : low + step] == b[low : low + step]:
        low += step
        step *= 2
    while step > 1:
        step //= 2
        if low + step <= high and a[low : low + step] == b[low : low + step]:
            low += step
    while low < high and a[low] == b[low]:
        low += 1
    return low


def _common_suffix(a: str, b: str, limit: int) -> int:
    """The length of the common suffix of ``a`` and ``b``, at most ``limit``."""
    size = 0
    step = 4096
    while (
        size + step <= limit
        and a[len(a) - size - step : len(a) - size] == b[len(b) - size - step : len(b) - size]
    ):
        size += step
        step *= 2
    while step > 1:
        step //= 2
        if (
            size + step <= limit
            and a[len(a) - size - step : len(a) - size] == b[len(b) - size - step : len(b) - size]
        ):
            size += step
    while size < limit and a[len(a) - 1 - size] == b[len(b) - 1 - size]:
        size += 1
    return size


def _line_breaks(text: str, start: int, end: int) -> int:
    """How many line breaks ``text[start:end]`` holds (``\r\n``, ``\r`` or ``\n``)."""
    return (
        text.count("\n", start, end) + text.count("\r", start, end) - text.count("\r\n", start, end)
    )


def _front_matter(source: list[str]) -> int:
    """The number of lines of a YAML front matter block at the top, or 0."""
    if not source or not _FRONT_MATTER_OPEN.fullmatch(source[0]):
        return 0
    for index in range(1, len(source)):
        if _FRONT_MATTER_CLOSE.fullmatch(source[index]):
            return index + 1
    return 0


def _top_level(tokens: list[Token]) -> Iterator[tuple[int, int]]:
    """The first and last token index of each top-level block."""
    index = 0
    while index < len(tokens):
        token = tokens[index]
        if token.nesting == 1:
            end = index + 1
            while not (tokens[end].level == 0 and tokens[end].nesting == -1):
                end += 1
            yield index, end
            index = end + 1
        else:
            yield index, index
            index += 1


def _uncovered(
    source: list[str], first: int, last: int, span: Callable[[int, int], tuple[int, int]]
) -> Iterator[_Candidate]:
    """Verbatim blocks for non-blank lines no token covers (link reference definitions)."""
    line = first
    while line < last:
        if not source[line].strip():
            line += 1
            continue
        end = line
        while end < last and source[end].strip():
            end += 1
        yield _Candidate(*span(line, end), None, isolated=True)
        line = end


def _forced_verbatim(token: Token, block: str) -> bool:
    if token.type in _ALWAYS_VERBATIM:
        return True
    if token.type == "fence" and token.info.strip().split(" ")[0] == VERBATIM:
        return True
    return bool(_FOOTNOTE.search(block) or _MATH.search(block))


def _html_of(tokens: Sequence[Token], env: dict[str, Any]) -> str:
    return str(_CHECK.renderer.render(tokens, _CHECK.options, env))


def _faithful_ops(tokens: list[Token], env: dict[str, Any], source: str) -> list[Op] | None:
    """The block's ops if rendering them back reads exactly like the block, else None."""
    ops = _tokens_to_ops(tokens)
    if not ops:
        return None
    written = delta_to_markdown(ops)
    if written == source + "\n":
        return ops  # written back as it was: it reads the same (no need to parse it again)
    again = _CHECK.parse(written, _scratch(env))  # what it defines is not the file's
    if _html_of(again, env) != _html_of(tokens, env) or _tokens_to_ops(again) != ops:
        return None
    return ops


def _check_neighbours(candidates: list[_Candidate], text: str, env: dict[str, Any]) -> None:
    """Make blocks verbatim where writing them next to each other would join them (two lists
    that the delta cannot tell apart, a raw list next to a rendered one)."""
    index = 1
    while index < len(candidates):
        left, right = candidates[index - 1], candidates[index]
        if (
            left.isolated
            or right.isolated
            or left.kind != right.kind
            or left.kind not in _MERGING
            or (left.ops is None and right.ops is None)
        ):
            index += 1
            continue
        pieces = [_markdown_piece(c, text) for c in (left, right)]
        if left.ops is not None and right.ops is not None:
            joined = delta_to_markdown(left.ops + right.ops)
        else:
            joined = pieces[0] + "\n\n" + pieces[1]
        apart = "".join(_html_of(_CHECK.parse(piece, env), env) for piece in pieces)
        if _html_of(_CHECK.parse(joined, env), env) == apart:
            index += 1
        elif right.ops is not None:
            right.ops = None
        else:
            left.ops = None
            index = max(1, index - 1)


def _markdown_piece(candidate: _Candidate, text: str) -> str:
    if candidate.ops is None:
        return text[candidate.start : candidate.end]
    return delta_to_markdown(candidate.ops)


# --------------------------------------------------------------------------------------------
# HTML

_VOID = frozenset(
    {
        "area", "base", "br", "col", "embed", "hr", "img", "input", "link", "meta", "param",
        "source", "track", "wbr",
    }
)  # fmt: skip
_TRANSPARENT = frozenset({"html", "body"})
"""Containers whose tags are verbatim blocks of their own, their children blocks."""
_RICH_BLOCKS = frozenset({"p", "h1", "h2", "h3", "h4", "h5", "h6", "ul", "ol", "blockquote", "pre"})
_MARK_TAGS = {
    "strong": "bold",
    "b": "bold",
    "em": "italic",
    "i": "italic",
    "u": "underline",
    "s": "strike",
    "del": "strike",
    "strike": "strike",
    "code": "code",
}
_ALLOWED_TAGS = _RICH_BLOCKS | set(_MARK_TAGS) | {"a", "img", "br", "li"}
_ALLOWED_ATTRIBUTES = {
    "a": {"href"},
    "img": {"src", "alt", "width", "height"},
    "li": {"data-list"},
    "pre": {"data-language"},
}
_SPACE = re.compile(r"[ \t\n\r\f]+")


@dataclass
class _Element:
    tag: str
    attrs: list[tuple[str, str | None]]
    start: int
    end: int = -1
    children: list[_Element | str] = field(default_factory=list)


class _Reader(HTMLParser):
    """Builds an element tree with source offsets (the tokenizer is the standard library's)."""

    def __init__(self, text: str) -> None:
        super().__init__(convert_charrefs=True)
        self.text = text
        self.line_starts = [0] + [m.end() for m in re.finditer("\n", text)]
        self.root = _Element("#root", [], 0)
        self.stack = [self.root]
        self.items: list[tuple[str, int, Any]] = []  # (kind, start, payload) at depth 0

    def position(self) -> int:
        line, column = self.getpos()
        return self.line_starts[line - 1] + column

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        start = self.position()
        element = _Element(tag, attrs, start, start + len(self.get_starttag_text() or ""))
        if len(self.stack) == 1 and tag in _TRANSPARENT:
            self.items.append(("verbatim", start, element.end))
            return
        self.stack[-1].children.append(element)
        if len(self.stack) == 1:
            self.items.append(("element", start, element))
        if tag not in _VOID:
            self.stack.append(element)

    def handle_startendtag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        self.handle_starttag(tag, attrs)
        if tag not in _VOID and self.stack[-1].tag == tag and len(self.stack) > 1:
            self.stack.pop()

    def handle_endtag(self, tag: str) -> None:
        start = self.position()
        close = self.text.find(">", start)
        end = len(self.text) if close < 0 else close + 1
        for depth in range(len(self.stack) - 1, 0, -1):
            if self.stack[depth].tag == tag:
                for element in self.stack[depth:]:
                    element.end = end
                del self.stack[depth:]
                return
        if len(self.stack) == 1:
            self.items.append(("verbatim", start, end))  # </body>, </html> or a stray end tag

    def handle_data(self, data: str) -> None:
        start = self.position()
        if len(self.stack) > 1:
            self.stack[-1].children.append(data)
            return
        stripped = data.strip(" \t\n\r\f")
        if stripped:
            lead = self.text.find(stripped[:1], start)
            self.items.append(("text", lead, len(stripped)))

    def _other(self) -> None:
        if len(self.stack) == 1:
            self.items.append(("other", self.position(), None))

    def handle_comment(self, data: str) -> None:
        self._other()

    def handle_decl(self, decl: str) -> None:
        self._other()

    def handle_pi(self, data: str) -> None:
        self._other()

    def unknown_decl(self, data: str) -> None:
        self._other()


def _read_html(text: str) -> _Reader:
    reader = _Reader(text)
    reader.feed(text)
    reader.close()
    for element in reader.stack[1:]:
        element.end = len(text)
    return reader


def _html_blocks(text: str) -> list[_Candidate]:
    reader = _read_html(text)
    candidates: list[_Candidate] = []
    items = reader.items
    for index, (kind, start, payload) in enumerate(items):
        if kind == "element":
            element: _Element = payload
            end = element.end
            candidate = _Candidate(start, end, None, "")
            if element.tag in _RICH_BLOCKS:
                candidate.ops = _faithful_html(element, text[start:end])
                candidate.kind = _html_kind(element.tag)
        elif kind == "verbatim":
            candidate = _Candidate(start, payload, None)
        elif kind == "text":
            candidate = _Candidate(start, start + payload, None)
        else:  # a comment, doctype or processing instruction: up to the next item
            following = items[index + 1][1] if index + 1 < len(items) else len(text)
            end = start + len(text[start:following].rstrip(" \t\n\r\f"))
            candidate = _Candidate(start, end, None)
        candidates.append(candidate)
    # Two neighbouring lists or code blocks would become one in the delta.
    for left, right in pairwise(candidates):
        if left.ops is not None and right.ops is not None and left.kind == right.kind != "":
            right.ops = None
    return candidates


def _html_kind(tag: str) -> str:
    return {"ul": "list", "ol": "list", "pre": "code"}.get(tag, "")


def _faithful_html(element: _Element, source: str) -> list[Op] | None:
    """The element's ops if their HTML reads as the element does (and sanitising the element
    changes nothing), else None."""
    ops = _element_ops(element)
    if not ops:
        return None
    expected = _normal([element])
    if _normal(_read_html(delta_to_html(ops)).root.children) != expected:
        return None
    cleaned = nh3.clean(
        source,
        tags=set(_ALLOWED_TAGS),
        attributes={tag: set(names) for tag, names in _ALLOWED_ATTRIBUTES.items()},
        link_rel=None,
        strip_comments=True,
    )
    if _normal(_read_html(cleaned).root.children) != expected:
        return None
    return ops


def _normal(nodes: Sequence[_Element | str]) -> Any:
    """A comparable form of HTML content: text runs with their inline marks, other elements
    with their sorted attributes; whitespace collapsed as a browser lays it out."""
    out: list[Any] = []
    _normal_into(nodes, (), out, pre=False)
    return _squeeze(out)


def _normal_into(
    nodes: Sequence[_Element | str], marks: tuple[Any, ...], out: list[Any], *, pre: bool
) -> None:
    for node in nodes:
        if isinstance(node, str):
            out.append(("pre", node, marks) if pre else ("text", _SPACE.sub(" ", node), marks))
            continue
        tag, attrs = node.tag, dict(node.attrs)
        if tag in _MARK_TAGS and not attrs:
            mark = _MARK_TAGS[tag]
            _normal_into(node.children, tuple(sorted({*marks, mark}, key=repr)), out, pre=pre)
        elif (
            tag == "a"
            and set(attrs) <= {"href", "rel"}
            and attrs.get("rel")
            in (
                None,
                "noopener noreferrer",
            )
        ):
            link = ("link", attrs.get("href"))
            _normal_into(node.children, tuple(sorted({*marks, link}, key=repr)), out, pre=pre)
        elif tag == "br":
            out.append(("br", marks))
        else:
            if tag == "img":
                attrs.setdefault("alt", "")
            children: list[Any] = []
            inner_pre = pre or tag == "pre"
            content = node.children
            if tag == "pre":
                if len(content) == 1 and isinstance(content[0], _Element):
                    code = content[0]
                    if code.tag == "code" and not code.attrs:
                        content = code.children
                if content and isinstance(content[0], str) and content[0].startswith("\n"):
                    content = [content[0][1:], *content[1:]]
            _normal_into(content, marks if tag not in _RICH_BLOCKS else (), children, pre=inner_pre)
            if tag in ("p", "h1", "h2", "h3", "h4", "h5", "h6", "li", "blockquote"):
                children = _strip_edges(children)
            out.append((tag, tuple(sorted(attrs.items(), key=repr)), _squeeze(children)))


def _strip_edges(items: list[Any]) -> list[Any]:
    """Block content without whitespace at its edges, or a lone ``<br>`` (an empty line)."""
    squeezed = _squeeze(items)
    if squeezed and squeezed[0][0] == "text":
        squeezed[0] = ("text", squeezed[0][1].lstrip(" "), squeezed[0][2])
    if squeezed and squeezed[-1][0] == "text":
        squeezed[-1] = ("text", squeezed[-1][1].rstrip(" "), squeezed[-1][2])
    squeezed = [item for item in squeezed if item[0] != "text" or item[1]]
    if len(squeezed) == 1 and squeezed[0][0] == "br":
        return []
    return squeezed


def _squeeze(items: list[Any]) -> list[Any]:
    """Join neighbouring text runs with the same marks; drop whitespace between blocks."""
    out: list[Any] = []
    for item in items:
        if item[0] in ("text", "pre") and out and out[-1][0] == item[0] and out[-1][2] == item[2]:
            out[-1] = (item[0], out[-1][1] + item[1], item[2])
        else:
            out.append(item)
    blocks = [item for item in out if item[0] not in ("text", "br")]
    if blocks and all(item[0] != "text" or not item[1].strip() for item in out):
        return blocks
    return [
        ("text", re.sub("  +", " ", item[1]), item[2]) if item[0] == "text" else item
        for item in out
    ]


def _element_ops(element: _Element) -> list[Op]:
    """The element read as Quill lines (unsupported tags are read for their text; the
    faithfulness check then refuses the block)."""
    ops: list[Op] = []
    tag = element.tag
    if tag in ("ul", "ol"):
        _list_ops(element, 0, ops)
    elif tag == "pre":
        language = dict(element.attrs).get("data-language") or "plain"
        content = element.children
        if len(content) == 1 and isinstance(content[0], _Element) and content[0].tag == "code":
            content = content[0].children
        code = "".join(_text_of(node) for node in content)
        code = code.removeprefix("\n")
        for code_line in code.split("\n"):
            push(ops, code_line, None)
            push(ops, "\n", {"code-block": language})
    else:
        attrs: dict[str, Any] = {}
        if tag.startswith("h"):
            attrs["header"] = int(tag[1:])
        elif tag == "blockquote":
            attrs["blockquote"] = True
        _inline_line(element.children, attrs, ops)
    return ops


def _text_of(node: _Element | str) -> str:
    if isinstance(node, str):
        return node
    return "".join(_text_of(child) for child in node.children)


def _list_ops(element: _Element, level: int, ops: list[Op]) -> None:
    kind = "ordered" if element.tag == "ol" else "bullet"
    for item in element.children:
        if not isinstance(item, _Element) or item.tag != "li":
            continue
        inline = [c for c in item.children if isinstance(c, str) or c.tag not in ("ul", "ol")]
        data = dict(item.attrs).get("data-list")
        attrs: dict[str, Any] = {
            "list": data if kind == "bullet" and data in ("checked", "unchecked") else kind
        }
        if level:
            attrs["indent"] = level
        _inline_line(inline, attrs, ops)
        for child in item.children:
            if isinstance(child, _Element) and child.tag in ("ul", "ol"):
                _list_ops(child, level + 1, ops)


def _inline_line(nodes: Sequence[_Element | str], block: dict[str, Any], ops: list[Op]) -> None:
    """One or more lines (a ``<br>`` ends one) of inline content, whitespace collapsed."""
    segments: list[tuple[str | dict[str, Any], dict[str, Any]]] = []
    _inline_segments(nodes, {}, segments)
    line: list[tuple[str | dict[str, Any], dict[str, Any]]] = []
    for segment in [*segments, ("\n", {})]:
        if segment[0] != "\n":
            line.append(segment)
            continue
        texts = _collapse(line)
        for value, attrs in texts:
            push(ops, value, attrs)
        push(ops, "\n", block)
        line = []


def _collapse(
    segments: list[tuple[str | dict[str, Any], dict[str, Any]]],
) -> list[tuple[str | dict[str, Any], dict[str, Any]]]:
    out: list[tuple[str | dict[str, Any], dict[str, Any]]] = []
    space = True  # at the start of a line, whitespace is dropped
    for value, attrs in segments:
        if isinstance(value, dict):
            out.append((value, attrs))
            space = False
            continue
        text = _SPACE.sub(" ", value)
        if space:
            text = text.lstrip(" ")
        if text:
            space = text.endswith(" ")
            out.append((text, attrs))
    while out and isinstance(out[-1][0], str) and out[-1][0].endswith(" "):
        value, attrs = out.pop()
        text = str(value).rstrip(" ")
        if text:
            out.append((text, attrs))
            break
    return out


def _inline_segments(
    nodes: Sequence[_Element | str],
    attrs: dict[str, Any],
    out: list[tuple[str | dict[str, Any], dict[str, Any]]],
) -> None:
    for node in nodes:
        if isinstance(node, str):
            out.append((node, attrs))
            continue
        tag, element_attrs = node.tag, dict(node.attrs)
        if tag == "br":
            out.append(("\n", {}))
        elif tag == "img":
            embed_attrs = dict(attrs)
            for name in ("alt", "width", "height"):
                value = element_attrs.get(name)
                if value is not None and (name == "alt" or value):
                    embed_attrs[name] = value
            out.append(({"image": element_attrs.get("src") or ""}, embed_attrs))
        elif tag == "a":
            _inline_segments(node.children, {**attrs, "link": element_attrs.get("href") or ""}, out)
        elif tag in _MARK_TAGS:
            _inline_segments(node.children, {**attrs, _MARK_TAGS[tag]: True}, out)
        else:
            _inline_segments(node.children, attrs, out)
