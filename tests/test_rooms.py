"""The room protocol over real websockets against a real jupyter_server."""

from __future__ import annotations

import asyncio
import gc
import socket
from typing import Any
from urllib.parse import urlsplit

import pytest
from pycrdt import YMessageType, YSyncMessageType, create_update_message
from traitlets.config import Config

from jupyter_ysync.protocol import MessageType
from tests.documents import edits
from tests.raw_peer import RawPeer
from tests.raw_socket import RawSocket, frame
from tests.waiting import eventually


def update_messages(peer: RawPeer) -> list[bytes]:
    return [
        m
        for m in peer.received
        if m[0] == YMessageType.SYNC and m[1] == YSyncMessageType.SYNC_UPDATE
    ]


async def test_two_peers_converge_and_updates_are_not_echoed(ysync_ws_url):
    a = await RawPeer(ysync_ws_url("converge")).connect()
    b = await RawPeer(ysync_ws_url("converge")).connect()
    await asyncio.wait_for(asyncio.gather(a.synced.wait(), b.synced.wait()), 10)
    a.text += "hello"
    await b.wait_for(lambda: str(b.text) == "hello")
    b.text.insert(0, ">> ")
    await a.wait_for(lambda: str(a.text) == ">> hello")
    # Each side received exactly the other's update, never its own back.
    assert len(update_messages(a)) == 1
    assert len(update_messages(b)) == 1
    await a.close()
    await b.close()


async def test_an_echoed_update_is_neither_stored_nor_sent_again(ysync_ws_url, ysync_app):
    """Clients that send back what they received (ypy-websocket does) cause no echo storm."""
    a = await RawPeer(ysync_ws_url("echo")).connect()
    b = await RawPeer(ysync_ws_url("echo")).connect()
    await asyncio.gather(a.synced.wait(), b.synced.wait())
    a.text += "once"
    await b.wait_for(lambda: str(b.text) == "once")
    stored = (await ysync_app.store.room("echo")).updates
    await b.ws.send(update_messages(b)[-1])  # b echoes a's update back
    a.text += "!"  # a later edit: once it has arrived, the echo has been processed
    await b.wait_for(lambda: str(b.text) == "once!")
    assert len(update_messages(a)) == 0  # a never got its own content back
    assert (await ysync_app.store.room("echo")).updates == stored + 1
    await a.close()
    await b.close()


async def test_server_asks_for_what_it_lacks_on_every_connect(ysync_ws_url):
    """Two-way sync: the server sends its own sync step 1 first."""
    peer = await RawPeer(ysync_ws_url("twoway")).connect(sync=False)
    await peer.wait_for(lambda: bool(peer.received))
    first = peer.received[0]
    assert first[0] == YMessageType.SYNC and first[1] == YSyncMessageType.SYNC_STEP1
    await peer.close()


async def test_updates_arriving_together_are_merged_and_all_delivered(ysync_ws_url):
    reader = await RawPeer(ysync_ws_url("burst")).connect()
    await reader.synced.wait()
    updates, expected = edits(200)
    writer = await RawSocket.open(ysync_ws_url("burst"))
    # 200 updates in one TCP write: the room reads them all in one loop iteration.
    await writer.send(b"".join(frame(0x2, create_update_message(u)) for u in updates))
    await reader.wait_for(lambda: str(reader.text) == expected, timeout=20)
    assert len(update_messages(reader)) == 1  # merged into one update on the way
    writer.close()
    await reader.close()


async def test_awareness_is_relayed_cleared_on_leave_and_answered_on_query(ysync_ws_url):
    a = await RawPeer(ysync_ws_url("aw")).connect()
    b = await RawPeer(ysync_ws_url("aw")).connect()
    await asyncio.gather(a.synced.wait(), b.synced.wait())
    await a.send_awareness({"user": {"name": "Ada", "color": "#f00"}})
    await b.wait_for(lambda: a.awareness.client_id in b.awareness.states)
    assert b.awareness.states[a.awareness.client_id]["user"]["name"] == "Ada"

    late = await RawPeer(ysync_ws_url("aw")).connect()  # gets current states on join
    await late.wait_for(lambda: a.awareness.client_id in late.awareness.states)
    late.received.clear()
    await late.ws.send(bytes([MessageType.QUERY_AWARENESS]))
    await late.wait_for(lambda: any(m[0] == YMessageType.AWARENESS for m in late.received))

    await a.close()  # a leaves without saying goodbye: the server clears its state
    await b.wait_for(lambda: a.awareness.client_id not in b.awareness.states)
    await late.wait_for(lambda: a.awareness.client_id not in late.awareness.states)
    await b.close()
    await late.close()


