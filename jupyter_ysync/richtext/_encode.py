"""A whole document written as one Yjs update, in one pass (how a file is imported).

``RichText.apply_delta`` on an empty text calls Yrs' ``insert`` once per op, and each call
seeks its index from the start of the text: importing a delta of n ops costs O(n²), ~20 s
for a 1 MB Markdown file. :func:`document_update` writes the update that the import would
make directly, in time linear in the document: one client, clocks from 0, each struct's left
origin the struct before it, the first one's parent the root text.

Formats are written as Yjs leaves them at the end of a text: before a run of content, a
format marker (``ContentFormat(key, value)``) for each attribute that changes and one with
the value ``null`` for each that ends; after the last run, a ``null`` marker for each
attribute still open. Attributes go where :class:`~._text.RichText` puts them (line formats
on the ``"\\n"`` runs, inline formats on the rest), so that ``RichText(text).delta`` reads
the delta back, and y-quill shows it the same.
"""

from __future__ import annotations

import json
from collections.abc import Mapping, Sequence
from typing import Any

from ..protocol import MAX_SAFE_INTEGER, ROOT_TEXT, write_var_uint
from ..updates import HAS_ORIGIN, ContentRef, utf16_length
from ._apply import _NEWLINES, _split
from ._validate import _line_format_error, _op_error, _parse_ops
from .delta import Op

__all__ = ["EMPTY_UPDATE", "document_update"]

EMPTY_UPDATE = b"\x00\x00"
"""An update that holds nothing: no structs, an empty delete set."""

_Run = tuple[str | dict[str, Any], dict[str, str]]
"""Content (text or an embed) and its attributes, each value as JSON text."""

_STRING = ContentRef.STRING.value
_EMBED = ContentRef.EMBED.value
_FORMAT = ContentRef.FORMAT.value


def document_update(
    ops: Sequence[Op] | Mapping[str, Any], client: int, *, root: str = ROOT_TEXT
) -> bytes:
    """The update, made by ``client``, that turns an empty root text ``root`` into ``ops``.

    Deterministic: the same ops and client give the same bytes. Integrated into a document
    whose text ``root`` is empty, ``RichText(text).delta`` reads ``ops`` back (as
    ``apply_delta(ops)`` would leave it).

    Args:
        ops: a document, insert ops only (a Delta object ``{"ops": [...]}`` too).
        client: the author's client id, below 2^53 (Yjs clients fit 32 bits).
        root: the name of the root text.

    Raises:
        ValueError: an op is malformed or is not an insert, or a line format has no
            newline to hold it; the message names the op.

    Example::

        ops = [{"insert": "Title"}, {"insert": "\\n", "attributes": {"header": 1}}]
        update = document_update(ops, client=7)
        doc = pycrdt.Doc()
        doc.apply_update(update)
        RichText(doc.get("content", type=pycrdt.Text)).delta  # the two ops
    """
    if type(client) is not int or not 0 <= client <= MAX_SAFE_INTEGER:
        raise ValueError(f"client {client!r} must be an int in 0..2^53-1")
    items: list[tuple[int, bytes, int]] = []  # content ref, content, clock ticks
    markers: dict[tuple[str, str], bytes] = {}  # (key, JSON value) -> the format's content
    current: dict[str, str] = {}
    for value, attrs in _runs(ops):
        if attrs != current:
            changes = [(key, text) for key, text in attrs.items() if current.get(key) != text]
            changes.extend((key, "null") for key in current if key not in attrs)
            for change in changes:
                content = markers.get(change)
                if content is None:
                    content = markers[change] = _string(change[0]) + _string(change[1])
                items.append((_FORMAT, content, 1))
            current = attrs
        if isinstance(value, str):
            data = value.encode()
            ticks = len(value) if len(data) == len(value) else utf16_length(value)
            items.append((_STRING, write_var_uint(len(data)) + data, ticks))
        else:
            items.append((_EMBED, _string(_json(value)), 1))
    items.extend((_FORMAT, _string(key) + _NULL, 1) for key in current)
    if not items:
        return EMPTY_UPDATE
    return _update(client, root, items)


def _update(client: int, root: str, items: list[tuple[int, bytes, int]]) -> bytes:
    """One client's items, in order, each the right neighbour of the one before."""
    out = bytearray()
    for number in (1, len(items), client, 0):  # one client: its struct count, id, first clock
        out += write_var_uint(number)
    kind, content, clock = items[0]
    out.append(kind)  # no origin: the parent is written out, a root type by its name
    out += write_var_uint(1)
    out += _string(root)
    out += content
    origin = write_var_uint(client)
    for kind, content, ticks in items[1:]:
        out.append(kind | HAS_ORIGIN)
        out += origin
        out += write_var_uint(clock - 1)  # the last clock of the item before
        out += content
        clock += ticks
    if clock > MAX_SAFE_INTEGER:  # pragma: no cover - 2^53 clock ticks do not fit in memory
        raise ValueError("the document is too long for one update")
    out += write_var_uint(0)  # an empty delete set
    return bytes(out)


def _runs(ops: Sequence[Op] | Mapping[str, Any]) -> list[_Run]:
    """The document's content as runs with the attributes RichText would store on them,
    neighbouring text runs with the same attributes joined."""
    parsed = _parse_ops(ops)
    runs: list[tuple[list[str] | dict[str, Any], dict[str, str]]] = []  # text as its pieces
    no_attributes: dict[str, str] = {}

    def add(value: str | dict[str, Any], attrs: dict[str, str]) -> None:
        if isinstance(value, str):
            if runs:
                last, last_attrs = runs[-1]
                if isinstance(last, list) and last_attrs == attrs:
                    last.append(value)
                    return
            runs.append(([value], attrs))
        else:
            runs.append((value, attrs))

    for number, (kind, value, attrs) in enumerate(parsed):
        if kind != "insert":
            raise _op_error(
                number,
                parsed,
                ValueError("a document holds inserts only (as RichText.delta reads it)"),
            )
        inline, block, _ = _split(attrs) if attrs else ({}, {}, {})
        if not isinstance(value, str):
            if block:
                raise _op_error(
                    number,
                    parsed,
                    ValueError(f"line formats {sorted(block)} cannot apply to an embed"),
                )
            add(value, _encoded(inline))
        elif "\n" not in value:
            if block:
                raise _op_error(number, parsed, _line_format_error(block))
            add(value, _encoded(inline) if inline else no_attributes)
        elif not (inline or block):
            add(value, no_attributes)
        else:
            inline_json, block_json = _encoded(inline), _encoded(block)
            for part in _NEWLINES.split(value):
                if part:
                    add(part, block_json if part[0] == "\n" else inline_json)
    return [
        ("".join(value), attrs) if isinstance(value, list) else (value, attrs)
        for value, attrs in runs
    ]


def _encoded(attrs: dict[str, Any]) -> dict[str, str]:
    return {key: _json(value) for key, value in attrs.items()}


_json = json.JSONEncoder(separators=(",", ":"), ensure_ascii=False, allow_nan=False).encode
"""JSON text as Yjs writes it (``JSON.stringify``: no spaces, no ASCII escapes)."""


def _string(text: str) -> bytes:
    """lib0's ``writeVarString``: the UTF-8 length, then the bytes."""
    data = text.encode()
    return write_var_uint(len(data)) + data


_NULL = _string("null")
