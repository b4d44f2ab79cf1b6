"""Integrating many updates into one replica: a stored log, a queue of local edits."""

from __future__ import annotations

from enum import IntEnum
from typing import Any

from pycrdt import Doc

from .errors import MalformedMessage
from .protocol import MAX_SAFE_INTEGER, Decoder

REPLAY_BATCH = 512
"""Updates integrated per transaction when a log is replayed.

When a transaction commits, Yrs squashes the blocks it created into their
neighbours, at a cost that grows with the square of their number: 100,000
one-character updates take ~11 s in one transaction, 7-18 s in one
transaction each (each commit's work grows with the document), 0.3 s in
batches of 512.
"""


def replay(doc: Doc[Any], updates: list[bytes]) -> None:
    """Integrate a log of updates into ``doc``, in order, in bounded transactions."""
    for first in range(0, len(updates), REPLAY_BATCH):
        with doc.transaction():
            for update in updates[first : first + REPLAY_BATCH]:
                doc.apply_update(update)


class ContentRef(IntEnum):
    """What a struct holds: the low 5 bits of its info byte, numbered as Yjs numbers them.

    ``GC`` and ``SKIP`` are structs of their own (a length, no origins); the others are items.
    """

    GC = 0
    DELETED = 1
    JSON = 2
    BINARY = 3
    STRING = 4
    EMBED = 5
    FORMAT = 6
    TYPE = 7
    ANY = 8
    DOC = 9
    SKIP = 10
    MOVE = 11


HAS_ORIGIN = 0x80
"""Info byte flag: the item's left origin (client, clock) is written out."""
HAS_RIGHT_ORIGIN = 0x40
"""Info byte flag: the item's right origin is written out."""
HAS_PARENT_SUB = 0x20
"""Info byte flag: the item is a map entry; its key is written out (only without origins)."""


def utf16_length(text: str) -> int:
    """The length of ``text`` as JavaScript counts it (UTF-16 code units): a string item's
    clock ticks."""
    if text.isascii():
        return len(text)
    return len(text.encode("utf-16-le", "surrogatepass")) // 2


MAX_ANY_DEPTH = 64
"""Nesting allowed in an update's JSON-like ("any") content before it is refused."""

_MOVE_CONTENT = 11  # Yrs' move content: no Yjs peer can read it


class UpdateShape:
    """What an update holds and needs, read without Yrs (see :func:`scan_update`).

    Attributes:
        needs: client id -> the clock the replica must have reached for every struct to
            integrate: the start of the client's structs, and the end of every range skipped.
        ends: client id -> the clock after the update's last struct of that client.
        refs: client id -> one past the highest clock the update refers to (origins,
            parents, deletions): those items must be in the replica or in the update.
    """

    __slots__ = ("ends", "needs", "refs")

    def __init__(self) -> None:
        self.needs: dict[int, int] = {}
        self.ends: dict[int, int] = {}
        self.refs: dict[int, int] = {}

    def missing(self, state: dict[int, int]) -> bool:
        """Whether integrating into a replica with this state vector would leave a gap."""
        for client, need in self.needs.items():
            if state.get(client, 0) < need:
                return True
        ends = self.ends
        for client, ref in self.refs.items():
            if ref > max(state.get(client, 0), ends.get(client, 0)):
                return True
        return False


