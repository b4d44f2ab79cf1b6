"""Reading Markdown files into blocks for :mod:`.lossless` (markdown-it-py).

Each top-level block is converted to ops and kept as rich text only if markdown-it renders its
conversion exactly as the original; what a change leaves untouched is not read again.
"""

from __future__ import annotations

import re
from bisect import bisect_left, bisect_right
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass
from typing import Any

from markdown_it import MarkdownIt
from markdown_it.rules_core import inline as _core_inline
from markdown_it.rules_core import text_join as _text_join
from markdown_it.rules_core.state_core import StateCore
from markdown_it.token import Token

from ._blocks import (
    _LINE_BREAK,
    _MERGING,
    VERBATIM,
    Parsed,
    _Candidate,
    _shape,
    _split_lines,
)
from .delta import Op
from .markdown import _tokens_to_ops, delta_to_markdown

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
