"""RichText: a pycrdt ``Text`` read and written as Quill 2 (bound with y-quill) sees it.

Indices count Python characters (code points) and 1 per embed, so ``str(rich)[i]`` is the
character at index ``i``. Quill counts UTF-16 code units: the two differ only after characters
outside the Basic Multilingual Plane (emoji). pycrdt 0.14 itself counts UTF-8 bytes; RichText
converts, taking a fast path while the text is ASCII.

Formats follow Quill: *line formats* (:data:`~jupyter_ysync.delta_formats.BLOCK_FORMATS`:
``header``, ``list``, ``blockquote``, ``code-block``, ``align``, ...) belong on the ``"\\n"``
that ends a line, *inline formats* (``bold``, ``link``, ``color``, ...) on the other characters
and on embeds. Writes put each attribute where Quill would, so ``insert(0, "Title\\n",
{"header": 1})`` makes one header line, as in the editor.
"""

from __future__ import annotations

import math
import operator
import re
from collections.abc import Callable, Iterable, Mapping, Sequence
from contextlib import AbstractContextManager
from typing import Any, Protocol, SupportsIndex

import pycrdt

from .delta_formats import (
    BLOCK_FORMATS,
    Attributes,
    Op,
    delta_to_html,
    delta_to_markdown,
    markdown_to_delta,
    push,
)

__all__ = ["EMBED_CHARACTER", "RichText", "TextHost"]

EMBED_CHARACTER = "\ufffc"
"""Stands for an embed in ``str(rich_text)`` (U+FFFC OBJECT REPLACEMENT CHARACTER)."""

_NEWLINES = re.compile(r"(\n+)")
_NO_ATTRIBUTES: tuple[()] = ()
_ReadTransaction = pycrdt.ReadTransaction


class TextHost(Protocol):
    """What a :class:`RichText` needs from the document that owns it (``SharedDocument``).

    A host may also define ``_transaction()``, returning the transaction context manager a
    write opens (e.g. to give local writes an origin its undo manager tracks, or to join the
    enclosing transaction); without it writes use ``doc.transaction()``, which joins an
    enclosing transaction and keeps its origin.
    """

    def _refresh(self) -> None:
        """Apply pending remote updates on this thread; called before every read or write."""

    def _edited(self, index: int) -> None:
        """A local edit just ended at ``index`` (RichText units); moves the presence cursor."""


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

    def invalidate(self, event: Any) -> None:
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


def _json_value(value: object, where: str) -> None:
    if value is None or isinstance(value, bool | str):
        return
    if isinstance(value, int | float):
        if isinstance(value, float) and not math.isfinite(value):
            raise ValueError(f"{where}: {value!r} is not a finite number")
        return
    if isinstance(value, list | tuple):
        for item in value:
            _json_value(item, where)
        return
    if isinstance(value, Mapping):
        for key, item in value.items():
            if not isinstance(key, str):
                raise ValueError(f"{where}: key {key!r} must be a str")
            _json_value(item, where)
        return
    raise ValueError(
        f"{where}: {value!r} ({type(value).__name__}) is not JSON data; "
        "use str, int, float, bool, None, list or dict"
    )


def _check_attrs(attrs: object, where: str) -> Attributes:
    if not isinstance(attrs, Mapping):
        raise ValueError(f"{where}: attributes must be a dict like {{'bold': True}}, not {attrs!r}")
    for key, value in attrs.items():
        if not isinstance(key, str) or not key:
            raise ValueError(f"{where}: attribute name {key!r} must be a non-empty str")
        _json_value(value, f"{where}: attribute {key!r}")
    return dict(attrs)


def _check_embed(embed: object, where: str) -> dict[str, Any]:
    if not isinstance(embed, Mapping) or not embed:
        raise ValueError(
            f"{where}: an embed must be a non-empty dict like {{'image': url}}, not {embed!r}"
        )
    _json_value(embed, where)
    return dict(embed)


def _check_index(index: object, name: str = "index") -> int:
    """``index`` as an int (numpy integers too), refusing bools and negative values."""
    if isinstance(index, bool) or not isinstance(index, SupportsIndex):
        raise TypeError(f"{name} must be an int, not {type(index).__name__}")
    value = operator.index(index)
    if value < 0:
        raise IndexError(f"{name} {value} is negative; indices count from 0")
    return value


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


