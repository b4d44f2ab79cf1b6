"""The SQLite update log: durability of appends, group commit, compaction, deletion."""

from __future__ import annotations

import asyncio
import contextlib
import sqlite3
from pathlib import Path
from typing import Any

import pytest
from pycrdt import Doc, Text

from jupyter_ysync.errors import AlreadyRunning, NotRunning
from jupyter_ysync.server import store as store_module
from jupyter_ysync.server.room import Room
from jupyter_ysync.server.store import SQLiteStore, compact_updates
from jupyter_ysync.updates import REPLAY_BATCH
from tests.documents import doc_of, edits, text_of
from tests.waiting import eventually


async def test_appended_updates_load_back_in_order(tmp_path: Path):
    store = SQLiteStore(tmp_path / "rooms.sqlite")
    await store.start()
    updates, expected = edits(50)
    for update in updates:
        await store.append("notes", update)
    await store.stop()

    reopened = SQLiteStore(tmp_path / "rooms.sqlite")
    await reopened.start()
    loaded = await reopened.load("notes")
    assert loaded == updates
    assert text_of(doc_of(loaded)) == expected
    assert await reopened.load("other") == []
    await reopened.stop()


async def test_concurrent_appends_are_group_committed_and_all_kept(tmp_path: Path):
    store = SQLiteStore(tmp_path / "rooms.sqlite")
    await store.start()
    rooms = {f"room{i}": edits(20) for i in range(10)}
    await asyncio.gather(
        *(store.append(name, u) for name, (updates, _) in rooms.items() for u in updates)
    )
    for name, (_, expected) in rooms.items():
        assert text_of(doc_of(await store.load(name))) == expected
    await store.stop()


async def test_compaction_merges_the_log_and_content_survives(tmp_path: Path):
    path = tmp_path / "rooms.sqlite"
    store = SQLiteStore(path)
    await store.start()
    updates, expected = edits(200)
    for update in updates:
        await store.append("notes", update)
    await store.compact("notes")
    stored = await store.room("notes")
    assert stored is not None and stored.updates == 1
    assert stored.size < sum(map(len, updates))
    assert text_of(doc_of(await store.load("notes"))) == expected
    await store.stop()
    with contextlib.closing(sqlite3.connect(path)) as db:  # and it is what is on disk
        rows = [bytes(r[0]) for r in db.execute("SELECT data FROM updates WHERE room='notes'")]
    assert len(rows) == 1 and text_of(doc_of(rows)) == expected


async def test_delete_removes_only_that_room(tmp_path: Path):
    store = SQLiteStore(tmp_path / "rooms.sqlite")
    await store.start()
    a, expected_a = edits(5)
    b, _ = edits(5)
    for update in a:
        await store.append("a", update)
    for update in b:
        await store.append("b", update)
    assert await store.delete("b") is True
    assert await store.delete("b") is False
    assert [room.name for room in await store.rooms()] == ["a"]
    assert text_of(doc_of(await store.load("a"))) == expected_a
    await store.stop()


async def test_unwritable_store_fails_with_the_path_in_the_error(tmp_path: Path):
    blocker = tmp_path / "not-a-folder"
    blocker.write_text("a file where the store's folder should be")
    store = SQLiteStore(blocker / "rooms.sqlite")
    with pytest.raises(OSError) as error:
        await store.start()
    assert str(blocker) in str(error.value)
    assert not store.running


async def test_a_store_is_started_once_and_used_only_while_running(tmp_path: Path):
    store = SQLiteStore(tmp_path / "rooms.sqlite")
    with pytest.raises(NotRunning, match="SQLiteStore is not running: call start"):
        await store.append("notes", b"\x00\x00")
    with pytest.raises(NotRunning):
        await store.stop()
    await store.start()
    with pytest.raises(AlreadyRunning, match="SQLiteStore is already running"):
        await store.start()
    await store.append("notes", b"\x00\x00")
    await store.stop()
    with pytest.raises(NotRunning):
        await store.load("notes")


def test_a_log_longer_than_a_replay_batch_loads_whole_and_out_of_order_updates_wait():
    """Replay splits long logs into transactions; no update may be lost at a seam."""
    updates, expected = edits(3 * REPLAY_BATCH + 7)
    # An update delivered before the one it builds on (across a seam) waits for it.
    seam = REPLAY_BATCH
    shuffled = [*updates[: seam - 1], updates[seam], updates[seam - 1], *updates[seam + 1 :]]
    for log in (updates, shuffled):
        room = Room("notes", store=None)  # type: ignore[arg-type]  # load() never writes
        room.load(log)
        assert text_of(room.doc) == expected
        assert text_of(doc_of([compact_updates(log)])) == expected


async def test_the_write_ahead_log_is_checkpointed_while_the_store_runs(tmp_path: Path):
    """Rows reach the database file itself, so the log does not grow without bound."""
    path = tmp_path / "rooms.sqlite"
    store = SQLiteStore(path)
    await store.start()
    empty = path.stat().st_size
    updates, expected = edits(300)
    for update in updates:
        await store.append("notes", update)
    # A checkpoint follows the writes within CHECKPOINT_INTERVAL.
    await eventually(lambda: path.stat().st_size > empty, 5, "rows in the database file")
    with contextlib.closing(sqlite3.connect(f"file:{path}?mode=ro", uri=True)) as db:
        rows = db.execute("SELECT data FROM updates WHERE room = 'notes' ORDER BY id").fetchall()
    assert text_of(doc_of([bytes(row[0]) for row in rows])) == expected
    await store.stop()


async def test_disk_use_stays_a_small_multiple_of_the_stored_data(tmp_path: Path, monkeypatch):
    """The write-ahead log grew to 51-70 MB for a 1.3 MB document until a clean shutdown."""
    monkeypatch.setattr(store_module, "IDLE_TRUNCATE_AFTER", 0.2)
    path = tmp_path / "rooms.sqlite"
    wal = tmp_path / "rooms.sqlite-wal"
    store = SQLiteStore(path)
    await store.start()
    doc: Doc[Any] = Doc()
    text = doc.get("content", type=Text)
    doc.observe(lambda event: updates.append(event.update))
    for round_ in range(6):  # a document rewritten six times, compacted after each
        updates: list[bytes] = []
        with doc.transaction():
            del text[0 : len(text)]
        for index in range(200):
            text.insert(len(text), f"{round_}:{index} " * 160)
        await asyncio.gather(*(store.append("big", update) for update in updates))
        await store.compact("big", doc.get_update())
    await asyncio.gather(*(store.append(f"small-{i}", b"\x00\x00") for i in range(500)))
    stored = sum(room.size for room in await store.rooms())

    def disk() -> int:
        return path.stat().st_size + (wal.stat().st_size if wal.exists() else 0)

    # Idle: the log is checkpointed and emptied while the store runs.
    await eventually(lambda: wal.exists() and wal.stat().st_size == 0, 5, "an empty WAL file")
    assert disk() < 3 * stored + 256 * 1024, f"{disk()} bytes on disk for {stored} stored"
    assert text_of(doc_of(await store.load("big"))) == str(text)
    await store.stop()
