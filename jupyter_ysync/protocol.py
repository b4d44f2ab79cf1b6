"""Wire vocabulary shared by the server and the Python peer.

The y-websocket protocol v1 (sync step 1/2, update, awareness) is decoded here
with a bounded lib0 :class:`Decoder`: every variable-length integer has at most
53 bits, as lib0's has, and every declared length is checked against the bytes
that remain, so a hostile peer cannot make a decoder loop, allocate or return a
short slice. Encoding uses pycrdt's helpers. The module also names the message
kinds, the close codes and the room-name rule.
"""

from __future__ import annotations

import json
import re
from enum import IntEnum
from typing import NamedTuple

from pycrdt import YSyncMessageType, write_message

from .errors import InvalidRoomName, MalformedMessage

MAX_SAFE_INTEGER = 2**53 - 1
"""The largest integer lib0 (and so every Yjs peer) decodes: larger ones are refused."""

ROOT_TEXT = "content"
"""Name of the room's root ``Y.Text``: the rich text every peer edits."""

URL_ENV = "JUPYTER_YSYNC_URL"
"""Environment variable giving kernels the room server's base URL."""

TOKEN_ENV = "JUPYTER_YSYNC_TOKEN"
"""Environment variable giving kernels a credential valid on room routes only."""

KERNEL_KIND = "kernel"
"""The awareness ``kind`` of a Python peer: browsers list it apart from the people."""

FILE_KIND = "file"
"""The awareness ``kind`` of the server's own state in a file's room: the file's status
(``{"kind": "file", "file": {"path": ..., "dirty": ..., "state": ...}}``), not a person."""

EMPTY_UPDATE = b"\x00\x00"
"""An update that changes nothing (what a peer with nothing to add answers)."""

EMPTY_STATE = b"\x00"
"""The state vector of an empty document: a joiner that has nothing yet."""

ROOM_NAME_PATTERN = re.compile(r"[A-Za-z0-9._~:-]{1,128}")
"""Room names: 1-128 characters of ``A-Z a-z 0-9 . _ - ~ :``, not only dots."""

ROOM_NAME_RULE = "1-128 characters of A-Z a-z 0-9 . _ - ~ : (not only dots)"


class MessageType(IntEnum):
    """First byte of every y-websocket message."""

    SYNC = 0
    AWARENESS = 1
    AUTH = 2
    QUERY_AWARENESS = 3


class AuthMessageType(IntEnum):
    """Second byte of an AUTH message (y-protocols ``auth``)."""

    PERMISSION_DENIED = 0


class CloseCode(IntEnum):
    """Websocket close codes used by the room server."""

    NORMAL = 1000
    GOING_AWAY = 1001
    PROTOCOL_ERROR = 1002
    INVALID_DATA = 1007
    MESSAGE_TOO_BIG = 1009
    INTERNAL_ERROR = 1011
    TRY_AGAIN_LATER = 1013
    MALFORMED = 4400
    NOT_AUTHENTICATED = 4401
    FORBIDDEN = 4403
    ROOM_DELETED = 4404
    TOO_SLOW = 4408
    FILE_GONE = 4410
    TOO_LARGE = 4413


