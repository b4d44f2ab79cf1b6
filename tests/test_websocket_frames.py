"""Websocket framing as rooms receive it, driven byte by byte over a raw TCP connection."""

from __future__ import annotations

import asyncio
from typing import Any

import pytest
from pycrdt import Doc, Text, create_update_message
from traitlets.config import Config

from jupyter_ysync.protocol import CloseCode
from tests.documents import edits
from tests.raw_peer import RawPeer
from tests.raw_socket import RawSocket, frame, until_eof

MAX_MESSAGE = 256 * 1024
LARGE = 192 * 1024  # more than one socket read


@pytest.fixture
def jp_server_config(jp_server_config: Config) -> Config:
    jp_server_config.YSyncApp.max_message_size = MAX_MESSAGE
    return jp_server_config


def messages_of(count: int) -> tuple[list[bytes], str]:
    """``count`` updates as y-websocket messages, and the text they make."""
    updates, text = edits(count)
    return [create_update_message(update) for update in updates], text


async def text_seen_by_a_new_peer(url: str, expected: str) -> None:
    peer = await RawPeer(url).connect()
    await peer.wait_for(lambda: str(peer.text) == expected)
    await peer.close()


@pytest.mark.parametrize("piece", [None, 3, 1000], ids=["one-write", "3-byte-writes", "1000"])
async def test_every_frame_of_a_burst_is_applied_however_the_bytes_arrive(piece, ysync_ws_url):
    messages, expected = messages_of(300)
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
    messages, expected = messages_of(1)
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
    messages, expected = messages_of(2)
    good = await RawSocket.open(ysync_ws_url("rsv"))
    bad = await RawSocket.open(ysync_ws_url("rsv"))
    await bad.send(frame(0x2, messages[0], rsv=0x40))  # RSV1: an extension nobody agreed on
    await asyncio.wait_for(until_eof(bad), 10)
    await good.send(b"".join(frame(0x2, message) for message in messages))
    await text_seen_by_a_new_peer(ysync_ws_url("rsv"), expected)
    good.close()
    bad.close()
