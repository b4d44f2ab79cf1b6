"""Room and RoomManager without a server: fake peers, a real store, one event loop."""

from __future__ import annotations

import asyncio
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from pycrdt import Doc, Text, create_update_message

from jupyter_ysync.errors import AlreadyRunning, NotRunning
from jupyter_ysync.protocol import MessageType
from jupyter_ysync.server.manager import RoomManager
from jupyter_ysync.server.room import Room
from jupyter_ysync.server.store import SQLiteStore
from tests.fakes import FakePeer
from tests.waiting import eventually


@pytest.fixture
def store(tmp_path: Path) -> Iterator[SQLiteStore]:
    store = SQLiteStore(tmp_path / "rooms.sqlite")
    asyncio.run(store.start())
    yield store
    asyncio.run(store.stop())


def update_of(client_id: int, text: str) -> bytes:
    """An update inserting ``text`` by client ``client_id``."""
    doc: Doc[Any] = Doc(client_id=client_id)
    doc.get("content", type=Text).insert(0, text)
    return doc.get_update()


def typed(client_id: int, text: str) -> bytes:
    """The same, as a y-websocket message."""
    return create_update_message(update_of(client_id, text))


async def test_an_update_reaches_every_other_peer_and_never_its_sender(store):
    room = Room("fan-out", store)
    sender, a, b = FakePeer("sender"), FakePeer("a"), FakePeer("b")
    for peer in (sender, a, b):
        room.add_peer(peer)
    room.receive(sender, typed(1, "hello"))
    await room.flushed()
    assert str(a.text) == str(b.text) == "hello"
    assert sender.updates() == []  # no echo
    assert len(a.updates()) == len(b.updates()) == 1


async def test_two_senders_in_one_batch_each_get_only_the_others_update(store):
    room = Room("two", store)
    x, y, reader = FakePeer("x"), FakePeer("y"), FakePeer("reader")
    for peer in (x, y, reader):
        room.add_peer(peer)
    room.receive(x, typed(1, "from x"))
    room.receive(y, typed(2, "from y"))
    await room.flushed()
    assert "from x" in str(reader.text) and "from y" in str(reader.text)
    assert str(x.text) == "from y" and str(y.text) == "from x"


async def test_a_read_only_peers_updates_go_nowhere_and_it_is_told_once(store):
    room = Room("ro", store)
    viewer, reader = FakePeer("viewer", can_write=False), FakePeer("reader")
    room.add_peer(viewer)
    room.add_peer(reader)
    room.receive(viewer, typed(1, "vandalism"))
    room.receive(viewer, typed(2, "again"))
    await room.flushed()
    assert str(reader.text) == ""
    assert await store.load("ro") == []
    told = [frame for frame in viewer.frames if frame[0] == MessageType.AUTH]
    assert len(told) == 1 and b"read-only" in told[0]


async def test_updates_of_a_peer_that_left_meanwhile_are_kept(store):
    room = Room("left", store)
    leaver, reader = FakePeer("leaver"), FakePeer("reader")
    room.add_peer(leaver)
    room.add_peer(reader)
    room.receive(leaver, typed(1, "said before leaving"))
    room.remove_peer(leaver)  # before the batch is processed
    await room.flushed()
    assert str(reader.text) == "said before leaving"
    assert len(await store.load("left")) == 1


async def test_the_manager_loads_a_room_once_for_concurrent_joiners(store):
    await store.append("busy", update_of(1, "stored"))
    manager = RoomManager(store, idle_unload_delay=60)
    manager.start()
    peers = [FakePeer(f"p{i}") for i in range(5)]
    rooms = await asyncio.gather(*(manager.join("busy", peer) for peer in peers))
    assert all(room is rooms[0] for room in rooms)
    assert str(rooms[0].doc.get("content", type=Text)) == "stored"
    await manager.stop()


async def test_an_idle_room_is_unloaded_and_reloaded_from_the_store(store):
    manager = RoomManager(store, idle_unload_delay=0.05)
    manager.start()
    peer = FakePeer("writer")
    room = await manager.join("idle", peer)
    room.receive(peer, typed(1, "kept"))
    await room.flushed()
    room.remove_peer(peer)
    await eventually(lambda: "idle" not in manager.rooms, what="the room unloaded")
    again = await manager.join("idle", FakePeer("back"))
    assert again is not room
    assert str(again.doc.get("content", type=Text)) == "kept"
    await manager.stop()


async def test_the_manager_is_started_once_and_used_only_while_running(store):
    manager = RoomManager(store)
    with pytest.raises(NotRunning, match="RoomManager is not running"):
        await manager.join("x", FakePeer("p"))
    manager.start()
    with pytest.raises(AlreadyRunning):
        manager.start()
    await manager.stop()
    with pytest.raises(NotRunning):
        await manager.stop()
