"""The delta interpreter: Quill ops written into pycrdt's native text, formats routed as Quill
keeps them (line formats on the ``"\\n"`` that ends a line, inline formats on the rest)."""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from ._units import _Content, _size
from ._validate import _line_format_error, _op_error, _ParsedOp
from .delta import BLOCK_FORMATS, Attributes

_NEWLINES = re.compile(r"(\n+)")
_NO_ATTRIBUTES: tuple[()] = ()


def _split(attrs: Mapping[str, Any]) -> tuple[Attributes, Attributes, Attributes]:
    """Split attributes into (inline to set, line formats to set, names to remove)."""
    inline: Attributes = {}
    block: Attributes = {}
    removed: Attributes = {}
    for key, value in attrs.items():
        if value is None:
            removed[key] = None
        elif key in BLOCK_FORMATS:
            block[key] = value
        else:
            inline[key] = value
    return inline, block, removed


@dataclass
class _Cursor:
    """Where a delta run stands in the text."""

    content: _Content
    """The text not passed yet (the run takes from it as it moves on)."""
    size: int
    """The text's length now, in RichText units."""
    ends_with_newline: bool
    """The text now ends with a newline (else the editor shows one more)."""
    index: int = 0
    """RichText units."""
    offset: int = 0
    """pycrdt units."""
    before_newline: bool = False
    """The unit before ``index`` is a newline."""
    end: int | None = None
    """Where the last change ended, None until one is made."""

    def take(self, count: int) -> tuple[int, list[str | None]]:
        """Check that ``count`` units from here stay in the document; take those stored.

        Returns how many units are stored (the rest is the editor's final newline) and them.
        """
        view = self.size + (0 if self.ends_with_newline else 1)
        if self.index + count > view:
            raise ValueError(
                f"it reaches {self.index + count}, past the end of the document ({view} long "
                "here, the editor's final newline included)"
            )
        inside = min(count, self.size - self.index)
        return inside, self.content.take(inside)

    def inserted(self, length: int, added: int, newline: bool) -> None:
        """``length`` units (``added`` pycrdt units) went in here, ending with a newline or not."""
        if self.index == self.size:
            self.ends_with_newline = newline
        self.before_newline = newline
        self.index += length
        self.size += length
        self.offset += added
        self.end = self.index


