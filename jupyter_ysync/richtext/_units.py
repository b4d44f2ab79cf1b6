"""RichText units and pycrdt offsets, and the conversions between them.

A RichText index counts Python characters (code points) and 1 per embed, as ``str(rich)``
shows them. pycrdt 0.14 counts UTF-8 bytes and 1 per embed. Quill counts UTF-16 code units;
the three agree while the text is ASCII, which :class:`_Offsets` keeps track of so that
RichText can skip the conversion.
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

import pycrdt

from ..protocol import ROOT_TEXT

EMBED_CHARACTER = "\ufffc"
"""Stands for an embed in ``str(rich_text)`` (U+FFFC OBJECT REPLACEMENT CHARACTER)."""


class _Offsets:
    """What RichText knows about the text's pycrdt offsets, kept current by an observer.

    ``ascii`` means that when the text had ``size`` pycrdt units, every character was ASCII,
    so a RichText index is also a pycrdt offset. RichText keeps both current through its own
    writes, and sets ``own`` when it writes. At the end of each transaction the observer
    trusts them if RichText wrote last (``own``, and the text still has ``size`` units);
    otherwise (remote updates, undo, raw pycrdt writes) it reads the transaction's delta and
    clears ``ascii`` if anything but ASCII text was inserted. Reading a delta costs time
    proportional to the text, so RichText's own writes never pay it.
    """

    __slots__ = ("ascii", "own", "size", "text")

    def __init__(self, text: Any) -> None:
        self.ascii = False
        self.own = False
        self.size = -1
        self.text = text  # the integrated (native) text

    def fits(self, size: int) -> bool:
        """Whether RichText indices are pycrdt offsets in a text of ``size`` pycrdt units."""
        return self.ascii and self.size == size

    def direct(self, size: int, index: object, length: object = 0) -> bool:
        """The fast path: whether ``index`` and ``length`` are plain ints that are also the
        pycrdt offsets of a range inside the text, now ``size`` pycrdt units long."""
        return (
            self.ascii
            and self.size == size
            and type(index) is int
            and type(length) is int
            and index >= 0
            and length >= 0
            and index + length <= size
        )

    def wrote(self, all_ascii: bool, size: int, *, own: bool = True) -> None:
        """RichText just wrote (``own``): the text is now ``size`` units, all ASCII or not."""
        self.ascii = all_ascii
        self.size = size
        self.own = own

    def read(self, native: Any) -> _Content:
        """The text's content in the transaction ``native``, noting whether it is all ASCII."""
        content = _Content(self.text.diff(native))
        if content.ascii:
            self.ascii = True
            self.size = content.size
        return content

    def invalidate(self, event: Any) -> None:
        """The text's observer: forget ``ascii`` if someone else inserted anything else."""
        own, self.own = self.own, False
        if not self.ascii or (own and self.text.len(event.transaction) == self.size):
            return
        for op in event.delta:
            inserted = op.get("insert")
            if inserted is not None and not (isinstance(inserted, str) and inserted.isascii()):
                self.ascii = False
                return


class _Content:
    """The text's chunks, walked left to right in RichText units.

    ``take(n)`` consumes ``n`` units and returns them as strings and ``None`` (one per embed);
    :func:`_size` gives their pycrdt length.
    """

    __slots__ = ("_chunk", "_chunks", "_offset", "ascii", "ends_with_newline", "size")

    def __init__(self, chunks: list[tuple[Any, Any]]) -> None:
        self._chunks = chunks
        self._chunk = 0
        self._offset = 0
        self.size = 0
        self.ascii = True
        for value, _ in chunks:
            if isinstance(value, str):
                self.size += len(value)
                self.ascii = self.ascii and value.isascii()
            else:
                self.size += 1
        last = chunks[-1][0] if chunks else None
        self.ends_with_newline = isinstance(last, str) and last.endswith("\n")

    def again(self) -> _Content:
        """The same content from its start (for a dry run before the real one)."""
        return _Content(self._chunks)

    def take(self, count: int) -> list[str | None]:
        pieces: list[str | None] = []
        while count > 0:
            value = self._chunks[self._chunk][0]
            if isinstance(value, str):
                piece = value[self._offset : self._offset + count]
                pieces.append(piece)
                count -= len(piece)
                self._offset += len(piece)
                if self._offset < len(value):
                    continue
            else:
                pieces.append(None)
                count -= 1
            self._chunk += 1
            self._offset = 0
        return pieces


def _size(pieces: Iterable[str | None]) -> int:
    """pycrdt length of pieces: UTF-8 bytes of text, 1 per embed."""
    return sum(1 if piece is None else len(piece.encode()) for piece in pieces)


def _index_at(chunks: Iterable[tuple[Any, Any]], offset: int) -> int:
    """The RichText index of pycrdt ``offset`` in the text made of ``chunks``."""
    index = 0
    for value, _ in chunks:
        if offset <= 0:
            break
        if not isinstance(value, str):
            index += 1
            offset -= 1
            continue
        encoded = value.encode()
        if len(encoded) <= offset:
            index += len(value)
            offset -= len(encoded)
        else:
            index += len(encoded[:offset].decode(errors="ignore"))
            offset = 0
    return index


def units_of(text: pycrdt.Text) -> str:
    """The text in RichText units: each embed is one :data:`EMBED_CHARACTER`."""
    return "".join(v if isinstance(v, str) else EMBED_CHARACTER for v, _ in text.diff())


def to_units(ops: list[dict[str, Any]], before: str) -> tuple[list[dict[str, Any]], str]:
    """Convert a pycrdt text delta (UTF-8 byte counts) to RichText units, as Quill counts.

    Args:
        ops: the delta of a ``TextEvent``.
        before: the text before the change, in RichText units (see :func:`units_of`).

    Returns:
        The converted delta and the text after the change.
    """
    converted: list[dict[str, Any]] = []
    after: list[str] = []
    position = 0
    for op in ops:
        if "insert" in op:
            value = op["insert"]
            after.append(value if isinstance(value, str) else EMBED_CHARACTER)
            converted.append(op)
            continue
        key = "retain" if "retain" in op else "delete"
        count = _take(before, position, op[key])
        if key == "retain":
            after.append(before[position : position + count])
        converted.append({**op, key: count})
        position += count
    after.append(before[position:])
    return converted, "".join(after)


def _take(units: str, start: int, size: int) -> int:
    """How many units from ``start`` make ``size`` pycrdt offsets (UTF-8 bytes, 1 per embed)."""
    count = 0
    while size > 0:
        unit = units[start + count]
        size -= 1 if unit == EMBED_CHARACTER else len(unit.encode())
        count += 1
    return count


def _relative_position(item: Any) -> dict[str, Any]:
    """A Yjs ``RelativePosition`` as JSON, as y-quill reads it: before ``item``, or at the end
    of the root text when ``item`` is None (Yjs then names the root type and no item)."""
    return {"type": None, "tname": ROOT_TEXT, "item": item, "assoc": 0}