class Decoder:
    """A lib0 (v1) decoder that refuses what lib0 would refuse, in bounded time and memory.

    Raises :class:`MalformedMessage` for a variable-length integer past 53 bits, a length
    past the end of the data, or invalid UTF-8.
    """

    __slots__ = ("data", "end", "pos")

    def __init__(self, data: bytes, pos: int = 0) -> None:
        self.data = data
        self.pos = pos
        self.end = len(data)

    @property
    def remaining(self) -> int:
        """Bytes not read yet."""
        return self.end - self.pos

    def u8(self) -> int:
        """One byte."""
        pos = self.pos
        if pos >= self.end:
            raise MalformedMessage(f"truncated: a byte expected at offset {pos}, none left")
        self.pos = pos + 1
        return self.data[pos]

    def var_uint(self) -> int:
        """An unsigned LEB128 integer of at most 53 bits (8 bytes)."""
        data, pos = self.data, self.pos
        try:
            byte = data[pos]
            if byte < 0x80:  # one byte: most lengths, counts and clocks
                self.pos = pos + 1
                return byte
            value = byte & 0x7F
            for shift in (7, 14, 21, 28, 35, 42, 49):  # at most 8 bytes, as lib0 reads
                pos += 1
                byte = data[pos]
                value |= (byte & 0x7F) << shift
                if byte < 0x80:
                    if value > MAX_SAFE_INTEGER:
                        break
                    self.pos = pos + 1
                    return value
        except IndexError:
            raise MalformedMessage(
                f"truncated: an integer runs past the end at offset {self.pos}"
            ) from None
        raise MalformedMessage(f"integer out of range at offset {self.pos}: more than 53 bits")

    def var_int(self) -> int:
        """A signed lib0 integer (sign in the first byte's bit 6), of at most 53 bits."""
        byte = self.u8()
        value = byte & 0x3F
        negative = bool(byte & 0x40)
        shift = 6
        while byte & 0x80:
            byte = self.u8()
            value |= (byte & 0x7F) << shift
            shift += 7
            if shift > 55:
                raise MalformedMessage(f"integer out of range at offset {self.pos}")
        if value > MAX_SAFE_INTEGER:
            raise MalformedMessage(f"integer out of range at offset {self.pos}")
        return -value if negative else value

    def length(self) -> int:
        """A declared byte count, checked against what remains."""
        start = self.pos
        size = self.var_uint()
        if size > self.end - self.pos:
            raise MalformedMessage(
                f"truncated: a length of {size} bytes at offset {start}"
                f" where {self.end - self.pos} remain"
            )
        return size

    def count(self, what: str) -> int:
        """A declared number of items of at least one byte each, checked against what remains."""
        start = self.pos
        number = self.var_uint()
        if number > self.end - self.pos:
            raise MalformedMessage(
                f"{what} count {number} at offset {start} exceeds the"
                f" {self.end - self.pos} bytes that remain"
            )
        return number

    def var_bytes(self) -> bytes:
        """A length-prefixed byte string."""
        size = self.length()
        pos = self.pos
        self.pos = pos + size
        return self.data[pos : pos + size]

    def skip(self, size: int) -> None:
        """Skip ``size`` bytes."""
        if size > self.end - self.pos:
            raise MalformedMessage(f"truncated: {size} bytes expected at offset {self.pos}")
        self.pos += size

    def var_string(self) -> str:
        """A length-prefixed UTF-8 string."""
        start = self.pos
        data = self.var_bytes()
        try:
            return data.decode()
        except UnicodeDecodeError as error:
            raise MalformedMessage(f"invalid UTF-8 in the string at offset {start}") from error


class Message(NamedTuple):
    """One parsed y-websocket message."""

    kind: MessageType
    subtype: YSyncMessageType | None
    """The sync message type of SYNC messages; None for the others."""
    payload: bytes
    """The state vector, update or awareness update; empty for the other kinds."""


def parse_message(message: bytes) -> Message:
    """Split a y-websocket message into its kind, sync subtype and payload.

    Raises:
        MalformedMessage: if the bytes are not a protocol v1 message, saying what was wrong.
    """
    if not message:
        raise MalformedMessage("empty message")
    kind = message[0]
    if kind == MessageType.SYNC:
        if len(message) < 2:
            raise MalformedMessage("truncated sync message: no sync message type")
        subtype = message[1]
        if subtype > YSyncMessageType.SYNC_UPDATE:
            raise MalformedMessage(f"unknown sync message type {subtype}")
        payload = Decoder(message, 2).var_bytes()
        return Message(MessageType.SYNC, YSyncMessageType(subtype), payload)
    if kind == MessageType.AWARENESS:
        return Message(MessageType.AWARENESS, None, Decoder(message, 1).var_bytes())
    if kind == MessageType.QUERY_AWARENESS:
        return Message(MessageType.QUERY_AWARENESS, None, b"")
    if kind == MessageType.AUTH:  # permission denied, with its reason
        reason = Decoder(message, 2).var_bytes() if len(message) > 2 else b""
        return Message(MessageType.AUTH, None, reason)
    raise MalformedMessage(f"unknown message type {kind}")