async def test_concurrent_first_joiners_of_a_stored_room_all_get_the_content(
    ysync_ws_url, ysync_app
):
    seed = await RawPeer(ysync_ws_url("storm")).connect()
    await seed.synced.wait()
    seed.text += "stored content"
    watcher = await RawPeer(ysync_ws_url("storm")).connect()
    await watcher.wait_for(lambda: str(watcher.text) == "stored content")
    await seed.close()
    await watcher.close()
    await eventually(
        lambda: "storm" not in ysync_app.manager.rooms, what="idle unload (0.5 s here)"
    )

    joiners = [RawPeer(ysync_ws_url("storm")) for _ in range(20)]
    await asyncio.gather(*(peer.connect() for peer in joiners))
    await asyncio.gather(
        *(peer.wait_for(lambda p=peer: str(p.text) == "stored content") for peer in joiners)
    )
    await asyncio.gather(*(peer.close() for peer in joiners))


async def test_a_10_mb_document_syncs_in_both_directions(ysync_ws_url):
    big = "0123456789" * 1_000_000  # 10 MB, past tornado's 10 MiB default message limit
    writer = await RawPeer(ysync_ws_url("huge")).connect()
    await writer.synced.wait()
    writer.text += big
    joiner = await RawPeer(ysync_ws_url("huge")).connect()
    await joiner.wait_for(lambda: len(joiner.text) == len(big), timeout=30)
    assert str(joiner.text) == big
    await writer.close()
    await joiner.close()


class TestSlowConsumer:
    @pytest.fixture
    def jp_server_config(self, jp_server_config: Config) -> Config:
        jp_server_config.YSyncApp.max_send_buffer = 1024 * 1024
        return jp_server_config

    async def test_a_peer_that_stops_reading_is_dropped_without_stalling_others(
        self, ysync_ws_url: Any, ysync_app: Any
    ):
        url = ysync_ws_url("slow")
        writer = await RawPeer(url).connect()
        reader = await RawPeer(url).connect()
        await asyncio.gather(writer.synced.wait(), reader.synced.wait())
        stalled = open_stalled_websocket(url)  # upgrades, then never reads a byte
        manager = ysync_app.manager
        await eventually(lambda: len(manager.rooms["slow"].peers) == 3)

        chunk = "x" * 200_000
        for i in range(1, 41):  # 8 MB in all: far past socket buffers plus 1 MiB
            writer.text += chunk
            # The live reader keeps up, so only the stalled peer falls behind.
            await reader.wait_for(lambda i=i: len(reader.text) == i * len(chunk), timeout=30)
        await eventually(lambda: len(manager.rooms["slow"].peers) == 2, what="stalled peer dropped")
        stalled.close()
        await writer.close()
        await reader.close()


def open_stalled_websocket(url: str) -> socket.socket:
    parts = urlsplit(url)
    sock = socket.create_connection((parts.hostname, parts.port))
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 4096)
    path = f"{parts.path}?{parts.query}"
    sock.sendall(
        f"GET {path} HTTP/1.1\r\nHost: {parts.netloc}\r\nUpgrade: websocket\r\n"
        "Connection: Upgrade\r\nSec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\n"
        "Sec-WebSocket-Version: 13\r\n\r\n".encode()
    )
    return sock


class TestFrozenStartupObjects:
    @pytest.fixture
    def jp_server_config(self, jp_server_config: Config) -> Config:
        jp_server_config.YSyncApp.freeze_gc = True  # the default, off elsewhere in tests
        return jp_server_config

    async def test_startup_objects_are_out_of_the_collectors_reach_and_rooms_work(
        self, ysync_ws_url: Any, ysync_app: Any, jp_serverapp: Any
    ):
        """Full collections must not walk the server's start-up objects (20-100 ms pauses)."""
        gc.unfreeze()
        try:
            await ysync_app._start_jupyter_server_extension(jp_serverapp)  # as at server start
            assert gc.get_freeze_count() > 0
            url = ysync_ws_url("frozen")
            writer, reader = await RawPeer(url).connect(), await RawPeer(url).connect()
            writer.text += "after the freeze"
            await reader.wait_for(lambda: str(reader.text) == "after the freeze", timeout=10)
            await writer.close()
            await reader.close()
        finally:
            gc.unfreeze()
