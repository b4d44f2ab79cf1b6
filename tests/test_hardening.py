"""What hostile, buggy and heavy input does to a room, over real websockets and a real server."""

from __future__ import annotations

import asyncio
from typing import Any

import pytest
from pycrdt import Doc, Text, create_awareness_message, create_update_message
from traitlets.config import Config

from jupyter_ysync.protocol import CloseCode
from jupyter_ysync.updates import replay
from tests.hostile import PANICKING, PARENT_IS_NOT_A_TYPE, PARENT_OWNER
from tests.raw_peer import RawPeer
from tests.raw_socket import RawSocket, frame, until_eof
from tests.waiting import eventually

SEND_TIMEOUT = 1.0


@pytest.fixture
def jp_server_config(jp_server_config: Config) -> Config:
    jp_server_config.YSyncApp.send_timeout = SEND_TIMEOUT
    jp_server_config.ServerApp.tornado_settings = {"ws_ping_interval": 300}
    return jp_server_config


def room_text(app: Any, name: str) -> str:
    return str(app.manager.rooms[name].doc.get("content", type=Text))


async def stored_text(app: Any, name: str) -> str:
    doc: Doc[Any] = Doc()
    replay(doc, await app.store.load(name))
    return str(doc.get("content", type=Text))


async def joiner_text(url: str, expected: str) -> str:
    peer = await RawPeer(url).connect()
    await peer.wait_for(lambda: str(peer.text) == expected)
    await peer.close()
    return str(peer.text)


async def synced(*peers: RawPeer) -> None:
    await asyncio.wait_for(asyncio.gather(*(p.synced.wait() for p in peers)), 10)


async def test_a_clock_gap_is_held_until_filled_and_then_reaches_everyone(ysync_ws_url, ysync_app):
    """Yrs integrated the gap update unseen: joiners saw text the peers never got."""
    url = ysync_ws_url("gap")
    writer = await RawPeer(url).connect()
    reader = await RawPeer(url).connect()
    await synced(writer, reader)
    writer.text += "hello"
    await reader.wait_for(lambda: str(reader.text) == "hello")
    offline: Doc[Any] = Doc(client_id=424242)
    offline.apply_update(writer.doc.get_update())
    text = offline.get("content", type=Text)
    text.insert(0, "zz")
    after_zz = offline.get_state()
    first = offline.get_update(writer.doc.get_state())
    text.insert(5, "fmt")
    sender = await RawPeer(url).connect(sync=False)
    await sender.ws.send(create_update_message(offline.get_update(after_zz)))
    room = ysync_app.manager.rooms["gap"]
    await eventually(lambda: any(room.held(peer) for peer in room.peers), what="update held")
    # What the replica holds, the store holds and every peer was sent: "hello" everywhere.
    assert room_text(ysync_app, "gap") == await stored_text(ysync_app, "gap") == "hello"
    assert str(reader.text) == "hello"
    assert await joiner_text(url, "hello") == "hello"
    await sender.ws.send(create_update_message(first))
    await reader.wait_for(lambda: str(reader.text) == "zzhelfmtlo")
    await writer.wait_for(lambda: str(writer.text) == "zzhelfmtlo")
    assert await stored_text(ysync_app, "gap") == room_text(ysync_app, "gap") == "zzhelfmtlo"
    for peer in (writer, reader, sender):
        await peer.close()


async def test_an_update_yrs_refuses_closes_only_its_sender(ysync_ws_url, ysync_app):
    """It closed every peer with 1011 and reloaded the room."""
    url = ysync_ws_url("refused")
    owner = await RawPeer(url).connect()
    reader = await RawPeer(url).connect()
    await synced(owner, reader)
    source: Doc[Any] = Doc(client_id=PARENT_OWNER)
    source.get("content", type=Text).insert(0, "hello world")
    await owner.ws.send(create_update_message(source.get_update()))
    await reader.wait_for(lambda: str(reader.text) == "hello world")
    bad = await RawPeer(url).connect()
    await synced(bad)
    await bad.ws.send(create_update_message(PARENT_IS_NOT_A_TYPE))
    await bad.wait_for(lambda: bad.closed.is_set())
    assert bad.close_code == CloseCode.MALFORMED and "update refused" in bad.close_reason
    owner.text += "!"
    await reader.wait_for(lambda: str(reader.text) == "hello world!")
    assert not owner.closed.is_set() and not reader.closed.is_set()
    assert await stored_text(ysync_app, "refused") == "hello world!"
    await owner.close()
    await reader.close()