def parse_state_vector(state: bytes) -> dict[int, int]:
    """Decode a state vector (client id -> next clock).

    Raises:
        MalformedMessage: if it is truncated or holds an integer past 53 bits.
    """
    decoder = Decoder(state)
    clocks: dict[int, int] = {}
    for _ in range(decoder.count("state vector entry")):
        client = decoder.var_uint()
        clocks[client] = decoder.var_uint()
    return clocks


class AwarenessEntry(NamedTuple):
    """One client's state in an awareness update."""

    client: int
    clock: int
    state: str
    """The state as JSON text; ``"null"`` when the client leaves."""


def _refuse_constant(name: str) -> object:
    raise ValueError(f"{name} is not JSON")


def parse_awareness(update: bytes) -> list[AwarenessEntry]:
    """Decode an awareness update, refusing what a Yjs peer would throw on.

    Ids and clocks must fit in 53 bits and every state must be JSON as ``JSON.parse`` reads it
    (no ``NaN`` or ``Infinity``); an empty state means "left", as pycrdt reads it.

    Raises:
        MalformedMessage: naming the entry and what was wrong with it.
    """
    decoder = Decoder(update)
    entries = []
    for index in range(decoder.count("awareness entry")):
        client = decoder.var_uint()
        clock = decoder.var_uint()
        state = decoder.var_string() or "null"
        try:
            json.loads(state, parse_constant=_refuse_constant)
        except (ValueError, RecursionError) as error:
            raise MalformedMessage(
                f"awareness entry {index} (client {client}): its state is not JSON ({error})"
            ) from error
        entries.append(AwarenessEntry(client, clock, state))
    return entries


def encode_awareness(entries: list[AwarenessEntry]) -> bytes:
    """Encode awareness entries (the inverse of :func:`parse_awareness`)."""
    parts = [write_var_uint(len(entries))]
    for client, clock, state in entries:
        data = state.encode()
        parts += (write_var_uint(client), write_var_uint(clock), write_var_uint(len(data)), data)
    return b"".join(parts)


def write_var_uint(value: int) -> bytes:
    """Encode a non-negative integer as unsigned LEB128."""
    if value < 0x80:
        return bytes((value,))
    out = bytearray()
    while value >= 0x80:
        out.append((value & 0x7F) | 0x80)
        value >>= 7
    out.append(value)
    return bytes(out)


def permission_denied_message(reason: str) -> bytes:
    """Encode a y-protocols AUTH permission-denied message."""
    data = reason.encode()
    return bytes((MessageType.AUTH, AuthMessageType.PERMISSION_DENIED)) + write_message(data)


def sync_step2_message(update: bytes) -> bytes:
    """Encode a SYNC_STEP2 message carrying ``update`` (pycrdt exports no helper for it)."""
    return bytes((MessageType.SYNC, YSyncMessageType.SYNC_STEP2)) + write_message(update)


def validate_room_name(name: str) -> str:
    """Return ``name`` if it is a valid room name.

    Raises:
        InvalidRoomName: naming the bad value and the rule it breaks.
    """
    if (
        not isinstance(name, str)
        or ROOM_NAME_PATTERN.fullmatch(name) is None
        or not name.strip(".")  # "." and ".." would be rewritten by URL normalisation
    ):
        raise InvalidRoomName(
            f"Invalid room name {name!r}: use {ROOM_NAME_RULE}, for example 'notes' or 'team:plan'."
        )
    return name
