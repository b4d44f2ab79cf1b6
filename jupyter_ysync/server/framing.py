"""Websocket framing for rooms: frames encoded once for every peer, and the frames we accept.

A room encodes each outgoing message as one unmasked binary frame, once, and writes the same
bytes to every peer (:func:`websocket_frame`). :class:`RoomProtocol` is tornado's RFC 6455
protocol with our own frame reader: it refuses unmasked client frames (§5.1) and frames with
reserved bits, and reports "message too big" (1009) as our 4413, with what to do about it.
"""

from __future__ import annotations

import struct

from tornado.util import _websocket_mask
from tornado.websocket import WebSocketProtocol13

from ..protocol import CloseCode


def websocket_frame(*parts: bytes) -> bytes:
    """Frame the message made of ``parts`` as one unmasked binary frame (server to client),
    copying each part once."""
    length = sum(map(len, parts)) if len(parts) > 1 else len(parts[0])
    if length < 126:
        header = bytes((0x82, length))
    elif length <= 0xFFFF:
        header = struct.pack("!BBH", 0x82, 126, length)
    else:
        header = struct.pack("!BBQ", 0x82, 127, length)
    return b"".join((header, *parts))


def close_reason(reason: str) -> str:
    """Cut ``reason`` to the 123 bytes a close frame carries."""
    data = reason.encode()
    return reason if len(data) <= 123 else data[:120].decode(errors="ignore") + "..."


PROTOCOL_ERROR = CloseCode.PROTOCOL_ERROR

_OPCODES = frozenset((0x0, 0x1, 0x2, 0x8, 0x9, 0xA))
"""Continuation, text, binary, close, ping, pong: the others are reserved (§5.2)."""


class RoomProtocol(WebSocketProtocol13):
    """Tornado's protocol for room sockets: our frame reader, and 1009 reported as 4413."""

    max_message_size: int = 0

    def _fail(self, code: int, reason: str) -> None:
        """Send a close frame saying what was wrong, then drop the connection (§7.1.7)."""
        self.close(code, reason)
        self._abort()

    async def _receive_frame(self) -> None:
        """Read one client frame (RFC 6455 §5.2); hand complete messages to the handler."""
        header, second = await self._read_bytes(2)
        final = header & 0x80
        opcode = header & 0x0F
        control = opcode & 0x08
        if header & 0x70:
            self._fail(PROTOCOL_ERROR, "reserved bits set: no extension was negotiated")
            return
        if not second & 0x80:
            self._fail(PROTOCOL_ERROR, "unmasked frame: a client must mask every frame")
            return
        length = second & 0x7F
        if opcode not in _OPCODES:
            self._fail(PROTOCOL_ERROR, f"unknown opcode {opcode}")
            return
        if control and (length >= 126 or not final):
            self._fail(PROTOCOL_ERROR, "control frames must be final and under 126 bytes")
            return
        if length == 126:
            (length,) = struct.unpack("!H", await self._read_bytes(2))
        elif length == 127:
            (length,) = struct.unpack("!Q", await self._read_bytes(8))
        fragments = self._fragmented_message_buffer
        total = length + (len(fragments) if fragments is not None and not control else 0)
        if total > self.params.max_message_size:
            self._fail(CloseCode.MESSAGE_TOO_BIG, "message too big")
            return
        mask = await self._read_bytes(4)
        data = _websocket_mask(mask, await self._read_bytes(length)) if length else b""
        if not control:
            if opcode == 0:  # continuation
                if fragments is None:
                    self._fail(PROTOCOL_ERROR, "a continuation frame continues nothing")
                    return
                fragments.extend(data)
                if not final:
                    return
                opcode = self._fragmented_message_opcode  # type: ignore[assignment]
                data = bytes(fragments)
                self._fragmented_message_buffer = None
            elif fragments is not None:
                self._fail(PROTOCOL_ERROR, "a new message began before the last one ended")
                return
            elif not final:
                self._fragmented_message_opcode = opcode  # type: ignore[assignment]
                self._fragmented_message_buffer = bytearray(data)
                return
        if opcode == 0x1:
            try:
                data.decode()
            except UnicodeDecodeError:
                self._fail(CloseCode.INVALID_DATA, "a text frame that is not UTF-8")
                return
        handled = self._handle_message(opcode, data)
        if handled is not None:
            await handled

    def close(self, code: int | None = None, reason: str | None = None) -> None:
        if code == CloseCode.MESSAGE_TOO_BIG:
            code = CloseCode.TOO_LARGE
            reason = close_reason(
                f"message larger than {self.max_message_size} bytes;"
                " raise YSyncApp.max_message_size on the server"
            )
        super().close(code, reason)
