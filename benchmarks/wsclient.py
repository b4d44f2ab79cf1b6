"""A lean RFC 6455 websocket client for the load generator, on an asyncio ``Protocol``.

The generator runs hundreds of peers in one process, on the two cores it shares with the
server. With a general-purpose client library, receiving one small message cost the
generator about 40 µs; a paced update delivered to 50 readers then waited ~2 ms for the
generator alone, and latency measured the generator rather than the server. Here a
message costs a few µs: frames are parsed where the bytes arrive (``data_received``) and
handed over with their arrival time, with no task switch in between.

It speaks what y-websocket needs: binary messages (fragmented or not), masked client
frames, ping/pong and the closing handshake; no extensions.

Example::

    client = await WebSocketClient.connect(url, on_message=print)
    await client.send(b"...")
    await client.close()
"""

from __future__ import annotations

import asyncio
import base64
import hashlib
import os
import time
from collections.abc import Callable
from urllib.parse import urlsplit

try:
    from websockets.speedups import apply_mask  # C, shipped with websockets
except ImportError:  # pragma: no cover - pure-Python fallback
    from websockets.utils import apply_mask

GUID = "258EAFA5-E914-47DA-95CA-C5AB0DC85B11"

MessageHandler = Callable[[bytes, float], None]
"""Called with each complete binary message and when its last byte arrived (perf_counter)."""


class WebSocketError(Exception):
    """The handshake failed or the server broke the protocol."""