class _Engine:
    """Writes into pycrdt's native text within one open transaction.

    Args:
        text: the native text (``pycrdt.Text.integrated``).
        native: the open transaction's native handle (``Transaction._txn``).
        dry_run: check everything, write nothing (how ``apply_delta`` stays all-or-nothing).
    """

    __slots__ = ("dry_run", "native", "text")

    def __init__(self, text: Any, native: Any, *, dry_run: bool = False) -> None:
        self.text = text
        self.native = native
        self.dry_run = dry_run

    def run(self, content: _Content, ops: list[_ParsedOp]) -> int | None:
        """Run parsed ops from the start of ``content``.

        Returns the index where the last change ended, or None if nothing changed.

        Raises:
            ValueError: an op does not fit; the message names it.
        """
        cursor = _Cursor(content, content.size, content.ends_with_newline)
        for number, (kind, value, attrs) in enumerate(ops):
            try:
                if kind == "insert":
                    self._insert(cursor, value, attrs or {})
                elif kind == "retain":
                    self._retain(cursor, value, attrs or {})
                else:
                    self._delete(cursor, value)
            except ValueError as error:
                raise _op_error(number, ops, error) from None
        return cursor.end

    def check(self, content: _Content, ops: list[_ParsedOp]) -> None:
        """Raise what :meth:`run` would raise, writing nothing."""
        _Engine(self.text, self.native, dry_run=True).run(content, ops)

    # -- one method per op kind --------------------------------------------------------------

    def _insert(self, cursor: _Cursor, value: str | dict[str, Any], attrs: Attributes) -> None:
        if isinstance(value, str):
            added = self.insert_text(cursor.offset, value, attrs)
            cursor.inserted(len(value), added, value.endswith("\n"))
            return
        inline, block, _ = _split(attrs)
        if block:
            raise ValueError(f"line formats {sorted(block)} cannot apply to an embed")
        if not self.dry_run:
            self.text.insert_embed(self.native, cursor.offset, value, iter(inline.items()))
        cursor.inserted(1, 1, False)

    def _retain(self, cursor: _Cursor, count: int, attrs: Attributes) -> None:
        inside, pieces = cursor.take(count)
        if inside:
            last = pieces[-1]
            cursor.before_newline = last is not None and last.endswith("\n")
            if attrs:
                self._format_checked(cursor.offset, pieces, attrs, whole=inside == count)
        cursor.offset += _size(pieces)
        cursor.index += inside
        if not attrs:
            return
        if count > inside:  # the editor's final newline, stored as Yjs does
            _, block, _ = _split(attrs)
            if not self.dry_run:
                self.text.insert(self.native, cursor.offset, "\n", iter(block.items()))
            cursor.offset += 1
            cursor.index += 1
            cursor.size += 1
            cursor.ends_with_newline = cursor.before_newline = True
        cursor.end = cursor.index

    def _delete(self, cursor: _Cursor, count: int) -> None:
        inside, pieces = cursor.take(count)
        if inside and not self.dry_run:
            self.text.remove_range(self.native, cursor.offset, _size(pieces))
        cursor.size -= inside
        if cursor.index == cursor.size:
            cursor.ends_with_newline = cursor.index > 0 and cursor.before_newline
        if inside:
            cursor.end = cursor.index

    # -- writes --------------------------------------------------------------------------------

    def insert_text(self, offset: int, text: str, attrs: Attributes | None) -> int:
        """Insert with attributes routed as Quill keeps them; returns the pycrdt length.

        Raises:
            _LineFormatError: a line format and no newline in ``text`` to hold it.
        """
        if not attrs:
            if not self.dry_run:
                self.text.insert(self.native, offset, text, iter(_NO_ATTRIBUTES))
            return len(text.encode())
        inline, block, _ = _split(attrs)
        if "\n" not in text:
            if block:
                raise _line_format_error(block)
            if not self.dry_run:
                self.text.insert(self.native, offset, text, iter(inline.items()))
            return len(text.encode())
        if self.dry_run:
            return len(text.encode())
        start = offset
        for part in _NEWLINES.split(text):
            if part:
                chosen = block if part[0] == "\n" else inline
                self.text.insert(self.native, offset, part, iter(chosen.items()))
                offset += len(part.encode())
        return offset - start

    def _format_checked(
        self, offset: int, pieces: list[str | None], attrs: Attributes, *, whole: bool
    ) -> None:
        """Format ``pieces``, refusing line formats when they hold no newline and ``whole``
        (the range does not reach the editor's final newline)."""
        _, block, _ = _split(attrs)
        if block and whole and not any(piece is not None and "\n" in piece for piece in pieces):
            raise _line_format_error(block)
        if not self.dry_run:
            self.format(offset, pieces, attrs)

    def format(self, offset: int, pieces: list[str | None], attrs: Attributes) -> None:
        """Format pieces starting at ``offset``: inline formats on text and embeds, line
        formats on newlines, removals everywhere."""
        inline, block, removed = _split(attrs)
        runs: list[tuple[bool, int]] = []  # (newlines?, pycrdt length)
        for piece in pieces:
            if piece is None:
                runs.append((False, 1))
                continue
            for part in _NEWLINES.split(piece):
                if part:
                    runs.append((part[0] == "\n", len(part.encode())))
        if not (inline or block):
            total = sum(size for _, size in runs)
            self.text.format(self.native, offset, total, iter(removed.items()))
            return
        for newline, size in runs:
            chosen = {**(block if newline else inline), **removed}
            if chosen:
                self.text.format(self.native, offset, size, iter(chosen.items()))
            offset += size
