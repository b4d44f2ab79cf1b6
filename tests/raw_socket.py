"""A websocket client with no library in between, to send frames byte by byte."""

from __future__ import annotations

import asyncio
import base64
import os
import socket
from urllib.parse import urlsplit

from benchmarks.fuzzing import ws_frame


def frame(
    opcode: int, payload: bytes, *, final: bool = True, rsv: int = 0, masked: bool = True
) -> bytes:
    """A client frame with a random mask, as RFC 6455 requires unless ``masked`` is False."""
    return ws_frame(opcode, payload, final=final, rsv=rsv, masked=masked, mask=os.urandom(4))


class RawSocket:
    """A websocket client with no library in between: we choose every byte and every write."""

    def __init__(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        self.reader = reader
        self.writer = writer

    @classmethod
    async def open(cls, url: str, *, receive_buffer: int | None = None) -> RawSocket:
        """Connect and upgrade; ``receive_buffer`` shrinks the socket's kernel buffer (bytes)."""
        parts = urlsplit(url)
        sock = socket.socket()
        if receive_buffer is not None:  # before connecting, so the TCP window follows it
            sock.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, receive_buffer)
        sock.setblocking(False)
        await asyncio.get_running_loop().sock_connect(sock, (parts.hostname, parts.port))
        reader, writer = await asyncio.open_connection(sock=sock, limit=2**16)
        key = base64.b64encode(os.urandom(16)).decode()
        writer.write(
            (
                f"GET {parts.path}?{parts.query} HTTP/1.1\r\nHost: {parts.netloc}\r\n"
                "Upgrade: websocket\r\nConnection: Upgrade\r\n"
                f"Sec-WebSocket-Key: {key}\r\nSec-WebSocket-Version: 13\r\n\r\n"
            ).encode()
        )
        head = await asyncio.wait_for(reader.readuntil(b"\r\n\r\n"), 10)
        assert head.startswith(b"HTTP/1.1 101"), head
        return cls(reader, writer)

    async def send(self, data: bytes, piece: int | None = None) -> None:
        """Write ``data`` at once, or in ``piece``-byte writes that arrive separately."""
        if piece is None:
            self.writer.write(data)
            await self.writer.drain()
            return
        for start in range(0, len(data), piece):
            self.writer.write(data[start : start + piece])
            await self.writer.drain()
            await asyncio.sleep(0.0005)

    async def next_frame(self) -> tuple[int, bytes]:
        """The server's next frame (servers do not mask): (opcode, payload)."""
        first, second = await self.reader.readexactly(2)
        length = second & 0x7F
        if length == 126:
            length = int.from_bytes(await self.reader.readexactly(2), "big")
        elif length == 127:
            length = int.from_bytes(await self.reader.readexactly(8), "big")
        return first & 0x0F, await self.reader.readexactly(length)

    async def frame_with(self, opcode: int, timeout: float = 10) -> bytes:
        async def find() -> bytes:
            while True:
                code, payload = await self.next_frame()
                if code == opcode:
                    return payload

        return await asyncio.wait_for(find(), timeout)

    def close(self) -> None:
        self.writer.close()


async def until_eof(sock: RawSocket) -> None:
    """Read until the server closes the connection."""
    while await sock.reader.read(65536):
        pass
