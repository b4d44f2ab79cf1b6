"""Where rooms live in Redis: key and channel names, stream ids, and pub/sub messages.

Pure functions, bytes in and bytes out, and the Lua scripts that write the log, the snapshot
and the pokes: nothing here talks to Redis (see :mod:`.redis_sync`).

Every key of a room carries the room's hash tag, ``{<namespace>:<room>}``, so that a room's
keys sit in one Redis Cluster slot and one transaction or script may touch them all:

=============================  ============================================================
``{ns:room}:log``              a stream of updates, one entry per batch (``s``: server,
                               ``u``: update)
``{ns:room}:snapshot``         a hash: ``u`` an update holding every entry up to ``id``;
                               entries before ``trimmed`` are gone from the log;
                               ``pending`` entries were appended since
``{ns:room}:lock``             held by the one server compacting the room (``SET NX PX``)
``{ns:room}:poke``             channel: an entry was appended, or the log was compacted
``{ns:room}:awareness``        channel: awareness of one server's peers, or a query for it
``ns:control``                 channel: a room was deleted, a server left
``ns:server:<id>``             a server's liveness key, renewed while it runs
=============================  ============================================================

Room names never hold braces (:func:`..protocol.validate_room_name`), so the tag is exact.
"""

from __future__ import annotations

from dataclasses import dataclass
from enum import IntEnum
from typing import NamedTuple

__all__ = [
    "APPEND",
    "COMPACT",
    "RELEASE",
    "START",
    "AwarenessMessage",
    "ControlMessage",
    "Poke",
    "RoomKeys",
    "Signal",
    "StreamId",
    "control_channel",
    "encode_awareness_message",
    "encode_control",
    "parse_awareness_message",
    "parse_control",
    "parse_poke",
    "server_key",
]


class StreamId(NamedTuple):
    """A Redis stream entry id (``<milliseconds>-<sequence>``), ordered as Redis orders them."""

    ms: int
    seq: int

    @classmethod
    def parse(cls, raw: bytes | str) -> StreamId:
        """Read ``b"1718000000000-3"``.

        Raises:
            ValueError: naming the value if it is not a stream id.
        """
        text = raw.decode() if isinstance(raw, bytes) else raw
        ms, sep, seq = text.partition("-")
        if not sep or not ms.isdigit() or not seq.isdigit():
            raise ValueError(f"{text!r} is not a Redis stream id (<ms>-<seq>)")
        return cls(int(ms), int(seq))

    def __str__(self) -> str:
        return f"{self.ms}-{self.seq}"


START = StreamId(0, 0)
"""Before every entry: where a server that has read nothing reads from."""


@dataclass(frozen=True)
class RoomKeys:
    """The keys and channels of one room in one namespace."""

    log: str
    snapshot: str
    lock: str
    poke: str
    awareness: str

    @classmethod
    def of(cls, namespace: str, room: str) -> RoomKeys:
        tag = f"{{{namespace}:{room}}}"
        return cls(
            log=f"{tag}:log",
            snapshot=f"{tag}:snapshot",
            lock=f"{tag}:lock",
            poke=f"{tag}:poke",
            awareness=f"{tag}:awareness",
        )


def control_channel(namespace: str) -> str:
    """The channel every server of the namespace listens to (deletions, departures)."""
    return f"{namespace}:control"


def server_key(namespace: str, server: str) -> str:
    """A server's liveness key: it exists while the server runs."""
    return f"{namespace}:server:{server}"


class Signal(IntEnum):
    """The first byte of every pub/sub message."""

    APPENDED = ord("A")
    """poke: ``A<server> <previous id> <id>\\n[<update>]``; the update is left out when large."""
    COMPACTED = ord("C")
    """poke: ``C<server> <id>``: the snapshot now covers every entry up to ``id``."""
    AWARENESS = ord("U")
    """awareness: ``U<server>\\n<awareness update>``."""
    QUERY = ord("Q")
    """awareness: ``Q<server>``: a server opened the room; every other one re-announces."""
    DELETED = ord("D")
    """control: ``D<server>\\n<room>``: the room was deleted."""
    LEFT = ord("L")
    """control: ``L<server>``: the server stopped; its peers' presence goes."""


class Poke(NamedTuple):
    """A message of a room's poke channel."""

    signal: Signal
    server: str
    id: StreamId
    previous: StreamId | None = None
    """The entry before this one (APPENDED): a server that read up to it may skip reading."""
    update: bytes | None = None
    """The entry's update, when small enough to travel with the poke."""