class WebSocketClient(asyncio.Protocol):
    """One websocket connection; messages go to ``on_message`` as they arrive."""

    close_code: int | None
    close_reason: str

    def __init__(self, on_message: MessageHandler, on_close: Callable[[], None]) -> None:
        loop = asyncio.get_running_loop()
        self._on_message = on_message
        self._on_close = on_close
        self._transport: asyncio.Transport | None = None
        self._handshake: asyncio.Future[None] = loop.create_future()
        self._closed: asyncio.Future[None] = loop.create_future()
        self._key = base64.b64encode(os.urandom(16)).decode()
        self._buffer = bytearray()
        self._fragments: bytearray | None = None
        self._fragments_opcode = 0x2
        self._open = False
        self._close_sent = False
        self._writable: asyncio.Future[None] | None = None
        self.close_code = None
        self.close_reason = ""

    @classmethod
    async def connect(
        cls,
        url: str,
        on_message: MessageHandler,
        on_close: Callable[[], None] = lambda: None,
        timeout: float = 30.0,
    ) -> WebSocketClient:
        """Open ``ws://host:port/path?query`` and complete the opening handshake.

        Raises:
            WebSocketError: the server did not answer 101 with the right accept key.
            OSError, TimeoutError: no connection within ``timeout`` seconds.
        """
        parts = urlsplit(url)
        if parts.scheme != "ws" or parts.hostname is None:
            raise WebSocketError(f"{url}: only ws://host:port/... URLs are supported")
        loop = asyncio.get_running_loop()
        client = cls(on_message, on_close)
        target = parts.path or "/"
        if parts.query:
            target += "?" + parts.query
        async with asyncio.timeout(timeout):
            await loop.create_connection(lambda: client, parts.hostname, parts.port or 80)
            assert client._transport is not None
            client._transport.write(
                (
                    f"GET {target} HTTP/1.1\r\nHost: {parts.netloc}\r\n"
                    "Upgrade: websocket\r\nConnection: Upgrade\r\n"
                    f"Sec-WebSocket-Key: {client._key}\r\nSec-WebSocket-Version: 13\r\n\r\n"
                ).encode()
            )
            try:
                await client._handshake
            except BaseException:
                client._transport.abort()
                raise
        return client

    # -- sending ---------------------------------------------------------------------------

    async def send(self, message: bytes) -> None:
        """Send one binary message; wait only if the socket's buffer is full."""
        self._write_frame(0x2, message)
        if self._writable is not None:
            await asyncio.shield(self._writable)

    def send_nowait(self, message: bytes) -> None:
        """Send one binary message now, in order with everything sent before (no waiting)."""
        self._write_frame(0x2, message)

    async def close(self, timeout: float = 5.0) -> None:
        """Run the closing handshake (1000), then drop the connection."""
        if self._transport is None:
            return
        if not self._closed.done():
            self._send_close(1000)
            try:
                async with asyncio.timeout(timeout):
                    await asyncio.shield(self._closed)
            except TimeoutError:
                pass
        self._transport.abort()

    @property
    def closed(self) -> bool:
        return self._closed.done()

    def _send_close(self, code: int) -> None:
        if not self._close_sent:
            self._close_sent = True
            self._write_frame(0x8, code.to_bytes(2, "big"))

    def _write_frame(self, opcode: int, payload: bytes) -> None:
        transport = self._transport
        if transport is None or transport.is_closing():
            raise ConnectionError(f"websocket closed ({self.close_code} {self.close_reason})")
        length = len(payload)
        if length < 126:
            head = bytes((0x80 | opcode, 0x80 | length))
        elif length < 1 << 16:
            head = bytes((0x80 | opcode, 0x80 | 126)) + length.to_bytes(2, "big")
        else:
            head = bytes((0x80 | opcode, 0x80 | 127)) + length.to_bytes(8, "big")
        mask = os.urandom(4)
        transport.write(head + mask + apply_mask(payload, mask))

    # -- asyncio.Protocol ------------------------------------------------------------------

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        assert isinstance(transport, asyncio.Transport)
        self._transport = transport

    def pause_writing(self) -> None:
        if self._writable is None:
            self._writable = asyncio.get_running_loop().create_future()

    def resume_writing(self) -> None:
        writable, self._writable = self._writable, None
        if writable is not None and not writable.done():
            writable.set_result(None)

    def connection_lost(self, exc: Exception | None) -> None:
        if not self._handshake.done():
            self._handshake.set_exception(
                WebSocketError(f"connection lost during the handshake: {exc!r}")
            )
        if self.close_code is None:
            self.close_code = 1006
            self.close_reason = repr(exc) if exc else "connection lost without a close frame"
        if not self._closed.done():
            self._closed.set_result(None)
        self.resume_writing()
        self._on_close()

    def data_received(self, data: bytes) -> None:
        arrival = time.perf_counter()
        buffer = self._buffer
        buffer += data
        if not self._open:
            end = buffer.find(b"\r\n\r\n")
            if end < 0:
                return
            self._check_handshake(bytes(buffer[:end]).decode("latin-1"))
            del buffer[: end + 4]
            if self._open and buffer:
                # Frames that came with the handshake wait until connect() has returned, so
                # that the handler can already reply through the client.
                asyncio.get_running_loop().call_soon(self.data_received, b"")
            return
        start, size = 0, len(buffer)
        while size - start >= 2:
            first, second = buffer[start], buffer[start + 1]
            length = second & 0x7F
            header = 2
            if length == 126:
                header = 4
                if size - start < header:
                    break
                length = int.from_bytes(buffer[start + 2 : start + 4], "big")
            elif length == 127:
                header = 10
                if size - start < header:
                    break
                length = int.from_bytes(buffer[start + 2 : start + 10], "big")
            if second & 0x80:
                self._fail("the server masked a frame")
                return
            end = start + header + length
            if end > size:
                break
            payload = bytes(buffer[start + header : end])
            start = end
            if not self._frame(first & 0x80, first & 0x0F, payload, arrival):
                return
        del buffer[:start]

    def _frame(self, final: int, opcode: int, payload: bytes, arrival: float) -> bool:
        if opcode == 0x8:
            if len(payload) >= 2:
                self.close_code = int.from_bytes(payload[:2], "big")
                self.close_reason = payload[2:].decode(errors="replace")
            else:
                self.close_code = 1005
            if self._transport is not None and not self._transport.is_closing():
                self._send_close(self.close_code if self.close_code != 1005 else 1000)
                self._transport.close()
            return False
        if opcode == 0x9:
            self._write_frame(0xA, payload)
            return True
        if opcode == 0xA:
            return True
        if opcode == 0x0:
            if self._fragments is None:
                self._fail("a continuation frame with no message to continue")
                return False
            self._fragments += payload
            if not final:
                return True
            payload, self._fragments = bytes(self._fragments), None
            opcode = self._fragments_opcode
        elif not final:
            self._fragments, self._fragments_opcode = bytearray(payload), opcode
            return True
        if opcode == 0x2:
            self._on_message(payload, arrival)
        return True  # text frames: not y-websocket, ignored

    def _check_handshake(self, head: str) -> None:
        status, _, rest = head.partition("\r\n")
        headers = {}
        for line in rest.split("\r\n"):
            name, _, value = line.partition(":")
            headers[name.strip().lower()] = value.strip()
        expected = base64.b64encode(hashlib.sha1((self._key + GUID).encode()).digest()).decode()
        if status.split(" ")[1:2] != ["101"]:
            error = WebSocketError(f"the server answered {status!r}, not 101")
        elif headers.get("sec-websocket-accept") != expected:
            error = WebSocketError("the server's Sec-WebSocket-Accept does not match our key")
        else:
            self._open = True
            self._handshake.set_result(None)
            return
        self._handshake.set_exception(error)
        assert self._transport is not None
        self._transport.abort()

    def _fail(self, reason: str) -> None:
        self.close_code, self.close_reason = 1002, reason
        if self._transport is not None:
            self._transport.abort()