async def test_a_good_update_and_a_bad_one_in_one_write_keep_the_good_one(ysync_ws_url, ysync_app):
    """A Yrs panic escaped the room: the good update was applied but never stored or sent."""
    url = ysync_ws_url("one-write")
    reader = await RawPeer(url).connect()
    await synced(reader)
    good: Doc[Any] = Doc(client_id=5)
    good.get("content", type=Text).insert(0, "kept")
    sock = await RawSocket.open(url)
    await sock.send(
        frame(0x2, create_update_message(good.get_update()))
        + frame(0x2, create_update_message(PANICKING))
    )
    close = await sock.frame_with(0x8)
    assert int.from_bytes(close[:2], "big") == CloseCode.MALFORMED
    await reader.wait_for(lambda: str(reader.text) == "kept")
    assert await stored_text(ysync_app, "one-write") == "kept"
    sock.close()
    await reader.close()


async def test_frames_after_a_malformed_one_in_the_same_write_are_not_applied(ysync_ws_url):
    url = ysync_ws_url("after-4400")
    writer = await RawPeer(url).connect()
    reader = await RawPeer(url).connect()
    await synced(writer, reader)
    later: Doc[Any] = Doc(client_id=6)
    later.get("content", type=Text).insert(0, "smuggled")
    sock = await RawSocket.open(url)
    await sock.send(frame(0x2, b"\x09") + frame(0x2, create_update_message(later.get_update())))
    close = await sock.frame_with(0x8)
    assert int.from_bytes(close[:2], "big") == CloseCode.MALFORMED
    writer.text += "sentinel"  # once it arrives, the smuggled frame was dealt with
    await reader.wait_for(lambda: "sentinel" in str(reader.text))
    assert "smuggled" not in str(reader.text)
    sock.close()
    await writer.close()
    await reader.close()


async def test_unmasked_client_frames_are_refused(ysync_ws_url):
    """RFC 6455 §5.1: a server must close the connection on an unmasked client frame."""
    url = ysync_ws_url("unmasked")
    writer = await RawPeer(url).connect()
    reader = await RawPeer(url).connect()
    await synced(writer, reader)
    doc: Doc[Any] = Doc(client_id=8)
    doc.get("content", type=Text).insert(0, "unmasked")
    sock = await RawSocket.open(url)
    await sock.send(frame(0x2, create_update_message(doc.get_update()), masked=False))
    close = await sock.frame_with(0x8)
    assert int.from_bytes(close[:2], "big") == CloseCode.PROTOCOL_ERROR
    assert b"mask" in close[2:]
    await asyncio.wait_for(until_eof(sock), 10)
    sock.close()
    writer.text += "sentinel"
    await reader.wait_for(lambda: "sentinel" in str(reader.text))
    assert "unmasked" not in str(reader.text)
    await writer.close()
    await reader.close()


async def test_a_varint_without_end_is_refused_at_53_bits(ysync_ws_url):
    """pycrdt's decoder read all of it, quadratically: ~20 s of a frozen server."""
    peer = await RawPeer(ysync_ws_url("varint")).connect()
    await synced(peer)
    await peer.ws.send(b"\x00\x02" + b"\xff" * 393216)
    await peer.wait_for(lambda: peer.closed.is_set())
    assert peer.close_code == CloseCode.MALFORMED
    assert "53 bits" in peer.close_reason


