"""Websocket framing for rooms: frames encoded once for every peer, and the close codes we send.

A room encodes each outgoing message as one unmasked binary frame, once, and writes the same
bytes to every peer (:func:`websocket_frame`). :class:`RoomProtocol` is tornado's RFC 6455
protocol reporting "message too big" (1009) as our 4413, with what to do about it.
"""

from __future__ import annotations

import struct

from tornado.websocket import WebSocketProtocol13

from ..protocol import CloseCode


def websocket_frame(message: bytes) -> bytes:
    """Frame ``message`` as one unmasked binary websocket frame (server to client)."""
    length = len(message)
    if length < 126:
        return bytes((0x82, length)) + message
    if length <= 0xFFFF:
        return struct.pack("!BBH", 0x82, 126, length) + message
    return struct.pack("!BBQ", 0x82, 127, length) + message


def close_reason(reason: str) -> str:
    """Cut ``reason`` to the 123 bytes a close frame carries."""
    data = reason.encode()
    return reason if len(data) <= 123 else data[:120].decode(errors="ignore") + "..."


class RoomProtocol(WebSocketProtocol13):
    """Tornado's protocol for room sockets, with 1009 reported as 4413."""

    max_message_size: int = 0

    def close(self, code: int | None = None, reason: str | None = None) -> None:
        if code == 1009:
            code = CloseCode.TOO_LARGE
            reason = close_reason(
                f"message larger than {self.max_message_size} bytes;"
                " raise YSyncApp.max_message_size on the server"
            )
        super().close(code, reason)
