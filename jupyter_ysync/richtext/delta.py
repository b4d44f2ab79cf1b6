"""The Quill delta vocabulary: ops, attributes, line formats and the line model.

Pure data over lists of Quill ops (``{"insert": ..., "attributes": {...}}``); nothing here knows
about pycrdt. A document is a sequence of lines: inline content (strings and embeds with inline
attributes such as ``bold`` or ``link``) ended by a ``"\\n"`` whose attributes are the line's
formats (:data:`BLOCK_FORMATS`: ``header``, ``list``, ``blockquote``, ``code-block``, ...).
:mod:`.html` and :mod:`.markdown` render documents line by line with :func:`lines`.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from typing import Any, TypeAlias

__all__ = [
    "BLOCK_FORMATS",
    "Attributes",
    "Line",
    "Op",
    "header_level",
    "indent",
    "line_kind",
    "lines",
    "push",
]

Attributes: TypeAlias = dict[str, Any]
Op: TypeAlias = dict[str, Any]

BLOCK_FORMATS = frozenset(
    {"header", "list", "blockquote", "code-block", "align", "direction", "indent"}
)
"""Quill 2's line formats: they belong on the ``"\\n"`` that ends a line."""


def push(ops: list[Op], value: str | dict[str, Any], attrs: Mapping[str, Any] | None) -> None:
    """Append an insert op to ``ops``, merged into the last one as Quill's ``Delta.push`` does.

    Two string inserts with equal attributes merge; empty strings are skipped; attributes are
    omitted when empty.
    """
    if value == "":
        return
    op: Op = {"insert": value}
    if attrs:
        op["attributes"] = dict(attrs)
    if ops:
        last = ops[-1]
        if (
            isinstance(value, str)
            and isinstance(last.get("insert"), str)
            and last.get("attributes") == op.get("attributes")
        ):
            last["insert"] += value
            return
    ops.append(op)


@dataclass
class Line:
    """One line: inline segments and the attributes of the newline that ends it."""

    segments: list[tuple[str | dict[str, Any], Attributes]] = field(default_factory=list)
    attrs: Attributes = field(default_factory=dict)

    @property
    def empty(self) -> bool:
        return not self.segments

    @property
    def plain_text(self) -> str:
        """The line's text without its embeds."""
        return "".join(value for value, _ in self.segments if isinstance(value, str))


def lines(ops: Iterable[Op]) -> list[Line]:
    """Split insert ops into lines; a last line without its newline is kept."""
    found: list[Line] = []
    line = Line()
    for op in ops:
        value = op.get("insert")
        attrs = op.get("attributes") or {}
        if isinstance(value, dict):
            line.segments.append((value, attrs))
            continue
        if not isinstance(value, str):
            continue
        first, *rest = value.split("\n")
        if first:
            line.segments.append((first, attrs))
        for part in rest:
            line.attrs = {k: v for k, v in attrs.items() if k in BLOCK_FORMATS}
            found.append(line)
            line = Line()
            if part:
                line.segments.append((part, attrs))
    if line.segments:
        found.append(line)
    return found


def line_kind(attrs: Attributes) -> str:
    """The block a line renders as, by Quill's precedence: code, header, list, quote, paragraph."""
    if attrs.get("code-block"):
        return "code"
    if header_level(attrs) is not None:
        return "header"
    if attrs.get("list") in ("bullet", "ordered", "checked", "unchecked"):
        return "list"
    if attrs.get("blockquote"):
        return "quote"
    return "paragraph"


def header_level(attrs: Attributes) -> int | None:
    """The line's header level, 1-6, or None when it is not a (valid) header."""
    level = attrs.get("header")
    if isinstance(level, bool) or not isinstance(level, int | float):
        return None
    return int(level) if level == int(level) and 1 <= level <= 6 else None


def indent(attrs: Attributes) -> int:
    """The line's list nesting level, 0-8."""
    level = attrs.get("indent")
    if isinstance(level, bool) or not isinstance(level, int | float):
        return 0
    return max(0, min(int(level), 8))