def parse_poke(message: bytes) -> Poke:
    """Read a poke (written by the append and compact scripts of :mod:`.redis_sync`).

    Raises:
        ValueError: if the message is not a poke.
    """
    head, _, update = message.partition(b"\n")
    signal = Signal(head[0]) if head else None
    fields = head[1:].decode().split(" ")
    if signal is Signal.APPENDED and len(fields) == 3:
        return Poke(
            signal, fields[0], StreamId.parse(fields[2]), StreamId.parse(fields[1]), update or None
        )
    if signal is Signal.COMPACTED and len(fields) == 2:
        return Poke(signal, fields[0], StreamId.parse(fields[1]))
    raise ValueError(f"not a poke: {message[:80]!r}")


class AwarenessMessage(NamedTuple):
    signal: Signal
    server: str
    update: bytes = b""


def encode_awareness_message(signal: Signal, server: str, update: bytes = b"") -> bytes:
    """``U<server>\\n<update>`` (an awareness update) or ``Q<server>`` (a query)."""
    if signal is Signal.QUERY:
        return bytes((signal,)) + server.encode()
    return bytes((signal,)) + server.encode() + b"\n" + update


def parse_awareness_message(message: bytes) -> AwarenessMessage:
    """Read a message of a room's awareness channel.

    Raises:
        ValueError: if it is not one.
    """
    head, sep, update = message.partition(b"\n")
    signal = Signal(head[0]) if head else None
    if signal is Signal.QUERY and not sep:
        return AwarenessMessage(signal, head[1:].decode())
    if signal is Signal.AWARENESS and sep:
        return AwarenessMessage(signal, head[1:].decode(), update)
    raise ValueError(f"not an awareness message: {message[:80]!r}")


class ControlMessage(NamedTuple):
    signal: Signal
    server: str
    room: str = ""


def encode_control(signal: Signal, server: str, room: str = "") -> bytes:
    """``D<server>\\n<room>`` (a room deleted) or ``L<server>`` (a server left)."""
    if signal is Signal.LEFT:
        return bytes((signal,)) + server.encode()
    return bytes((signal,)) + server.encode() + b"\n" + room.encode()


def parse_control(message: bytes) -> ControlMessage:
    """Read a message of the control channel.

    Raises:
        ValueError: if it is not one.
    """
    head, sep, room = message.partition(b"\n")
    signal = Signal(head[0]) if head else None
    if signal is Signal.LEFT and not sep:
        return ControlMessage(signal, head[1:].decode())
    if signal is Signal.DELETED and sep and room:
        return ControlMessage(signal, head[1:].decode(), room.decode())
    raise ValueError(f"not a control message: {message[:80]!r}")


# -- the scripts that write them (Lua, run atomically by Redis) --------------------------------

# KEYS: log, snapshot. ARGV: update, server, inline max, poke channel.
# Returns the new entry's id and how many entries the snapshot does not cover yet.
APPEND = """
local last = redis.call('XREVRANGE', KEYS[1], '+', '-', 'COUNT', 1)
local previous = '0-0'
if last[1] then previous = last[1][1] end
local id = redis.call('XADD', KEYS[1], '*', 's', ARGV[2], 'u', ARGV[1])
local poke = 'A' .. ARGV[2] .. ' ' .. previous .. ' ' .. id .. '\\n'
if string.len(ARGV[1]) <= tonumber(ARGV[3]) then poke = poke .. ARGV[1] end
redis.call('PUBLISH', ARGV[4], poke)
return {id, redis.call('HINCRBY', KEYS[2], 'pending', 1)}
"""

# KEYS: log, snapshot, lock. ARGV: lock token, snapshot update, id it covers, poke channel, server.
COMPACT = """
local function before(a, b)
  local am, as = string.match(a, '(%d+)-(%d+)')
  local bm, bs = string.match(b, '(%d+)-(%d+)')
  am, as, bm, bs = tonumber(am), tonumber(as), tonumber(bm), tonumber(bs)
  return am < bm or (am == bm and as < bs)
end
if redis.call('GET', KEYS[3]) ~= ARGV[1] then return 0 end
local current = redis.call('HGET', KEYS[2], 'id')
if current and not before(current, ARGV[3]) then return 0 end
local trimmed = current or '0-0'
redis.call('HSET', KEYS[2], 'u', ARGV[2], 'id', ARGV[3], 'trimmed', trimmed, 'pending', 0)
if current then redis.call('XTRIM', KEYS[1], 'MINID', current) end
redis.call('PUBLISH', ARGV[4], 'C' .. ARGV[5] .. ' ' .. trimmed)
return 1
"""

# KEYS: lock. ARGV: token.
RELEASE = """
if redis.call('GET', KEYS[1]) == ARGV[1] then return redis.call('DEL', KEYS[1]) end
return 0
"""
