"""A seeded fuzzer of room connections: bad frames from an attacker, checked as they land.

Shared by the test suite (``tests/test_fuzz.py``, a few thousand frames against the in-process
server) and by ``python -m benchmarks.fuzz`` (100,000 frames against a server process).

- :class:`FrameFuzzer` makes the frames. Each :class:`Attack` is the exact bytes written to
  the socket (websocket framing included, so that framing itself can be wrong) with what the
  server may answer: the close codes it may close with and whether it must close.
  The categories are in :data:`CATEGORIES`. Valid material comes from a :class:`Shadow`, the
  attacker's own replica of the room, kept in sync: its edits reference real content of the
  room, as a real client's do, and their structs are the attacker's own (mutating somebody
  else's structs would let the attacker write under a good peer's client id, which Yjs does
  not prevent and no server can detect).
- :class:`Attacker` sends them over :class:`RawClient` connections, one frame at a time, and
  after each one learns whether the server kept or closed the connection: a frame that is
  not itself a sync step 1 is followed by one (the attacker's state vector), and the server
  answers a sync step 1 once the batch holding it is applied, so "step 2 received" means
  "everything before it was accepted" and a close means "refused". Whenever the server
  closes the connection, the attacker notes the code, reconnects and goes on. Its replica
  outlives the connection (it answers the server's sync step 1 with what the room lacks, as
  a y-websocket client does) until a fresh one, with a new client id, replaces it.
- :class:`Editor`, :func:`fingerprint` and :func:`divergences` are for the good peers
  that edit meanwhile: the same text, the same formatted delta and the same state vector
  everywhere, and nothing any good peer wrote lost (:func:`lost_edits`).
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import random
import time
from collections import Counter
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import urlsplit

from pycrdt import (
    Array,
    Doc,
    Map,
    Text,
    TransactionEvent,
    XmlElement,
    XmlFragment,
    XmlText,
    create_sync_message,
    create_update_message,
    merge_updates,
    read_message,
)

from jupyter_ysync.protocol import (
    EMPTY_UPDATE,
    MAX_SAFE_INTEGER,
    AwarenessEntry,
    CloseCode,
    encode_awareness,
    parse_message,
    parse_state_vector,
    sync_step2_message,
    write_var_uint,
)

from .wsclient import WebSocketClient, WebSocketError

try:
    from websockets.speedups import apply_mask  # C, shipped with websockets
except ImportError:  # pragma: no cover - pure-Python fallback
    from websockets.utils import apply_mask

ROOT = "content"
"""The root ``Y.Text`` the good peers edit."""

EXPECTED_CLOSES = frozenset(
    {CloseCode.MALFORMED, CloseCode.TOO_LARGE, CloseCode.PROTOCOL_ERROR, CloseCode.INVALID_DATA}
)
"""The codes an attacker may be closed with: 4400 malformed, 4413 too large, 1002 protocol
error, 1007 a text frame that is not UTF-8."""

MALFORMED = frozenset({CloseCode.MALFORMED})
TOO_LARGE = frozenset({CloseCode.TOO_LARGE})
PROTOCOL = frozenset({CloseCode.PROTOCOL_ERROR})

CATEGORIES: dict[str, float] = {
    "mutated": 0.36,  # valid messages (updates, step 1/2, awareness) with bytes flipped/added/cut
    "fragmented": 0.06,  # a valid or mutated message in fragments, pings in between
    "truncated": 0.10,  # a valid message cut short
    "malformed": 0.10,  # unknown message types and sync subtypes, empty messages
    "long-varint": 0.08,  # integers with long runs of continuation bytes
    "huge-length": 0.12,  # declared lengths and counts past the data, values past 2^53
    "oversized": 0.04,  # messages over max_message_size (declared, sent, or in fragments)
    "text": 0.04,  # text frames
    "protocol": 0.10,  # reserved bits, unmasked, long or fragmented control frames, ...
    "unknown-opcode": 0.02,  # opcodes 3-7 and 11-15
    "text-invalid-utf8": 0.02,  # a text frame that is not UTF-8
}
"""Frame categories and their shares of the stream (the default mix)."""

SHADOW_CONNECTIONS = 50
"""Connections an attacker's replica serves before a fresh one (a new client id) replaces it."""

WIDE = "éß中"
"""Characters of two or three UTF-8 bytes but one UTF-16 unit, typed now and then."""

ASTRAL = "😀🎉"
"""Characters outside the BMP (two UTF-16 units, a surrogate pair), typed only with
``astral=True``: yrs 0.28 mishandles a deletion that splits their pair (it deletes the wrong
character, or its own encoding loses a clock), which the attacker's mutated deletions do now
and then; ``tests/test_fuzz.py`` pins that down."""

VERDICT_TIMEOUT = 10.0
"""Seconds the server may take to answer one frame before it counts as stalled."""


# -- websocket framing ------------------------------------------------------------------------


def ws_frame(
    opcode: int,
    payload: bytes,
    *,
    final: bool = True,
    rsv: int = 0,
    masked: bool = True,
    mask: bytes = b"\x00\x00\x00\x00",
    declared: int | None = None,
) -> bytes:
    """A client frame (RFC 6455 §5.2), masked unless told otherwise.

    Args:
        declared: the payload length written in the header, if not ``len(payload)``.
    """
    length = len(payload) if declared is None else declared
    head = bytes(((0x80 if final else 0) | rsv | opcode,))
    bit = 0x80 if masked else 0
    if length < 126:
        head += bytes((bit | length,))
    elif length <= 0xFFFF:
        head += bytes((bit | 126,)) + length.to_bytes(2, "big")
    else:
        head += bytes((bit | 127,)) + length.to_bytes(8, "big")
    if not masked:
        return head + payload
    return head + mask + (apply_mask(payload, mask) if payload else b"")