def scan_update(update: bytes) -> UpdateShape:
    """Read a Yjs update (v1 encoding) through, checking it before Yrs sees it.

    Every count and length is checked against the bytes that remain, every integer against
    53 bits, every string for UTF-8, and nested content against :data:`MAX_ANY_DEPTH`, so
    that what passes cannot make Yrs allocate more than the update's size or panic on
    its framing. Struct kinds no Yjs peer can read are refused.

    Raises:
        MalformedMessage: saying what was wrong and where.
    """
    decoder = Decoder(update)
    shape = UpdateShape()
    needs, ends, refs = shape.needs, shape.ends, shape.refs
    var_uint, u8 = decoder.var_uint, decoder.u8
    for _ in range(decoder.count("client")):
        structs = decoder.count("struct")
        client = var_uint()
        clock = var_uint()
        if clock > needs.get(client, -1):
            needs[client] = clock
        for _ in range(structs):
            info = u8()
            kind = info & 0x1F
            if kind == 0 or kind == 10:  # GC, or Skip (a range this update does not carry)
                size = var_uint()
                if kind == 10 and clock + size > needs[client]:
                    needs[client] = clock + size
            else:
                if info & 0x80:  # origin: the item on the left
                    other, end = var_uint(), var_uint() + 1
                    if end > refs.get(other, 0):
                        refs[other] = end
                if info & 0x40:  # right origin
                    other, end = var_uint(), var_uint() + 1
                    if end > refs.get(other, 0):
                        refs[other] = end
                if not info & 0xC0:  # no origin: the parent is written out
                    if var_uint() == 1:
                        decoder.skip(decoder.length())  # a root type's name
                    else:  # a nested type's item
                        other, end = var_uint(), var_uint() + 1
                        if end > refs.get(other, 0):
                            refs[other] = end
                    if info & 0x20:
                        decoder.skip(decoder.length())  # the key in a map
                size = _content_length(decoder, kind)
            clock += size
        if clock > MAX_SAFE_INTEGER:
            raise MalformedMessage(f"clock of client {client} past 2^53")
        if clock > ends.get(client, 0):
            ends[client] = clock
    for _ in range(decoder.count("deleted client")):
        client = var_uint()
        for _ in range(decoder.count("deleted range")):
            end = var_uint() + var_uint()
            if end > MAX_SAFE_INTEGER:
                raise MalformedMessage(f"deleted range of client {client} past 2^53")
            if end > refs.get(client, 0):
                refs[client] = end
    return shape


def _content_length(decoder: Decoder, kind: int) -> int:
    """Skip one item's content; return its length in clock ticks."""
    if kind == 4:  # string: its length counts UTF-16 code units, as in JavaScript
        start = decoder.pos
        data = decoder.var_bytes()
        if data.isascii():
            return len(data)
        try:
            return len(data.decode().encode("utf-16-le")) // 2
        except UnicodeDecodeError as error:
            raise MalformedMessage(f"invalid UTF-8 in the string at offset {start}") from error
    if kind == 1:  # deleted
        return decoder.var_uint()
    if kind in (3, 5):  # binary, embed (JSON text)
        decoder.skip(decoder.length())
        return 1
    if kind == 6:  # format: key, value (JSON text)
        decoder.skip(decoder.length())
        decoder.skip(decoder.length())
        return 1
    if kind == 7:  # a nested type
        type_ref = decoder.var_uint()
        if type_ref > 6:
            raise MalformedMessage(f"unknown shared type {type_ref}")
        if type_ref in (3, 5):  # XmlElement, XmlHook: a name
            decoder.skip(decoder.length())
        return 1
    if kind == 2:  # JSON: a count of JSON texts
        count = decoder.count("JSON value")
        for _ in range(count):
            decoder.skip(decoder.length())
        return count
    if kind == 8:  # any: a count of lib0 values
        count = decoder.count("value")
        for _ in range(count):
            _skip_any(decoder, 0)
        return count
    if kind == 9:  # a subdocument: guid, options
        decoder.skip(decoder.length())
        _skip_any(decoder, 0)
        return 1
    if kind == _MOVE_CONTENT:
        raise MalformedMessage("move content (Yrs only) is not accepted: Yjs peers cannot read it")
    raise MalformedMessage(f"unknown content kind {kind}")


def _skip_any(decoder: Decoder, depth: int) -> None:
    """Skip one lib0 ``any`` value, refusing nesting deeper than :data:`MAX_ANY_DEPTH`."""
    if depth > MAX_ANY_DEPTH:
        raise MalformedMessage(f"content nested deeper than {MAX_ANY_DEPTH} levels")
    tag = decoder.u8()
    if tag in (127, 126, 121, 120):  # undefined, null, false, true
        return
    if tag == 125:
        decoder.var_int()
    elif tag == 124:
        decoder.skip(4)
    elif tag in (123, 122):
        decoder.skip(8)
    elif tag in (119, 116):  # string, bytes
        decoder.skip(decoder.length())
    elif tag == 118:  # object
        for _ in range(decoder.count("object entry")):
            decoder.skip(decoder.length())
            _skip_any(decoder, depth + 1)
    elif tag == 117:  # array
        for _ in range(decoder.count("array item")):
            _skip_any(decoder, depth + 1)
    else:
        raise MalformedMessage(f"unknown value tag {tag} at offset {decoder.pos - 1}")
