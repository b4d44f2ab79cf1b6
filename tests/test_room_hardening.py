"""A room under bad and awkward input, driven in-process with fake peers and a real store."""

from __future__ import annotations

import asyncio
import tracemalloc
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from pycrdt import Doc, Text, create_sync_message, create_update_message

from jupyter_ysync.protocol import CloseCode
from jupyter_ysync.server.room import MAX_HELD_UPDATES, Room
from jupyter_ysync.server.store import SQLiteStore
from jupyter_ysync.updates import replay
from tests.documents import text_of
from tests.fakes import FakePeer
from tests.hostile import PARENT_IS_NOT_A_TYPE, PARENT_OWNER


@pytest.fixture
def store(tmp_path: Path) -> Iterator[SQLiteStore]:
    """A real, started store (its writer thread serves any event loop)."""
    store = SQLiteStore(tmp_path / "rooms.sqlite")
    asyncio.run(store.start())
    yield store
    asyncio.run(store.stop())


def writer(client_id: int, text: str = "hello world") -> Doc[Any]:
    doc: Doc[Any] = Doc(client_id=client_id)
    doc.get("content", type=Text).insert(0, text)
    return doc


def update_message(doc: Doc[Any], since: bytes | None = None) -> bytes:
    return create_update_message(doc.get_update(since) if since else doc.get_update())


async def stored_text(store: SQLiteStore, name: str) -> str:
    doc: Doc[Any] = Doc()
    replay(doc, await store.load(name))
    return str(doc.get("content", type=Text))


async def test_a_clock_gap_waits_until_the_missing_update_arrives(store):
    """Yrs integrates such an update at once, unseen by peers and the store; Yjs holds it."""
    room = Room("gap", store)
    a, b, reader = FakePeer("a"), FakePeer("b"), FakePeer("reader")
    for peer in (a, b, reader):
        room.add_peer(peer)
    base = writer(1, "hello")
    room.receive(a, update_message(base))
    await room.flushed()
    other: Doc[Any] = Doc(client_id=2)
    other.apply_update(base.get_update())
    text = other.get("content", type=Text)
    text.insert(0, "zz")
    first = other.get_state()
    first_update = other.get_update(base.get_state())
    text.insert(5, "fmt")
    room.receive(b, create_update_message(other.get_update(first)))  # only the second
    await room.flushed()
    # Held: the replica, the store and every peer still agree on "hello".
    assert room.held(b) == 1
    assert text_of(room.doc) == str(reader.text) == await stored_text(store, "gap") == "hello"
    room.receive(b, create_update_message(first_update))  # the gap fills
    await room.flushed()
    assert room.held(b) == 0
    expected = str(text)
    assert text_of(room.doc) == str(reader.text) == expected
    assert await stored_text(store, "gap") == expected
    assert b.closed is None


async def test_an_update_whose_deletion_targets_unreceived_content_waits(store):
    room = Room("pending-delete", store)
    sender, reader = FakePeer("sender"), FakePeer("reader")
    room.add_peer(sender)
    room.add_peer(reader)
    doc = writer(5, "abcdef")
    inserted = doc.get_update()
    before = doc.get_state()
    del doc.get("content", type=Text)[1:3]
    room.receive(sender, update_message(doc, before))  # the deletion first
    await room.flushed()
    assert text_of(room.doc) == str(reader.text) == ""
    room.receive(sender, create_update_message(inserted))
    await room.flushed()
    assert (
        text_of(room.doc)
        == str(reader.text)
        == await stored_text(store, "pending-delete")
        == "adef"
    )


async def test_held_updates_are_bounded_per_peer(store):
    room = Room("bounded", store)
    peer = FakePeer("flood")
    room.add_peer(peer)
    base: Doc[Any] = Doc(client_id=9)
    text = base.get("content", type=Text)
    text.insert(0, "x")
    for index in range(MAX_HELD_UPDATES + 1):  # each builds on the never-sent first insert
        before = base.get_state()
        text.insert(index + 1, "y")
        room.receive(peer, update_message(base, before))
    await room.flushed()
    assert peer.closed is not None and peer.closed[0] == CloseCode.MALFORMED
    assert "reconnect to resync" in peer.closed[1]
    assert room.held(peer) == 0


async def test_an_update_yrs_refuses_closes_only_its_sender_and_loses_nothing(store):
    """It used to close every peer with 1011 and reload the room."""
    room = Room("runtime-error", store)
    good, bad, other, reader = FakePeer("good"), FakePeer("bad"), FakePeer("other"), FakePeer("r")
    for peer in (good, bad, other, reader):
        room.add_peer(peer)
    room.receive(good, update_message(writer(PARENT_OWNER, "hello world")))
    await room.flushed()
    # One tick: the bad update between two good peers' updates.
    later = writer(77, "more")
    room.receive(bad, create_update_message(PARENT_IS_NOT_A_TYPE))
    room.receive(other, update_message(later))
    await room.flushed()
    assert bad.closed is not None and bad.closed[0] == CloseCode.MALFORMED
    assert "update refused" in bad.closed[1]
    assert good.closed is None and other.closed is None and reader.closed is None
    assert not room.failed
    assert "more" in str(reader.text) and "hello world" in str(reader.text)
    assert await stored_text(store, "runtime-error") == text_of(room.doc) == str(reader.text)