# -- what the attacker sends ------------------------------------------------------------------


@dataclass(frozen=True)
class Attack:
    """One frame (or a few) of the attacker, and what the server may do about it."""

    category: str
    wire: bytes
    """The bytes written to the socket, framing included."""
    message: bytes | None
    """The binary message the room receives if the framing is accepted; None if it is not."""
    closes: frozenset[int]
    """Close codes the server may answer with."""
    must_close: bool
    """Whether accepting it would be a defect."""

    @property
    def answers_itself(self) -> bool:
        """Whether it may be a sync step 1, which the server answers with a step 2."""
        return self.message is not None and self.message[:2] == b"\x00\x00"

    @property
    def may_be_held(self) -> bool:
        """Whether it may be an update the room holds, to apply (or refuse) later."""
        return self.message is not None and self.message[:1] == b"\x00"


def _is_panic(error: BaseException) -> bool:
    return type(error).__name__ == "PanicException"


class Shadow:
    """The attacker's replica of the room: valid updates, state vectors and awareness to mutate.

    Its edits are real pycrdt edits of the room's content as the attacker last saw it (plus
    other root types, for every kind of struct content), so they reference the good peers'
    items; only the attacker's own client id appears in their structs.
    """

    def __init__(self, rng: random.Random, *, astral: bool = False) -> None:
        self.rng = rng
        self.astral = astral
        self.doc: Doc[Any] = Doc()
        self.text = self.doc.get(ROOT, type=Text)
        self.editor = Editor(self.text, rng, astral=astral)
        self.errors = 0
        """Updates from the server this replica could not apply."""
        self._captured: list[bytes] | None = None
        self._awareness_clock = 0
        self.doc.observe(self._on_transaction)

    def _on_transaction(self, event: TransactionEvent) -> None:
        if self._captured is not None:
            self._captured.append(event.update)

    def apply(self, update: bytes) -> None:
        """Integrate an update the server sent (counted in ``errors`` if pycrdt refuses it)."""
        try:
            self.doc.apply_update(update)
        except BaseException as error:
            if not isinstance(error, Exception) and not _is_panic(error):
                raise
            self.errors += 1

    def state_message(self) -> bytes:
        """A sync step 1 with this replica's state vector."""
        return create_sync_message(self.doc)

    def edit(self) -> bytes:
        """Make one random edit; return the update it produced (never empty)."""
        rng = self.rng
        for attempt in range(9):
            captured: list[bytes] = []
            self._captured = captured
            try:
                with self.doc.transaction():
                    if attempt < 8:
                        self._change(rng)
                    else:  # what cannot fail: a key of the attacker's own map
                        self.doc.get("meta", type=Map)[_word(rng)] = _word(rng)
            except BaseException as error:  # a root of another type, content it cannot edit...
                if not isinstance(error, Exception) and not _is_panic(error):
                    raise
                continue
            finally:
                self._captured = None
            captured = [update for update in captured if update != EMPTY_UPDATE]
            if captured:
                return captured[0] if len(captured) == 1 else merge_updates(*captured)
        raise RuntimeError("the attacker's replica refused every edit, even a map key")

    def _change(self, rng: random.Random) -> None:
        roll = rng.random()
        if roll < 0.7:
            self.editor.edit()
        elif roll < 0.8:
            meta = self.doc.get("meta", type=Map)
            meta[_word(rng)] = _any_value(rng, 3)
        elif roll < 0.87:
            items = self.doc.get("items", type=Array)
            items.insert(rng.randint(0, len(items)), _any_value(rng, 2))
        elif roll < 0.92:
            items = self.doc.get("items", type=Array)
            pick = rng.random()
            nested: Any = (
                Text(_chunk(rng, self.astral))
                if pick < 0.4
                else Map({"k": _any_value(rng, 1)})
                if pick < 0.8
                else Doc()  # a subdocument
            )
            items.append(nested)
        elif roll < 0.96:
            size, offset, _ = self.editor.positions()
            self.text.insert_embed(
                offset(rng.randint(0, size)), {"image": f"https://example.org/{_word(rng)}.png"}
            )
        else:
            tree = self.doc.get("xml", type=XmlFragment)
            tree.children.append(
                XmlElement(_word(rng), {"class": _word(rng)}, [XmlText(_chunk(rng, self.astral))])
            )

    def awareness(self) -> bytes:
        """An awareness update of the attacker's client (sometimes of a few more, or a leave)."""
        rng = self.rng
        self._awareness_clock += 1
        entries = [AwarenessEntry(self.doc.client_id, self._awareness_clock, _awareness_state(rng))]
        for _ in range(rng.choice((0, 0, 0, 1, 3))):
            entries.append(
                AwarenessEntry(rng.getrandbits(32), rng.randint(0, 50), _awareness_state(rng))
            )
        return encode_awareness(entries)


