"""What :mod:`.lossless` and its readers share: the block model of a parsed file."""

from __future__ import annotations

import re
from collections.abc import Iterator
from dataclasses import dataclass, field
from itertools import groupby
from typing import TYPE_CHECKING, Literal, TypeAlias

from .delta import Op, line_kind, lines

if TYPE_CHECKING:
    from ._markdown_source import _Read

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


def _shape(ops: list[Op]) -> tuple[int, str, str]:
    """How many lines rich ops make, and the kinds of the first and the last."""
    block_lines = lines(ops)
    return len(block_lines), line_kind(block_lines[0].attrs), line_kind(block_lines[-1].attrs)


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