async def test_a_panic_in_yrs_closes_only_its_sender_and_the_batch_is_kept(store, monkeypatch):
    """A Rust panic is a BaseException: it escaped the room and lost the rest of the batch."""
    panic = _panic_exception_type()
    room = Room("panic", store)
    good, bad, reader = FakePeer("good"), FakePeer("bad"), FakePeer("reader")
    for peer in (good, bad, reader):
        room.add_peer(peer)
    poisoned = writer(66, "poison")
    original = room.doc.apply_update

    def apply_update(update: bytes) -> None:
        if update == poisoned.get_update():
            raise panic("called `Option::unwrap()` on a `None` value")
        original(update)

    monkeypatch.setattr(room.doc, "apply_update", apply_update)
    room.receive(good, update_message(writer(1, "first")))
    room.receive(bad, update_message(poisoned))
    room.receive(good, update_message(writer(2, "second")))
    await room.flushed()
    assert bad.closed is not None and bad.closed[0] == CloseCode.MALFORMED
    assert good.closed is None and reader.closed is None and not room.failed
    assert "first" in str(reader.text) and "second" in str(reader.text)
    assert await stored_text(store, "panic") == text_of(room.doc) == str(reader.text)


def _panic_exception_type() -> type[BaseException]:
    """pyo3's PanicException, raised by a real panic in Yrs."""
    doc: Doc[Any] = Doc()
    text = doc.get("content", type=Text)
    try:
        del text[0:1]  # removing from an empty text panics in Yrs
    except BaseException as error:
        if type(error).__name__ == "PanicException":
            return type(error)
        raise
    raise AssertionError("expected Yrs to panic")


async def test_messages_after_a_refusal_are_not_heard(store):
    """What came before the bad message was valid and stays; nothing after it is applied."""
    room = Room("refused", store)
    bad, reader = FakePeer("bad"), FakePeer("reader")
    room.add_peer(bad)
    room.add_peer(reader)
    room.receive(bad, update_message(writer(1, "first")))
    with pytest.raises(Exception, match="unknown message type"):
        room.receive(bad, b"\x09")
    room._refuse(bad, "malformed message")  # what the handler does on that error
    room.receive(bad, update_message(writer(2, "after")))
    await room.flushed()
    assert str(reader.text) == "first"


async def test_a_read_only_peer_cannot_send_awareness_that_breaks_browsers(store):
    room = Room("awareness", store)
    viewer, reader = FakePeer("viewer", can_write=False), FakePeer("reader")
    room.add_peer(viewer)
    room.add_peer(reader)
    bad_state = b'{"user":NaN}'
    message = (
        b"\x01"
        + bytes((len(bad_state) + 4,))
        + b"\x01\x07\x01"
        + bytes((len(bad_state),))
        + bad_state
    )
    with pytest.raises(Exception, match="not JSON"):
        room.receive(viewer, message)
    assert reader.frames[-1:] == [] or reader.frames[-1][0] != 1


async def test_a_joiner_gets_the_whole_document_encoded_once(store):
    """The update, the message and the frame were three copies of the document."""
    room = Room("big", store)
    room.load([writer(3, "x" * 4_000_000).get_update()])
    joiner = FakePeer("joiner")
    room.add_peer(joiner)
    tracemalloc.start()
    try:
        room.receive(joiner, create_sync_message(Doc()))
        tracemalloc.reset_peak()
        await room.flushed()
        _, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    assert len(str(joiner.text)) == 4_000_000
    # The update from Yrs and the framed message: two copies, not three.
    assert peak < 2.3 * 4_000_000, f"{peak / 4e6:.2f} copies of the document"


async def test_a_room_compacts_its_log_from_the_replica_and_keeps_later_updates(store):
    room = Room("compact", store, compact_after=20)
    sender, reader = FakePeer("sender"), FakePeer("reader")
    room.add_peer(sender)
    room.add_peer(reader)
    doc: Doc[Any] = Doc(client_id=4)
    text = doc.get("content", type=Text)
    doc.observe(lambda event: room.receive(sender, create_update_message(event.update)))
    for index in range(120):
        text.insert(index, "abcdefghij"[index % 10])
        if index % 3 == 0:
            await asyncio.sleep(0)  # let batches go to the store between edits
    await room.flushed()
    info = await store.room("compact")
    assert info is not None and info.updates <= 21
    assert await stored_text(store, "compact") == text_of(room.doc) == str(text)