class FrameFuzzer:
    """Makes the attacker's frames, seeded, in the proportions of ``categories``.

    Args:
        rng: the only source of randomness (masks included): a seed replays the same frames
            for the same answers of the server.
        max_message_size: the server's ``YSyncApp.max_message_size``.
        categories: category -> share (see :data:`CATEGORIES`).
        astral: whether the attacker's replicas type characters outside the BMP (see
            :data:`ASTRAL`).
    """

    def __init__(
        self,
        rng: random.Random,
        *,
        max_message_size: int,
        categories: Mapping[str, float] = CATEGORIES,
        astral: bool = False,
    ) -> None:
        unknown = set(categories) - set(CATEGORIES)
        if unknown:
            known = ", ".join(CATEGORIES)
            raise ValueError(f"unknown fuzz categories {sorted(unknown)}: choose among {known}")
        self.rng = rng
        self.max_message_size = max_message_size
        self.astral = astral
        self._names = list(categories)
        self._weights = [categories[name] for name in self._names]
        self._make: dict[str, Callable[[Shadow], Attack]] = {
            "mutated": self._mutated,
            "fragmented": self._fragmented,
            "truncated": self._truncated,
            "malformed": self._malformed,
            "long-varint": self._long_varint,
            "huge-length": self._huge_length,
            "oversized": self._oversized,
            "text": self._text,
            "protocol": self._protocol,
            "unknown-opcode": self._unknown_opcode,
            "text-invalid-utf8": self._text_invalid_utf8,
        }

    def next(self, shadow: Shadow) -> Attack:
        """The next attack, built from the attacker's replica."""
        name = self.rng.choices(self._names, self._weights)[0]
        return self._make[name](shadow)

    def frame(self, opcode: int, payload: bytes, **options: Any) -> bytes:
        """A masked client frame, with a mask from the fuzzer's generator."""
        return ws_frame(opcode, payload, mask=self.rng.randbytes(4), **options)

    def _binary(
        self, category: str, message: bytes, closes: frozenset[int], must_close: bool
    ) -> Attack:
        return Attack(category, self.frame(0x2, message), message, closes, must_close)

    # -- material ------------------------------------------------------------------------------

    def valid_message(self, shadow: Shadow) -> bytes:
        """A message a good client could send: an update, a sync step 1 or 2, awareness."""
        rng = self.rng
        roll = rng.random()
        if roll < 0.5:
            return create_update_message(shadow.edit())
        if roll < 0.6:
            return sync_step2_message(shadow.edit())
        if roll < 0.68:
            updates = [shadow.edit() for _ in range(rng.randint(2, 4))]
            return create_update_message(merge_updates(*updates))
        if roll < 0.78:
            return shadow.state_message()
        if roll < 0.82:
            state = {rng.getrandbits(32): rng.randint(0, 1 << 20) for _ in range(rng.randint(1, 4))}
            return b"\x00\x00" + _var_bytes(_state_vector(state))
        return b"\x01" + _var_bytes(shadow.awareness())

    def mutate(self, data: bytes, count: int) -> bytes:
        """``data`` with ``count`` random edits: bytes replaced, bits flipped, bytes added, cut."""
        rng = self.rng
        buffer = bytearray(data)
        for _ in range(count):
            roll = rng.random()
            at = rng.randint(0, len(buffer))
            if roll < 0.35 and at < len(buffer):
                buffer[at] = rng.choice((0x00, 0x01, 0x7F, 0x80, 0xFF, rng.randrange(256)))
            elif roll < 0.6 and at < len(buffer):
                buffer[at] ^= 1 << rng.randrange(8)
            elif roll < 0.8:
                size = rng.choice((1, 1, 2, 4, 9))
                buffer[at:at] = rng.randbytes(size)
            else:
                del buffer[at : at + rng.choice((1, 1, 2, 5))]
        return bytes(buffer)

    def _mutated_message(self, shadow: Shadow) -> bytes:
        rng = self.rng
        message = self.valid_message(shadow)
        roll = rng.random()
        count = rng.choice((1, 1, 1, 2, 3, 8))
        if roll < 0.08:
            return message  # unchanged: valid, applied, and it must reach everyone
        if roll < 0.75:  # inside the payload: what the update and awareness decoders see
            kind, _, payload = parse_message(message)
            prefix = message[:2] if kind == 0 else message[:1]
            return prefix + _var_bytes(self.mutate(payload, count))
        return self.mutate(message, count)  # anywhere, framing of the message included

    # -- categories ----------------------------------------------------------------------------

    def _mutated(self, shadow: Shadow) -> Attack:
        return self._binary("mutated", self._mutated_message(shadow), MALFORMED, False)

    def _fragmented(self, shadow: Shadow) -> Attack:
        rng = self.rng
        message = self._mutated_message(shadow)
        cuts = sorted(rng.randint(0, len(message)) for _ in range(rng.randint(1, 4)))
        pieces = [message[a:b] for a, b in zip([0, *cuts], [*cuts, len(message)], strict=True)]
        wire = b""
        for index, piece in enumerate(pieces):
            final = index == len(pieces) - 1
            wire += self.frame(0x2 if index == 0 else 0x0, piece, final=final)
            if not final and rng.random() < 0.3:
                wire += self.frame(0x9, rng.randbytes(rng.randint(0, 125)))
        return Attack("fragmented", wire, message, MALFORMED, False)

    def _truncated(self, shadow: Shadow) -> Attack:
        message = self.valid_message(shadow)
        cut = message[: self.rng.randrange(len(message))]
        return self._binary("truncated", cut, MALFORMED, True)

    def _malformed(self, shadow: Shadow) -> Attack:
        rng = self.rng
        tail = rng.randbytes(rng.choice((0, 1, 4, 30)))
        roll = rng.random()
        if roll < 0.35:
            return self._binary("malformed", bytes((rng.randint(4, 255),)) + tail, MALFORMED, True)
        if roll < 0.6:
            subtype = bytes((rng.randint(3, 255),))
            return self._binary("malformed", b"\x00" + subtype + tail, MALFORMED, True)
        if roll < 0.7:
            return self._binary("malformed", rng.choice((b"", b"\x00", b"\x01")), MALFORMED, True)
        if roll < 0.8:  # auth and query-awareness carry nothing the server reads: accepted
            return self._binary(
                "malformed", rng.choice((b"\x02", b"\x03")) + tail, MALFORMED, False
            )
        # trailing bytes after a valid message: lib0 readers stop where the message ends
        return self._binary("malformed", self.valid_message(shadow) + tail, MALFORMED, False)

    def _long_varint(self, shadow: Shadow) -> Attack:
        rng = self.rng
        run = rng.choice((8, 9, 10, 11, 64, 1000, 20_000, 200_000))
        run = min(run, self.max_message_size - 16)
        digits = b"\xff" * run + rng.choice((b"", b"\x01", b"\x7f"))
        roll = rng.random()
        if roll < 0.35:  # the message's own length
            prefix = rng.choice((b"\x00\x00", b"\x00\x01", b"\x00\x02", b"\x01"))
            return self._binary("long-varint", prefix + digits, MALFORMED, True)
        if roll < 0.85:  # inside an update, a state vector, an awareness update
            client = write_var_uint(shadow.doc.client_id)
            prefix, inner = rng.choice(
                (
                    (b"\x00\x02", digits),  # the number of clients
                    (b"\x00\x01", b"\x01" + digits),  # a struct count
                    (b"\x00\x02", b"\x01\x01" + digits),  # a client id
                    (b"\x00\x02", b"\x01\x01" + client + digits),  # a clock
                    (b"\x00\x02", b"\x00\x01" + digits),  # a deleted client
                    (b"\x00\x00", digits),  # state vector entries
                    (b"\x00\x00", b"\x01" + client + digits),  # a clock in a state vector
                    (b"\x01", digits),  # awareness entries
                    (b"\x01", b"\x01" + client + digits),  # an awareness clock
                )
            )
            return self._binary("long-varint", prefix + _var_bytes(inner), MALFORMED, True)
        # overlong but in range (lib0 reads them): the message's length as 2-8 bytes
        message = self.valid_message(shadow)
        kind, _, payload = parse_message(message)
        prefix = message[:2] if kind == 0 else message[:1]
        length = _overlong(len(payload), rng.randint(2, 8))
        return self._binary("long-varint", prefix + length + payload, MALFORMED, False)

    def _huge_length(self, shadow: Shadow) -> Attack:
        rng = self.rng
        client = shadow.doc.client_id
        huge = rng.choice((1 << 31, 1 << 32, 1 << 40, MAX_SAFE_INTEGER))
        var = write_var_uint
        root = var(1) + _var_bytes(ROOT.encode())  # a root parent named "content"
        string = b"\x04" + root  # a string item, no origins, parent written out
        head = var(1) + var(1) + var(client) + var(0)  # one client, one struct, at clock 0
        update_templates = (
            var(huge) + b"\x00",  # clients
            var(1) + var(huge) + var(client) + var(0),  # structs of one client
            head + string + var(huge) + b"abc",  # string bytes
            head + b"\x08" + root + var(huge) + b"\x7f",  # any
            head + b"\x02" + root + var(huge) + b"\x01x",  # json
            head + b"\x03" + root + var(huge),  # binary
            head + b"\x06" + root + var(huge) + b"k",  # format
            b"\x00" + var(huge),  # deleted clients
            b"\x00\x01" + var(client) + var(huge) + b"\x00\x01",  # deleted ranges
            b"\x00\x01" + var(client) + b"\x01" + var(MAX_SAFE_INTEGER - 5) + var(10),  # past 2^53
            var(1) + var(1) + var(client) + var(MAX_SAFE_INTEGER - 2) + string + var(5) + b"abcde",
            var(1) + var(1) + var(MAX_SAFE_INTEGER + 1) + var(0) + string + var(1) + b"a",
            head + b"\x08" + root + b"\x01" + b"\x75\x01" * 70,
            head + bytes((rng.randint(12, 31),)) + root,
            head + b"\x0b" + root + b"\x00",  # move content
            head + b"\x07" + root + var(rng.randint(7, 200)),
            head + string + var(2) + b"\xc3\x28",  # bad UTF-8
        )
        roll = rng.random()
        if roll < 0.55:
            inner = rng.choice(update_templates)
            prefix = rng.choice((b"\x00\x01", b"\x00\x02"))
        elif roll < 0.7:  # state vectors
            inner = rng.choice((var(huge) + b"\x01", var(1) + var(MAX_SAFE_INTEGER + 1) + b"\x00"))
            prefix = b"\x00\x00"
        elif roll < 0.85:  # awareness
            inner = rng.choice(
                (
                    var(huge) + b"\x01",
                    var(1) + var(client) + var(1) + var(huge) + b"{}",
                    var(1) + var(client) + var(1) + _var_bytes(b"{" * 5000),
                    var(1) + var(client) + var(1) + _var_bytes(b"NaN"),
                    var(1) + var(client) + var(1) + _var_bytes(b"\xff\xfe"),
                )
            )
            prefix = b"\x01"
        else:  # the message's own length
            prefix = rng.choice((b"\x00\x00", b"\x00\x01", b"\x00\x02", b"\x01"))
            return self._binary(
                "huge-length", prefix + var(huge) + rng.randbytes(8), MALFORMED, True
            )
        return self._binary("huge-length", prefix + _var_bytes(inner), MALFORMED, True)

    def _oversized(self, shadow: Shadow) -> Attack:
        rng = self.rng
        limit = self.max_message_size
        roll = rng.random()
        if roll < 0.5:  # only the header: the server must not wait for the rest
            declared = rng.choice((limit + 1, limit * 2, 1 << 32, (1 << 63) - 1))
            header = self.frame(0x2, b"", declared=declared)
            return Attack("oversized", header, None, TOO_LARGE, True)
        if roll < 0.8:  # the whole message
            payload = b"\x00\x02" + rng.randbytes(limit - 1 + rng.randint(0, 4096))
            return Attack("oversized", self.frame(0x2, payload), None, TOO_LARGE, True)
        half = b"\x00" * (limit // 2 + 1)  # fragments that fit, adding up past the limit
        wire = self.frame(0x2, half, final=False) + self.frame(0x0, half, final=False)
        return Attack("oversized", wire, None, TOO_LARGE, True)

    def _text(self, shadow: Shadow) -> Attack:
        rng = self.rng
        if rng.random() < 0.5:
            payload = json.dumps({"type": "sync", "data": _chunk(rng)}).encode()
        else:  # a valid message, as text (Latin-1 bytes as UTF-8)
            payload = self.valid_message(shadow).decode("latin-1").encode()
        return Attack("text", self.frame(0x1, payload), None, MALFORMED, True)

    def _protocol(self, shadow: Shadow) -> Attack:
        rng = self.rng
        message = self.valid_message(shadow)
        roll = rng.random()
        if roll < 0.25:
            wire = self.frame(0x2, message, rsv=rng.choice((0x10, 0x20, 0x40, 0x70)))
        elif roll < 0.45:
            wire = ws_frame(0x2, message, masked=False)
        elif roll < 0.55:  # a control frame of 126 bytes or more
            wire = self.frame(rng.choice((0x8, 0x9, 0xA)), rng.randbytes(rng.randint(126, 300)))
        elif roll < 0.65:  # a fragmented control frame
            wire = self.frame(0x9, b"ping", final=False)
        elif roll < 0.8:  # a continuation of nothing
            wire = self.frame(0x0, message)
        else:  # a new message before the fragmented one ended
            cut = rng.randint(0, len(message))
            wire = self.frame(0x2, message[:cut], final=False) + self.frame(0x2, message)
        return Attack("protocol", wire, None, PROTOCOL, True)

    def _unknown_opcode(self, shadow: Shadow) -> Attack:
        opcode = self.rng.choice((3, 4, 5, 6, 7, 0xB, 0xC, 0xD, 0xE, 0xF))
        payload = self.valid_message(shadow) if opcode < 8 else b""
        return Attack("unknown-opcode", self.frame(opcode, payload), None, PROTOCOL, True)

    def _text_invalid_utf8(self, shadow: Shadow) -> Attack:
        payload = self.rng.choice((b"\xff", b"\xc3\x28", b"abc\xed\xa0\x80", b"\xf8\x88\x80\x80"))
        closes = frozenset({CloseCode.INVALID_DATA})
        return Attack("text-invalid-utf8", self.frame(0x1, payload), None, closes, True)


# -- the attacker's connection ----------------------------------------------------------------


class RawClient(WebSocketClient):
    """The load generator's websocket client, able to write arbitrary bytes as well.

    Its waits use no ``asyncio.timeout`` (Python 3.11), since the test suite runs on 3.10, nor
    ``asyncio.wait_for`` on a loop's hot path (on 3.11 it may swallow a cancellation).
    """

    @classmethod
    async def open(
        cls,
        url: str,
        on_message: Callable[[bytes, float], None],
        on_close: Callable[[], None],
        timeout: float = VERDICT_TIMEOUT,
    ) -> RawClient:
        """Open ``ws://host:port/path?query`` and complete the opening handshake.

        Raises:
            WebSocketError: the server did not answer 101 with the right accept key.
            OSError, TimeoutError: no connection within ``timeout`` seconds.
        """
        parts = urlsplit(url)
        if parts.scheme != "ws" or parts.hostname is None:
            raise WebSocketError(f"{url}: only ws://host:port/... URLs are supported")
        client = cls(on_message, on_close)
        target = parts.path + (f"?{parts.query}" if parts.query else "")
        host, port = parts.hostname, parts.port or 80

        async def handshake() -> None:
            loop = asyncio.get_running_loop()
            await loop.create_connection(lambda: client, host, port)
            client.send_raw(
                f"GET {target} HTTP/1.1\r\nHost: {parts.netloc}\r\nUpgrade: websocket\r\n"
                f"Connection: Upgrade\r\nSec-WebSocket-Key: {client._key}\r\n"
                "Sec-WebSocket-Version: 13\r\n\r\n".encode()
            )
            await client._handshake

        try:
            await asyncio.wait_for(handshake(), timeout)
        except BaseException:
            client.abort()
            raise
        return client

    def send_raw(self, data: bytes) -> bool:
        """Write ``data`` as is; return False if the connection is already closing."""
        transport = self._transport
        if transport is None or transport.is_closing():
            return False
        transport.write(data)
        return True

    async def drained(self) -> None:
        """Wait until the socket's buffer has room again (at once if it has)."""
        if self._writable is not None:
            await asyncio.shield(self._writable)

    def abort(self) -> None:
        """Drop the connection without a closing handshake."""
        if self._transport is not None:
            self._transport.abort()

    async def wait_closed(self, timeout: float = VERDICT_TIMEOUT) -> None:
        """Wait until the connection is closed (at most ``timeout`` seconds)."""
        await asyncio.wait([self._closed], timeout=timeout)


@dataclass
class FuzzStats:
    """What the attacker sent and how the server answered."""

    frames: int = 0
    connections: int = 0
    sent: Counter[str] = field(default_factory=Counter)
    """Frames per category."""
    accepted: Counter[str] = field(default_factory=Counter)
    """Frames per category after which the connection stayed open."""
    closes: Counter[int] = field(default_factory=Counter)
    """Close code -> connections closed with it."""
    closed_by: Counter[tuple[str, int]] = field(default_factory=Counter)
    """(category of the frame that was answered by the close, code) -> count."""
    reasons: dict[int, str] = field(default_factory=dict)
    """One close reason per code, as an example."""
    problems: list[str] = field(default_factory=list)
    """Answers the server must not give: unexpected close codes, frames it should have
    refused, frames left unanswered, failed connections."""
    replica_errors: int = 0
    """Updates from the server the attacker's replica could not apply."""

    def merge(self, other: FuzzStats) -> None:
        """Add ``other``'s counts to these."""
        self.frames += other.frames
        self.connections += other.connections
        self.sent.update(other.sent)
        self.accepted.update(other.accepted)
        self.closes.update(other.closes)
        self.closed_by.update(other.closed_by)
        for code, reason in other.reasons.items():
            self.reasons.setdefault(code, reason)
        self.problems.extend(other.problems)
        self.replica_errors += other.replica_errors

    def describe(self) -> str:
        """A few lines: frames per category, accepted, and closes by code."""
        lines = [f"{self.frames} frames on {self.connections} connections"]
        for category, count in sorted(self.sent.items()):
            codes = ", ".join(
                f"{code}: {n}"
                for (name, code), n in sorted(self.closed_by.items())
                if name == category
            )
            lines.append(
                f"  {category:18} {count:7} sent, {self.accepted[category]:7} accepted;"
                f" closed {codes or '-'}"
            )
        closes = ", ".join(f"{code}: {count}" for code, count in sorted(self.closes.items()))
        lines.append(f"closes by code: {closes or '-'}")
        for code, reason in sorted(self.reasons.items()):
            lines.append(f"  e.g. {code}: {reason}")
        return "\n".join(lines)


class _Link:
    """One attacker connection: its socket, its replica and what it has heard."""

    def __init__(self, shadow: Shadow) -> None:
        self.shadow = shadow
        self.client: RawClient | None = None
        self.step2s = 0
        self.closed = False
        self.heard = asyncio.Event()
        self.may_fail_late = False
        """An update it sent may be held, and refused when what it builds on arrives."""

    def on_message(self, message: bytes, arrival: float) -> None:
        if len(message) < 2 or message[0] != 0:
            return  # awareness, auth: nothing to learn
        if message[1] == 0 and self.client is not None:  # the server's step 1, on joining
            try:
                update = self.shadow.doc.get_update(read_message(message[2:]))
            except Exception:
                self.shadow.errors += 1
                return
            if update != EMPTY_UPDATE:  # what the room lacks: edits sent mutated, or refused
                self.client.send_nowait(sync_step2_message(update))
                self.may_fail_late = True
        elif message[1] in (1, 2):
            try:
                update = read_message(message[2:])
            except Exception:
                self.shadow.errors += 1
            else:
                self.shadow.apply(update)
        if message[1] == 1:
            self.step2s += 1
            self.heard.set()

    def on_close(self) -> None:
        self.closed = True
        self.heard.set()

    async def answer(self, step2s: int, timeout: float) -> bool | None:
        """Wait for a step 2 beyond ``step2s`` (True), a close (False), or nothing (None)."""

        expired = False

        def expire() -> None:
            nonlocal expired
            expired = True
            self.heard.set()

        timer = asyncio.get_running_loop().call_later(timeout, expire)
        try:
            while self.step2s <= step2s and not self.closed and not expired:
                self.heard.clear()
                await self.heard.wait()
        finally:
            timer.cancel()
        if self.closed:
            return False
        return True if self.step2s > step2s else None


class Attacker:
    """Sends a fuzzer's frames to a room, one at a time, reconnecting whenever it is closed.

    Args:
        url: the room's websocket URL.
        fuzzer: where frames come from (its generator also seeds the replicas' edits).
        verdict_timeout: seconds the server may take to answer a frame.
    """

    def __init__(
        self, url: str, fuzzer: FrameFuzzer, *, verdict_timeout: float = VERDICT_TIMEOUT
    ) -> None:
        self.url = url
        self.fuzzer = fuzzer
        self.verdict_timeout = verdict_timeout
        self.stats = FuzzStats()
        self._shadow: Shadow | None = None
        self._shadow_connections = 0

    async def run(self, frames: int, deadline: float) -> FuzzStats:
        """Send up to ``frames`` frames, stopping at ``deadline`` (``time.monotonic()``)."""
        stats = self.stats
        failures = 0
        while stats.frames < frames and time.monotonic() < deadline:
            link = await self._open()
            if link is None:
                failures += 1
                if failures >= 5:
                    stats.problems.append(f"gave up after {failures} failed connections in a row")
                    break
                await asyncio.sleep(0.1)
                continue
            failures = 0
            try:
                await self._attack(link, frames, deadline)
            finally:
                await self._close(link)
        if self._shadow is not None:
            stats.replica_errors += self._shadow.errors
        return stats

    def _replica(self) -> Shadow:
        """The attacker's replica, kept across connections (each answers the server's step 1
        with what the room lacks), replaced by a fresh one (a new client id) now and then."""
        shadow = self._shadow
        if shadow is None or shadow.errors or self._shadow_connections >= SHADOW_CONNECTIONS:
            if shadow is not None:
                self.stats.replica_errors += shadow.errors
            rng = random.Random(self.fuzzer.rng.getrandbits(64))
            shadow = self._shadow = Shadow(rng, astral=self.fuzzer.astral)
            self._shadow_connections = 0
        self._shadow_connections += 1
        return shadow

    async def _open(self) -> _Link | None:
        link = _Link(self._replica())
        try:
            link.client = await RawClient.open(
                self.url, link.on_message, link.on_close, self.verdict_timeout
            )
        except Exception as error:
            self.stats.problems.append(f"connection failed: {error!r}")
            return None
        self.stats.connections += 1
        link.client.send_raw(self.fuzzer.frame(0x2, link.shadow.state_message()))
        if await link.answer(0, self.verdict_timeout) is not True:
            code = link.client.close_code
            self.stats.problems.append(f"a new connection was not synced (close code {code})")
            await self._close(link)
            return None
        return link

    async def _attack(self, link: _Link, frames: int, deadline: float) -> None:
        stats, fuzzer = self.stats, self.fuzzer
        client = link.client
        assert client is not None
        while stats.frames < frames and time.monotonic() < deadline:
            attack = fuzzer.next(link.shadow)
            step2s = link.step2s
            wire = attack.wire
            if not attack.answers_itself:  # ask for a step 2 once the frame is handled
                wire += fuzzer.frame(0x2, link.shadow.state_message())
            stats.frames += 1
            stats.sent[attack.category] += 1
            if client.send_raw(wire):
                await client.drained()
                kept = await link.answer(step2s, self.verdict_timeout)
            else:
                kept = False  # closed since the last answer (an update held, then refused)
            if kept is None:
                stats.problems.append(
                    f"no answer within {self.verdict_timeout} s to a {attack.category} frame"
                    f" ({len(attack.wire)} bytes: {attack.wire[:24].hex()}...)"
                )
                client.abort()
                return
            if kept:
                stats.accepted[attack.category] += 1
                if attack.must_close:
                    stats.problems.append(
                        f"a {attack.category} frame was accepted: {attack.wire[:48].hex()}"
                    )
                link.may_fail_late = link.may_fail_late or attack.may_be_held
                continue
            await client.wait_closed()
            self._closed(link, attack)
            return

    def _closed(self, link: _Link, attack: Attack) -> None:
        client = link.client
        assert client is not None
        code = client.close_code if client.close_code is not None else 1006
        stats = self.stats
        stats.closes[code] += 1
        stats.closed_by[(attack.category, code)] += 1
        stats.reasons.setdefault(code, client.close_reason)
        allowed = attack.closes | (MALFORMED if link.may_fail_late else frozenset())
        if code not in allowed:
            expected = "/".join(str(c) for c in sorted(allowed))
            stats.problems.append(
                f"a {attack.category} frame was answered by close {code}"
                f" ({client.close_reason!r}), not {expected}: {attack.wire[:48].hex()}"
            )

    async def _close(self, link: _Link) -> None:
        if link.client is not None and not link.closed:
            with contextlib.suppress(Exception):
                await link.client.close(timeout=2)


# -- the good peers ---------------------------------------------------------------------------

ATTRIBUTES: tuple[dict[str, Any], ...] = (
    {"bold": True},
    {"italic": True},
    {"bold": None},
    {"underline": True, "color": "#c0392b"},
    {"link": "https://jupyter.org"},
    {"header": 2},
)

MAX_TEXT = 1500
"""Characters past which the good peers delete more than they insert."""


class Editor:
    """Random edits of one replica's root text: inserts (some formatted), deletions, formats.

    A position is a character or an embed; pycrdt's offsets count UTF-8 bytes (an embed 1),
    and no edit may split a character. Finding the offsets reads the text, at a cost that
    grows with the document's history (every item ever inserted, deleted ones too, is
    walked): ``str()`` while the text holds no embed, ``diff()`` (~4 times slower) when it
    does; then the editor deletes one of them half of the time, to keep to the first.
    """

    def __init__(self, text: Text, rng: random.Random, *, astral: bool = False) -> None:
        self.text = text
        self.rng = rng
        self.astral = astral
        """Whether it types characters outside the BMP (see :data:`ASTRAL`)."""
        self.refused = 0
        """Edits pycrdt refused (content an attacker got in may be of a kind it cannot edit
        around)."""
        self.errors: list[str] = []
        """What pycrdt said, for the first few."""

    def try_edit(self) -> bool:
        """Make one random edit; return False if pycrdt refused it."""
        try:
            self.edit()
        except BaseException as error:
            if not isinstance(error, Exception) and not _is_panic(error):
                raise
            self.refused += 1
            if len(self.errors) < 3:
                self.errors.append(f"{type(error).__name__}: {error}")
            return False
        return True

    def edit(self) -> None:
        """Make one random edit.

        Raises:
            Exception: what pycrdt raises if it refuses it.
        """
        size, offset, embeds = self.positions()
        rng, text = self.rng, self.text
        roll = rng.random()
        if embeds and roll < 0.5:
            at = offset(rng.choice(embeds))
            del text[at : at + 1]
        elif size == 0 or (roll < 0.55 and size < MAX_TEXT):
            attrs = rng.choice(ATTRIBUTES) if rng.random() < 0.25 else None
            text.insert(offset(rng.randint(0, size)), _chunk(rng, self.astral), attrs)
        elif roll < 0.82 or size >= MAX_TEXT:
            start = rng.randrange(size)
            end = min(size, start + rng.randint(1, 12))
            del text[offset(start) : offset(end)]
        else:
            start = rng.randrange(size)
            end = min(size, start + rng.randint(1, 30))
            text.format(offset(start), offset(end), rng.choice(ATTRIBUTES))

    def positions(self) -> tuple[int, Callable[[int], int], list[int]]:
        """The number of positions, pycrdt's offset of each (and of the end), and the
        positions of the embeds."""
        text = self.text
        content = str(text)  # the characters, without the embeds
        encoded = len(content.encode())
        if encoded == len(text):  # no embed
            if encoded == len(content):
                return encoded, int, []
            return len(content), lambda index: len(content[:index].encode()), []
        offsets, embeds, at = [0], [], 0
        for value, _ in text.diff():
            if isinstance(value, str):
                for character in value:
                    at += len(character.encode())
                    offsets.append(at)
            else:
                embeds.append(len(offsets) - 1)
                at += 1
                offsets.append(at)
        return len(offsets) - 1, offsets.__getitem__, embeds


@dataclass(frozen=True)
class Fingerprint:
    """What must be equal in every replica of the room."""

    state: tuple[tuple[int, int], ...]
    """The state vector, sorted: the same structs everywhere."""
    text: str
    delta: tuple[Any, ...]
    """The root text's formatted delta (pycrdt ``diff()``), nested types as plain values."""

    def clock(self, client: int) -> int:
        """The clock this replica has reached for ``client``."""
        return dict(self.state).get(client, 0)


def fingerprint(doc: Doc[Any]) -> Fingerprint:
    """The state vector, text and formatted delta of a replica."""
    state = parse_state_vector(doc.get_state())
    text = doc.get(ROOT, type=Text)
    delta = tuple((_plain(value), _plain(attrs)) for value, attrs in text.diff())
    clocks = tuple(sorted((client, clock) for client, clock in state.items() if clock))
    return Fingerprint(clocks, str(text), delta)


def divergences(replicas: Mapping[str, Fingerprint]) -> list[str]:
    """Every replica that differs from the first one, and how."""
    items = list(replicas.items())
    if not items:
        return []
    (first, reference), found = items[0], []
    for name, other in items[1:]:
        if other.state != reference.state:
            ours, theirs = dict(reference.state), dict(other.state)
            clients = sorted(c for c in set(ours) | set(theirs) if ours.get(c) != theirs.get(c))
            shown = ", ".join(f"{c}: {ours.get(c)} vs {theirs.get(c)}" for c in clients[:4])
            found.append(f"{name} has another state vector than {first} ({shown})")
        if other.text != reference.text:
            at = _first_difference(reference.text, other.text)
            found.append(
                f"{name}'s text differs from {first}'s at character {at}"
                f" ({len(other.text)} vs {len(reference.text)} characters):"
                f" {other.text[at : at + 20]!r} vs {reference.text[at : at + 20]!r}"
            )
        elif other.delta != reference.delta:
            at = _first_difference(reference.delta, other.delta)
            found.append(
                f"{name}'s formatted delta differs from {first}'s at op {at}:"
                f" {other.delta[at : at + 1]!r} vs {reference.delta[at : at + 1]!r}"
            )
    return found


def lost_edits(authors: Mapping[str, tuple[int, int]], final: Fingerprint) -> list[str]:
    """Good peers whose own edits are not all in ``final``.

    Args:
        authors: name -> (its client id, the clock its own replica reached for it).
    """
    return [
        f"{name} made edits up to clock {clock} but the room has {final.clock(client)}"
        for name, (client, clock) in authors.items()
        if final.clock(client) < clock
    ]


# -- helpers ----------------------------------------------------------------------------------

_LETTERS = "abcdefghijklmnopqrstuvwxyz      \n"


def _chunk(rng: random.Random, astral: bool = False) -> str:
    size = rng.choice((1, 1, 1, 2, 3, 5, 12))
    return "".join(
        rng.choice(WIDE + ASTRAL if astral else WIDE)
        if rng.random() < 0.05
        else rng.choice(_LETTERS)
        for _ in range(size)
    )


def _word(rng: random.Random) -> str:
    return "".join(rng.choice("abcdefghij") for _ in range(rng.randint(1, 6)))


def _any_value(rng: random.Random, depth: int) -> Any:
    roll = rng.random()
    if depth > 0 and roll < 0.2:
        return {_word(rng): _any_value(rng, depth - 1) for _ in range(rng.randint(0, 3))}
    if depth > 0 and roll < 0.35:
        return [_any_value(rng, depth - 1) for _ in range(rng.randint(0, 3))]
    return rng.choice(
        (
            None,
            True,
            False,
            rng.randint(-(2**40), 2**40),
            rng.random() * 1e6,
            _chunk(rng),
            b"\x00\x01",
        )
    )


def _awareness_state(rng: random.Random) -> str:
    if rng.random() < 0.1:
        return "null"
    return json.dumps(
        {
            "user": {"name": _word(rng), "color": f"#{rng.getrandbits(24):06x}"},
            "cursor": {"anchor": rng.randint(0, 100), "head": rng.randint(0, 100)},
        }
    )


def _first_difference(one: Sequence[Any], other: Sequence[Any]) -> int:
    """The first index where two sequences differ (the shorter one's length if one is a prefix)."""
    for index, (a, b) in enumerate(zip(one, other, strict=False)):
        if a != b:
            return index
    return min(len(one), len(other))


def _var_bytes(data: bytes) -> bytes:
    return write_var_uint(len(data)) + data


def _state_vector(state: Mapping[int, int]) -> bytes:
    parts = [write_var_uint(len(state))]
    for client, clock in state.items():
        parts += (write_var_uint(client), write_var_uint(clock))
    return b"".join(parts)


def _overlong(value: int, size: int) -> bytes:
    """``value`` as a LEB128 integer of at least ``size`` bytes (padded with continuations)."""
    data = bytearray(write_var_uint(value))
    while len(data) < size:
        data[-1] |= 0x80
        data.append(0)
    return bytes(data)


def _plain(value: Any) -> Any:
    """A delta value comparable across replicas: nested shared types as their content."""
    if isinstance(value, Doc):
        return ("Doc", str(value.guid))
    if isinstance(value, Text | Map | Array | XmlFragment | XmlElement | XmlText):
        try:
            return (type(value).__name__, repr(value.to_py()))
        except Exception as error:
            return (type(value).__name__, f"unreadable: {error}")
    if isinstance(value, dict):
        return tuple(sorted((key, _plain(item)) for key, item in value.items()))
    if isinstance(value, list):
        return tuple(_plain(item) for item in value)
    return value