async def test_an_update_declaring_more_than_it_carries_is_refused_before_yrs(ysync_ws_url):
    """Yrs pre-allocated ~0.5 GB for these 8 bytes and blocked the server for ~1 s."""
    url = ysync_ws_url("counts")
    peer = await RawPeer(url).connect()
    await synced(peer)
    await peer.ws.send(b"\x00\x02\x05\xff\xff\xff\x7f\x00")
    await peer.wait_for(lambda: peer.closed.is_set())
    assert peer.close_code == CloseCode.MALFORMED
    assert "client count 268435455" in peer.close_reason


async def test_awareness_a_browser_would_throw_on_is_refused_not_relayed(ysync_ws_url):
    url = ysync_ws_url("awareness")
    good = await RawPeer(url).connect()
    bad = await RawPeer(url).connect()
    await synced(good, bad)
    state = b'{"user":{"name":NaN}}'
    update = b"\x01\x07\x01" + bytes((len(state),)) + state
    await bad.ws.send(create_awareness_message(update))
    await bad.wait_for(lambda: bad.closed.is_set())
    assert bad.close_code == CloseCode.MALFORMED and "not JSON" in bad.close_reason
    assert not any(b"NaN" in message for message in good.received)
    await good.close()


async def test_awareness_is_relayed_re_encoded(ysync_ws_url):
    """Bytes past the entries (which a lenient parser skipped) are not passed on."""
    url = ysync_ws_url("awareness-relay")
    sender = await RawPeer(url).connect()
    receiver = await RawPeer(url).connect()
    await synced(sender, receiver)
    sender.awareness.set_local_state({"user": {"name": "Ada"}})
    update = sender.awareness.encode_awareness_update([sender.awareness.client_id])
    await sender.ws.send(create_awareness_message(update + b"\xff\xff\xff junk"))
    await receiver.wait_for(lambda: sender.awareness.client_id in receiver.awareness.states)
    relayed = [m for m in receiver.received if m[0] == 1]
    assert relayed[-1] == create_awareness_message(update)
    await sender.close()
    await receiver.close()


async def test_a_reader_that_stopped_reading_is_dropped_after_send_timeout(ysync_ws_url, ysync_app):
    """It kept its whole backlog until jupyter_server's 90 s ping timeout."""
    url = ysync_ws_url("stalled")
    writer = await RawPeer(url).connect()
    live = await RawPeer(url).connect()
    await synced(writer, live)
    stalled = await RawSocket.open(url, receive_buffer=4096)  # reads nothing from here on
    room = ysync_app.manager.rooms["stalled"]
    await eventually(lambda: len(room.peers) == 3, what="the stalled peer joined")
    chunk = "x" * 100_000
    for index in range(20):  # 2 MB: far more than the stalled socket's buffers hold
        with writer.doc.transaction():
            writer.text += chunk
        if index % 5 == 0:
            await asyncio.sleep(0.05)
    await live.wait_for(lambda: len(live.text) == 20 * len(chunk), timeout=30)
    await eventually(
        lambda: len(room.peers) == 2, timeout=SEND_TIMEOUT * 10, what="the stalled peer dropped"
    )
    assert not live.closed.is_set() and not writer.closed.is_set()
    stalled.close()
    await writer.close()
    await live.close()


async def test_keep_alive_pings_use_seconds_and_a_timeout_within_the_interval(
    ysync_ws_url, ysync_app
):
    """jupyter_server's millisecond settings reached tornado as seconds: a warning at start."""
    sock = await RawSocket.open(ysync_ws_url("pings"))
    room = await ysync_app.manager.get("pings")
    await eventually(lambda: bool(room.peers), what="joined")
    connection = next(iter(room.peers)).ws_connection
    assert connection.ping_interval == pytest.approx(0.3)
    assert connection.ping_timeout <= connection.ping_interval
    assert await sock.frame_with(0x9, timeout=5) == b""  # a ping did come
    sock.close()