def _plain(value: Any) -> Any:
    """JSON as JavaScript shows it: pycrdt reads numbers back as floats (1 -> 1.0)."""
    if isinstance(value, float) and value.is_integer():
        return int(value)
    if isinstance(value, dict):
        return {key: _plain(item) for key, item in value.items()}
    if isinstance(value, list):
        return [_plain(item) for item in value]
    return value


class _LineFormatError(ValueError):
    """A line format set where there is no newline to hold it; ``reason`` is unprefixed."""

    def __init__(self, message: str, reason: str) -> None:
        super().__init__(message)
        self.reason = reason


def _line_format_error(block: Attributes) -> _LineFormatError:
    names = ", ".join(repr(name) for name in block)
    reason = (
        f"{names} formats lines: Quill keeps it on the '\\n' that ends a line, and there is "
        "none here; include that newline (the editor's final newline, at len(text), counts)"
    )
    return _LineFormatError(reason, reason)


def _op_error(number: int, ops: Sequence[tuple[str, Any, Any]], error: ValueError) -> ValueError:
    kind, value, attrs = ops[number]
    op: Op = {kind: value}
    if attrs:
        op["attributes"] = attrs
    message = f"delta op {number} {op!r}: {error}"
    if isinstance(error, _LineFormatError):
        return _LineFormatError(message, error.reason)
    return ValueError(message)


def _past_end(index: int, size: int) -> IndexError:
    return IndexError(f"index {index} is past the end of the text ({size} long); use 0..{size}")


def _native(txn: pycrdt.Transaction, *, write: bool = True) -> Any:
    """The native transaction handle pycrdt's own methods use, checked for writing."""
    if write and isinstance(txn, pycrdt.ReadTransaction):
        raise RuntimeError(
            "RichText cannot change the document from an observer callback, where the "
            "transaction is read-only; make the change after the callback returns"
        )
    return txn._txn


def _parse_ops(ops: object) -> list[tuple[str, Any, Attributes | None]]:
    """Validate Quill ops into (kind, value, attributes) tuples; empty ops are dropped."""
    if isinstance(ops, Mapping) and "ops" in ops:
        ops = ops["ops"]
    if isinstance(ops, str | bytes) or not isinstance(ops, Sequence):
        raise ValueError(f"a delta is a list of ops like [{{'insert': 'text'}}], not {ops!r}")
    parsed: list[tuple[str, Any, Attributes | None]] = []
    for number, op in enumerate(ops):
        where = f"delta op {number} {op!r}"
        if not isinstance(op, Mapping):
            raise ValueError(f"{where}: an op is a dict like {{'insert': 'text'}}")
        kinds = [key for key in ("insert", "retain", "delete") if key in op]
        unknown = set(op) - {"insert", "retain", "delete", "attributes"}
        if len(kinds) != 1 or unknown:
            raise ValueError(
                f"{where}: an op has exactly one of 'insert', 'retain' or 'delete', and "
                "optionally 'attributes'"
            )
        kind = kinds[0]
        value = op[kind]
        attrs = op.get("attributes")
        if attrs is not None:
            if kind == "delete":
                raise ValueError(f"{where}: a delete takes no attributes")
            attrs = _check_attrs(attrs, where) or None
        if kind == "insert":
            if isinstance(value, str):
                if not value:
                    continue
            else:
                value = _check_embed(value, where)
        elif isinstance(value, bool) or not isinstance(value, int):
            raise ValueError(
                f"{where}: {kind} takes a count of characters (int)"
                + (", retaining into an embed is not supported" if isinstance(value, dict) else "")
            )
        elif value < 0:
            raise ValueError(f"{where}: {kind} count must not be negative")
        elif value == 0:
            continue
        parsed.append((kind, value, attrs))
    return parsed


