"""Websocket framing as rooms receive it, driven byte by byte over a raw TCP connection."""

from __future__ import annotations

import asyncio
import base64
import os
from typing import Any
from urllib.parse import urlsplit

import pytest
from pycrdt import Doc, Text, create_update_message
from traitlets.config import Config

from jupyter_ysync.protocol import CloseCode
from tests.raw_peer import RawPeer

MAX_MESSAGE = 256 * 1024
LARGE = 192 * 1024  # more than one socket read


@pytest.fixture
def jp_server_config(jp_server_config: Config) -> Config:
    jp_server_config.YSyncApp.max_message_size = MAX_MESSAGE
    return jp_server_config


def frame(opcode: int, payload: bytes, *, final: bool = True, rsv: int = 0) -> bytes:
    """A masked client frame."""
    head = bytes(((0x80 if final else 0) | rsv | opcode,))
    length = len(payload)
    if length < 126:
        head += bytes((0x80 | length,))
    elif length <= 0xFFFF:
        head += bytes((0x80 | 126,)) + length.to_bytes(2, "big")
    else:
        head += bytes((0x80 | 127,)) + length.to_bytes(8, "big")
    mask = os.urandom(4)
    return head + mask + bytes(b ^ mask[i % 4] for i, b in enumerate(payload))


class RawSocket:
    """A websocket client with no library in between: we choose every byte and every write."""

    def __init__(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        self.reader = reader
        self.writer = writer

    @classmethod
    async def open(cls, url: str) -> RawSocket:
        parts = urlsplit(url)
        reader, writer = await asyncio.open_connection(parts.hostname, parts.port)
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


def edits(count: int) -> tuple[list[bytes], str]:
    """``count`` one-character updates as y-websocket messages, and the text they make."""
    doc: Doc[Any] = Doc()
    text = doc.get("content", type=Text)
    messages: list[bytes] = []
    doc.observe(lambda event: messages.append(create_update_message(event.update)))
    for index in range(count):
        text.insert(index, "abcdefghij"[index % 10])
    return messages, str(text)


async def text_seen_by_a_new_peer(url: str, expected: str) -> None:
    peer = await RawPeer(url).connect()
    await peer.wait_for(lambda: str(peer.text) == expected)
    await peer.close()


@pytest.mark.parametrize("piece", [None, 3, 1000], ids=["one-write", "3-byte-writes", "1000"])
async def test_every_frame_of_a_burst_is_applied_however_the_bytes_arrive(piece, ysync_ws_url):
    messages, expected = edits(300)
    sock = await RawSocket.open(ysync_ws_url("burst"))
    await sock.send(b"".join(frame(0x2, message) for message in messages), piece)
    await text_seen_by_a_new_peer(ysync_ws_url("burst"), expected)
    sock.close()


async def test_a_message_larger_than_one_read_is_applied(ysync_ws_url):
    doc: Doc[Any] = Doc()
    doc.get("content", type=Text).insert(0, "large " * (LARGE // 6))
    message = create_update_message(doc.get_update())
    assert LARGE < len(message) < MAX_MESSAGE
    sock = await RawSocket.open(ysync_ws_url("large"))
    await sock.send(frame(0x2, message), piece=32 * 1024 + 7)
    await text_seen_by_a_new_peer(ysync_ws_url("large"), str(doc.get("content", type=Text)))
    sock.close()


async def test_fragments_are_reassembled_around_a_ping(ysync_ws_url):
    messages, expected = edits(1)
    message = messages[0]
    sock = await RawSocket.open(ysync_ws_url("fragments"))
    third = len(message) // 3
    await sock.send(
        frame(0x2, message[:third], final=False)
        + frame(0x9, b"are you there")
        + frame(0x0, message[third : 2 * third], final=False)
    )
    assert await sock.frame_with(0xA) == b"are you there"
    await sock.send(frame(0x0, message[2 * third :]), piece=2)
    await text_seen_by_a_new_peer(ysync_ws_url("fragments"), expected)
    sock.close()


async def test_fragments_adding_up_past_the_limit_close_with_4413(ysync_ws_url):
    sock = await RawSocket.open(ysync_ws_url("too-big"))
    piece = b"\x00" * (MAX_MESSAGE // 2 + 1)  # each fragment fits; together they do not
    await sock.send(frame(0x2, piece, final=False) + frame(0x0, piece, final=False))
    close = await sock.frame_with(0x8)
    assert int.from_bytes(close[:2], "big") == CloseCode.TOO_LARGE
    assert b"max_message_size" in close[2:]
    sock.close()


async def test_a_frame_with_reserved_bits_drops_only_that_connection(ysync_ws_url):
    messages, expected = edits(2)
    good = await RawSocket.open(ysync_ws_url("rsv"))
    bad = await RawSocket.open(ysync_ws_url("rsv"))
    await bad.send(frame(0x2, messages[0], rsv=0x40))  # RSV1: an extension nobody agreed on
    await asyncio.wait_for(_until_eof(bad), 10)
    await good.send(b"".join(frame(0x2, message) for message in messages))
    await text_seen_by_a_new_peer(ysync_ws_url("rsv"), expected)
    good.close()
    bad.close()


async def _until_eof(sock: RawSocket) -> None:
    while await sock.reader.read(65536):
        pass