class RichText:
    """A rich-text view over a pycrdt ``Text`` with Quill delta semantics.

    Args:
        text: the shared text, integrated in a document (the room's root ``"content"``).
        host: the owning document; ``None`` for in-process use.

    Every write runs in one transaction of the text's document (the host's
    ``_transaction()`` if it has one), joining the caller's transaction if one is open (so
    ``with doc.transaction(origin="bot"):`` keeps its origin).

    Example::

        doc = pycrdt.Doc()
        text = RichText(doc.get("content", type=pycrdt.Text))
        text.insert(0, "Title\\n", {"header": 1})
        text.insert(len(text), "Hello world")
        text.format(12, 5, {"bold": True})
        text.delta
        # [{'insert': 'Title'}, {'insert': '\\n', 'attributes': {'header': 1}},
        #  {'insert': 'Hello '}, {'insert': 'world', 'attributes': {'bold': True}},
        #  {'insert': '\\n'}]
    """

    _text: pycrdt.Text
    _doc: pycrdt.Doc[Any]
    _integrated: Any  # pycrdt's native text, written with the transaction's native handle
    _host: TextHost | None
    _open: Callable[[], AbstractContextManager[pycrdt.Transaction]]  # a write's transaction
    _offsets: _Offsets

    def __init__(self, text: pycrdt.Text, *, host: TextHost | None = None) -> None:
        if not isinstance(text, pycrdt.Text):
            raise TypeError(
                f"RichText wraps a pycrdt.Text, not {type(text).__name__}; "
                "use doc.get('content', type=pycrdt.Text)"
            )
        try:
            self._doc = text.doc
        except RuntimeError:
            raise ValueError(
                "the pycrdt.Text is not in a document yet; use doc.get('content', type=pycrdt.Text)"
            ) from None
        self._text = text
        self._integrated = text.integrated
        self._host = host
        self._open = getattr(host, "_transaction", None) or self._doc.transaction
        self._offsets = _Offsets(self._integrated)
        self._subscription = self._integrated.observe(self._offsets.invalidate)

    # ---------------------------------------------------------------------------------------
    # writes

    def insert(self, index: int, text: str, attrs: Mapping[str, Any] | None = None) -> None:
        """Insert ``text`` at ``index`` with exactly the attributes ``attrs``.

        Like a Quill delta insert, it does not inherit the formatting around ``index``
        (``attrs=None`` is plain text). Line formats go on the newlines of ``text``.

        Raises:
            IndexError: ``index`` is outside ``0..len(self)``.
            ValueError: bad attributes, or a line format and no newline in ``text``.
        """
        host = self._host
        if host is not None:
            host._refresh()
        if not isinstance(text, str):
            raise TypeError(
                f"text must be a str, not {type(text).__name__}; use insert_embed for embeds"
            )
        if attrs is not None:
            attrs = _check_attrs(attrs, "insert")
        if not text:
            return
        offsets = self._offsets
        with self._open() as txn:
            if isinstance(txn, _ReadTransaction):
                _native(txn)  # raises the read-only error
            native = txn._txn
            size = self._integrated.len(native)
            if offsets.ascii and offsets.size == size and type(index) is int and 0 <= index <= size:
                offset = index
                ascii_after = text.isascii()
            else:
                index = _check_index(index)
                content = self._content(native)
                if index > content.size:
                    raise _past_end(index, content.size)
                offset = _size(content.take(index))
                ascii_after = content.ascii and text.isascii()
            if attrs:
                self._insert_text(native, offset, text, attrs)
            else:
                self._integrated.insert(native, offset, text, iter(_NO_ATTRIBUTES))
            offsets.ascii = ascii_after
            offsets.size = size + len(text)
            offsets.own = True
        if host is not None:
            host._edited(index + len(text))

    def insert_embed(
        self, index: int, embed: Mapping[str, Any], attrs: Mapping[str, Any] | None = None
    ) -> None:
        """Insert an embed such as ``{"image": url}`` (any JSON dict) at ``index``.

        ``attrs`` are inline formats of the embed (``link``, ``alt``, ``width``, ...).
        """
        host = self._host
        if host is not None:
            host._refresh()
        value = _check_embed(embed, "insert_embed")
        inline: Attributes = {}
        if attrs is not None:
            inline, block, _ = _split(_check_attrs(attrs, "insert_embed"))
            if block:
                raise ValueError(
                    f"insert_embed: line formats {sorted(block)} cannot apply to an embed; "
                    "format the newline that ends its line"
                )
        with self._open() as txn:
            native = _native(txn)
            index = _check_index(index)
            content = self._content(native)
            if index > content.size:
                raise _past_end(index, content.size)
            offset = _size(content.take(index))
            self._integrated.insert_embed(native, offset, value, iter(inline.items()))
        if host is not None:
            host._edited(index + 1)

    def delete(self, index: int, length: int = 1) -> None:
        """Delete ``length`` units (characters or embeds) starting at ``index``.

        Raises:
            IndexError: the range is not inside ``0..len(self)``.
        """
        host = self._host
        if host is not None:
            host._refresh()
        if length == 0 and type(length) is int:
            return
        offsets = self._offsets
        with self._open() as txn:
            if isinstance(txn, _ReadTransaction):
                _native(txn)  # raises the read-only error
            native = txn._txn
            size = self._integrated.len(native)
            if (
                offsets.ascii
                and offsets.size == size
                and type(index) is int
                and type(length) is int
                and index >= 0
                and length > 0
                and index + length <= size
            ):
                self._integrated.remove_range(native, index, length)
                offsets.size = size - length
                offsets.own = True
            else:
                index = _check_index(index)
                length = _check_index(length, "length")
                content = self._content(native)
                if index > content.size:
                    raise _past_end(index, content.size)
                if index + length > content.size:
                    raise IndexError(
                        f"cannot delete {length} from index {index}: the text is "
                        f"{content.size} long, so at most {content.size - index} can go"
                    )
                offset = _size(content.take(index))
                self._integrated.remove_range(native, offset, _size(content.take(length)))
                offsets.ascii = content.ascii
                offsets.size = size - length if content.ascii else -1
                offsets.own = length > 0
        if host is not None:
            host._edited(index)

    def format(self, index: int, length: int, attrs: Mapping[str, Any]) -> None:
        """Set attributes on ``length`` units from ``index``; a value of ``None`` removes one.

        Inline formats apply to text and embeds, line formats to the newlines in the range, as
        in Quill. The range may include the editor's final newline (see :attr:`delta`):
        formatting it stores it, as y-quill does when a user formats the last line.

        Raises:
            IndexError: the range ends past the editor's final newline.
            ValueError: bad attributes, or a line format set on a range without a newline.
        """
        host = self._host
        if host is not None:
            host._refresh()
        checked = _check_attrs(attrs, "format")
        index = _check_index(index)
        length = _check_index(length, "length")
        if not checked:
            return
        with self._open() as txn:
            native = _native(txn)
            content = self._content(native)
            view = content.size + (0 if content.ends_with_newline else 1)
            if index + length > view:
                raise IndexError(
                    f"cannot format {length} from index {index}: the document is {view} long "
                    f"(len(text) is {content.size}, plus the editor's final newline "
                    f"{'stored' if content.ends_with_newline else 'implicit'})"
                )
            ops = [("retain", index, None), ("retain", length, checked)]
            try:
                self._apply(native, content, ops)
            except _LineFormatError as error:
                raise ValueError(
                    f"format({index}, {length}, {checked!r}): {error.reason}"
                ) from None
        if host is not None:
            host._edited(index + length)

    def apply_delta(self, ops: Sequence[Op] | Mapping[str, Any]) -> None:
        """Apply Quill delta ops as ``quill.updateContents`` would, in one transaction.

        ``{"retain": n}`` moves on (with ``attributes``, formats: ``None`` removes),
        ``{"insert": str | embed, "attributes": ...}`` inserts with exactly those attributes,
        ``{"delete": n}`` deletes. A Delta object (``{"ops": [...]}``) is accepted too. A retain
        or delete may reach the editor's final newline (see :attr:`delta`): formatting it
        stores it, as Yjs does when a Quill user formats the last line; a plain retain or a
        delete leaves it alone. Nothing is applied if an op is invalid.

        Raises:
            ValueError: an op is malformed or reaches past the editor's final newline; the
                message names it.
        """
        host = self._host
        if host is not None:
            host._refresh()
        parsed = _parse_ops(ops)
        with self._open() as txn:
            native = _native(txn)
            self._apply(native, self._content(native), parsed, write=False)
            end = self._apply(native, self._content(native), parsed)
        if host is not None and end is not None:
            host._edited(end)

    def insert_markdown(self, index: int, markdown: str) -> None:
        """Insert Markdown at ``index`` as formatted content, in one transaction.

        Parsed by :func:`~jupyter_ysync.delta_formats.markdown_to_delta`: headers, lists,
        blockquotes, code blocks, bold, italic, strike, code, links and images (embeds). The
        inserted content ends with a newline; insert at the start of a line to keep the line
        there separate from it.
        """
        host = self._host
        if host is not None:
            host._refresh()
        index = _check_index(index)
        ops = markdown_to_delta(markdown)
        parsed = _parse_ops([{"retain": index}, *ops]) if ops else []
        end = None
        with self._open() as txn:
            native = _native(txn)
            content = self._content(native)
            if index > content.size:
                raise _past_end(index, content.size)
            end = self._apply(native, content, parsed)
        if host is not None and end is not None:
            host._edited(end)

    # ---------------------------------------------------------------------------------------
    # reads

    @property
    def delta(self) -> list[Op]:
        """The content as Quill ops, equal to ``quill.getContents().ops`` in an editor bound to
        this text with y-quill.

        Quill always ends a document with a newline. When the text does not end with one, it
        is shown here (``{"insert": "\\n"}``, merged into a plain last op), as the editor shows
        it; when it does, nothing is added (an editor that was already open when that newline
        arrived may show one more empty line: y-quill does not reconcile the two). Line formats
        are shown on newlines only and inline formats on the rest, as Quill renders them;
        ``{"code-block": True}`` shows as ``"plain"``; numbers that are whole are ints.
        """
        host = self._host
        if host is not None:
            host._refresh()
        ops: list[Op] = []
        ends_with_newline = False
        for value, attrs in self._text.diff():
            plain = _plain(attrs) if attrs else {}
            inline = {k: v for k, v in plain.items() if k not in BLOCK_FORMATS and v is not None}
            if isinstance(value, str):
                block = {k: v for k, v in plain.items() if k in BLOCK_FORMATS and v is not None}
                if block.get("code-block") is True:
                    block["code-block"] = "plain"
                for part in _NEWLINES.split(value):
                    push(ops, part, block if part.startswith("\n") else inline)
                ends_with_newline = value.endswith("\n")
            else:
                if isinstance(value, pycrdt.Array | pycrdt.Map | pycrdt.Text):
                    value = value.to_py()
                embed = _plain(value) if isinstance(value, dict) else {"embed": _plain(value)}
                push(ops, embed, inline)
                ends_with_newline = False
        if not ends_with_newline:
            push(ops, "\n", None)
        return ops

    def to_html(self) -> str:
        """The content as sanitised semantic HTML (see :mod:`jupyter_ysync.delta_formats`)."""
        return delta_to_html(self.delta)

    def to_markdown(self) -> str:
        """The content as Markdown; underline, colours and alignment are dropped."""
        return delta_to_markdown(self.delta)

    def sticky_index(self, index: int, assoc: pycrdt.Assoc = pycrdt.Assoc.AFTER) -> Any:
        """A ``pycrdt.StickyIndex`` at ``index`` (e.g. for a presence cursor), converted to
        pycrdt's own offsets; read it back with :meth:`index_of`."""
        host = self._host
        if host is not None:
            host._refresh()
        index = _check_index(index)
        with self._doc.transaction() as txn:
            content = self._content(_native(txn, write=False))
            if index > content.size:
                raise _past_end(index, content.size)
            offset = _size(content.take(index))
        return self._text.sticky_index(offset, assoc)

    def index_of(self, sticky: pycrdt.StickyIndex) -> int:
        """The current RichText index of a sticky index made by :meth:`sticky_index`."""
        host = self._host
        if host is not None:
            host._refresh()
        with self._doc.transaction() as txn:
            offset = sticky.get_index(txn)
            index = 0
            for value, _ in self._integrated.diff(_native(txn, write=False)):
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

    def __str__(self) -> str:
        """The text, with :data:`EMBED_CHARACTER` for each embed (so indices match)."""
        host = self._host
        if host is not None:
            host._refresh()
        return "".join(
            value if isinstance(value, str) else EMBED_CHARACTER for value, _ in self._text.diff()
        )

    def __len__(self) -> int:
        """Length in RichText units: characters, plus 1 per embed."""
        host = self._host
        if host is not None:
            host._refresh()
        with self._doc.transaction() as txn:
            native = _native(txn, write=False)
            size: int = self._integrated.len(native)
            offsets = self._offsets
            if offsets.ascii and offsets.size == size:
                return size
            return self._content(native).size

    def __repr__(self) -> str:
        text = str(self)
        shown = text if len(text) <= 40 else text[:39] + "…"
        return f"<RichText len={len(text)} {shown!r}>"

    # ---------------------------------------------------------------------------------------
    # internals

    def _content(self, native: Any) -> _Content:
        content = _Content(self._integrated.diff(native))
        if content.ascii:
            self._offsets.ascii = True
            self._offsets.size = content.size
        return content

    def _insert_text(self, native: Any, offset: int, text: str, attrs: Attributes) -> int:
        """Insert with attributes routed as Quill keeps them; returns the pycrdt length."""
        inline, block, _ = _split(attrs)
        if block and "\n" not in text:
            raise _line_format_error(block)
        if "\n" not in text:
            self._integrated.insert(native, offset, text, iter(inline.items()))
            return len(text.encode())
        start = offset
        for part in _NEWLINES.split(text):
            if part:
                chosen = block if part[0] == "\n" else inline
                self._integrated.insert(native, offset, part, iter(chosen.items()))
                offset += len(part.encode())
        return offset - start

    def _format(
        self, native: Any, offset: int, pieces: list[str | None], attrs: Attributes
    ) -> None:
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
            self._integrated.format(native, offset, total, iter(removed.items()))
            return
        for newline, size in runs:
            chosen = {**(block if newline else inline), **removed}
            if chosen:
                self._integrated.format(native, offset, size, iter(chosen.items()))
            offset += size

    def _apply(
        self,
        native: Any,
        content: _Content,
        ops: list[tuple[str, Any, Attributes | None]],
        *,
        write: bool = True,
    ) -> int | None:
        """Run parsed ops from the start of ``content``; with ``write=False`` only check them.

        Returns the index where the last change ended, or None if nothing changed.
        """
        index = 0  # RichText units
        offset = 0  # pycrdt units
        size = content.size
        ends_with_newline = content.ends_with_newline
        before_newline = False  # the unit before index is a newline
        end = None
        for number, (kind, value, attrs) in enumerate(ops):
            if kind == "insert":
                if isinstance(value, str):
                    length = len(value)
                    if attrs and write:
                        added = self._insert_text(native, offset, value, attrs)
                    else:
                        if attrs:
                            _, block, _ = _split(attrs)
                            if block and "\n" not in value:
                                raise _op_error(number, ops, _line_format_error(block))
                        added = len(value.encode())
                        if write:
                            self._integrated.insert(native, offset, value, iter(_NO_ATTRIBUTES))
                    last_newline = value.endswith("\n")
                else:
                    length = added = 1
                    inline, block, _ = _split(attrs or {})
                    if block:
                        raise _op_error(
                            number,
                            ops,
                            ValueError(f"line formats {sorted(block)} cannot apply to an embed"),
                        )
                    if write:
                        self._integrated.insert_embed(native, offset, value, iter(inline.items()))
                    last_newline = False
                if index == size:
                    ends_with_newline = last_newline
                before_newline = last_newline
                index += length
                size += length
                offset += added
                end = index
                continue
            view = size + (0 if ends_with_newline else 1)
            if index + value > view:
                raise _op_error(
                    number,
                    ops,
                    ValueError(
                        f"it reaches {index + value}, past the end of the document ({view} long "
                        "here, the editor's final newline included)"
                    ),
                )
            inside = min(value, size - index)
            pieces = content.take(inside)
            if kind == "retain":
                if inside:
                    last = pieces[-1]
                    before_newline = last is not None and last.endswith("\n")
                if attrs and inside:
                    has_newline = any(piece is not None and "\n" in piece for piece in pieces)
                    _, block, _ = _split(attrs)
                    if block and not has_newline and inside == value:
                        raise _op_error(number, ops, _line_format_error(block))
                    if write:
                        self._format(native, offset, pieces, attrs)
                offset += _size(pieces)
                index += inside
                if value > inside and attrs:  # the editor's final newline, stored as Yjs does
                    _, block, _ = _split(attrs)
                    if write:
                        self._integrated.insert(native, offset, "\n", iter(block.items()))
                    offset += 1
                    index += 1
                    size += 1
                    ends_with_newline = before_newline = True
                if attrs:
                    end = index
            else:  # delete
                if inside and write:
                    self._integrated.remove_range(native, offset, _size(pieces))
                size -= inside
                if index == size:
                    ends_with_newline = index > 0 and before_newline
                if inside:
                    end = index
        return end
