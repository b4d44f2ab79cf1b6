"""Durable update log of every room.

A room's content is the sequence of updates it has accepted. The store keeps
that sequence; loading a room replays it into a fresh replica, so a document is
never re-initialised over existing history.

:class:`Store` is the interface a backend implements. :class:`SQLiteStore` is
the default: an embedded SQLite file in WAL mode, written by one dedicated
thread that group-commits everything queued while the previous commit ran,
checkpointed from a second thread so that no commit waits for it. Its write-ahead
log is truncated when the store is idle and kept under :data:`WAL_SIZE_LIMIT`
otherwise. A room compacts its log from its live replica (:meth:`Store.compact`).
"""

from __future__ import annotations

import asyncio
import logging
import queue
import sqlite3
import threading
import time
from collections.abc import Callable
from concurrent.futures import Future
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Protocol, TypeVar

from pycrdt import Doc

from .._lifecycle import Lifecycle
from ..updates import replay
from .metrics import STORE_COMMIT_SECONDS
from .store_lock import share_store

T = TypeVar("T")

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class StoredRoom:
    """What the store knows about one room."""

    name: str
    size: int
    """Bytes of stored updates."""
    updates: int
    """Rows in the log (1 after a compaction)."""
    last_modified: float
    """Unix time of the last append."""


@dataclass(frozen=True)
class StoredVersion:
    """A version of a room as stored (its content apart)."""

    id: int
    room: str
    created: float
    """Unix time it was taken."""
    name: str | None
    """None for an automatic version."""
    authors: str
    """JSON list of the identities that changed the room since the previous version."""
    size: int
    """Bytes of the room's encoded state (before compression)."""
    codec: str
    """How the content is stored: ``zlib`` or ``raw``."""


@dataclass(frozen=True)
class VersionPrune:
    """Which of a room's automatic versions to remove when one is added."""

    keep: int = 0
    """Keep this many of the newest (0: no limit)."""
    before: float = 0.0
    """Remove those taken before this Unix time (0: no limit)."""


class Store(Protocol):
    """Interface of a room store backend."""

    async def start(self) -> None:
        """Open the backend (once: a second call raises AlreadyRunning)."""

    async def stop(self) -> None:
        """Flush and close the backend (NotRunning if it was not started)."""

    async def load(self, room: str) -> list[bytes]:
        """Return the room's updates in the order they were appended (empty if unknown)."""

    async def append(self, room: str, update: bytes) -> int:
        """Durably append one update; return, once it is committed, the log's length."""

    async def compact(self, room: str, snapshot: bytes | None = None) -> None:
        """Replace the room's log by one equivalent update.

        Args:
            snapshot: The live replica's encoding, taken while it held exactly the log's
                content; without it the store merges the log itself.
        """

    async def delete(self, room: str) -> bool:
        """Remove a room's history; return whether it existed."""

    async def rooms(self) -> list[StoredRoom]:
        """List the stored rooms."""

    async def get_meta(self, room: str, key: str) -> bytes | None:
        """Return a value kept beside the room's log (a file room's base state), or None."""

    async def set_meta(self, room: str, key: str, value: bytes) -> None:
        """Durably keep ``value`` under ``key`` beside the room's log (deleted with the room)."""

    async def room(self, room: str) -> StoredRoom | None:
        """Describe one stored room, or return None."""


_SCHEMA = """
CREATE TABLE IF NOT EXISTS updates (
    id INTEGER PRIMARY KEY AUTOINCREMENT,
    room TEXT NOT NULL,
    data BLOB NOT NULL,
    created REAL NOT NULL
);
CREATE INDEX IF NOT EXISTS updates_room ON updates (room, id);
CREATE TABLE IF NOT EXISTS room_meta (
    room TEXT NOT NULL,
    key TEXT NOT NULL,
    value BLOB NOT NULL,
    PRIMARY KEY (room, key)
);
CREATE TABLE IF NOT EXISTS versions (
    id INTEGER PRIMARY KEY AUTOINCREMENT,
    room TEXT NOT NULL,
    created REAL NOT NULL,
    name TEXT,
    authors TEXT NOT NULL,
    size INTEGER NOT NULL,
    codec TEXT NOT NULL,
    data BLOB NOT NULL
);
CREATE INDEX IF NOT EXISTS versions_room ON versions (room, id);
CREATE TABLE IF NOT EXISTS room_clients (
    room TEXT NOT NULL,
    client INTEGER NOT NULL,
    identity TEXT NOT NULL,
    PRIMARY KEY (room, client)
);
"""

_SELECT_LOG = "SELECT data FROM updates WHERE room = ? ORDER BY id"


def compact_updates(updates: list[bytes]) -> bytes:
    """Merge a log of updates into one update holding the same document.

    The updates are integrated into a scratch replica and re-encoded, which
    drops deleted content the log still carries; the result loads into exactly
    the same document as replaying the log.
    """
    doc: Doc[Any] = Doc()
    replay(doc, updates)
    return doc.get_update()


WAL_SIZE_LIMIT = 4 * 1024 * 1024
"""Bytes the write-ahead log file is cut back to whenever a checkpoint lets it restart."""

IDLE_TRUNCATE_AFTER = 2.0
"""Seconds without a write after which the write-ahead log is checkpointed and emptied."""

CHECKPOINT_INTERVAL = 0.5
"""Seconds between checkpoints of the write-ahead log while writes go on.

SQLite's own checkpoint runs inside the commit that takes the log past 1,000
pages and stalls it for an fsync of the database (5-15 ms). The store turns
it off and checkpoints from a second connection on its own thread, which does
not block the writer: of 3,000 commits at 100/s, 17 took over 2 ms (max
14.9 ms) before, none (max 0.9 ms) after.
"""


class _Checkpointer:
    """Checkpoints a WAL-mode database from its own thread, beside the writer."""

    def __init__(self, db: sqlite3.Connection) -> None:
        self._db = db
        self._written = threading.Event()
        self._stopping = threading.Event()
        self._thread = threading.Thread(target=self._run, name="ysync-checkpoint", daemon=True)
        self._thread.start()

    def written(self) -> None:
        """Note that the log grew: a checkpoint follows within the interval."""
        self._written.set()

    def stop(self) -> None:
        """Stop the thread and close its connection (the writer's close then checkpoints)."""
        self._stopping.set()
        self._written.set()
        self._thread.join()

    def _run(self) -> None:
        try:
            while True:
                self._written.wait()
                if self._stopping.wait(CHECKPOINT_INTERVAL):  # let writes gather meanwhile
                    return
                self._written.clear()
                self._checkpoint("PASSIVE")
                # Idle: move everything into the database and empty the log file. A writer
                # that comes meanwhile waits for it (busy timeout), which idleness makes rare.
                if not self._written.wait(IDLE_TRUNCATE_AFTER) and not self._stopping.is_set():
                    self._checkpoint("TRUNCATE")
        finally:
            self._db.close()

    def _checkpoint(self, mode: str) -> None:
        try:
            self._db.execute(f"PRAGMA wal_checkpoint({mode})")
        except sqlite3.Error as error:  # retried after the next write
            log.warning("Could not checkpoint the store's write-ahead log: %s", error)


class SQLiteStore(Lifecycle):
    """The default store: an SQLite update log written by one thread.

    Every write goes through one thread that takes all queued appends and
    commits them in one transaction (group commit), so a burst of updates over
    many rooms costs one commit. ``append`` resolves once its row is committed:
    in WAL mode with ``synchronous=NORMAL`` a committed row survives a crash or
    ``kill -9`` of the server; ``FULL`` also survives power loss.

    Example::

        store = SQLiteStore("rooms.sqlite")
        await store.start()
        await store.append("notes", update)
        updates = await store.load("notes")
        await store.stop()
    """

    path: Path
    synchronous: str
    _queue: queue.SimpleQueue[tuple[Callable[[sqlite3.Connection], Any], Future[Any]] | None]
    _thread: threading.Thread | None
    _counts: dict[str, int]

    def __init__(self, path: str | Path, *, synchronous: str = "NORMAL") -> None:
        """
        Args:
            path: The SQLite file; its folder is created if missing.
            synchronous: SQLite ``synchronous`` pragma, ``NORMAL`` or ``FULL``.
        """
        if synchronous.upper() not in ("NORMAL", "FULL", "EXTRA"):
            raise ValueError(f"synchronous={synchronous!r}: use 'NORMAL', 'FULL' or 'EXTRA'.")
        self.path = Path(path)
        self.synchronous = synchronous.upper()
        self._queue = queue.SimpleQueue()
        self._thread = None
        self._counts = {}

    # -- lifecycle -------------------------------------------------------------------------

    async def start(self) -> None:
        """Open the database and start the writer thread; return once it is open.

        Raises:
            AlreadyRunning: if the store was started already.
            OSError, sqlite3.Error: if the file cannot be opened (the path is in the message).
        """
        await asyncio.wrap_future(self.start_soon())

    def start_soon(self) -> Future[None]:
        """Start opening the database; operations called meanwhile wait for it.

        For callers that cannot await (a server's synchronous set-up): the returned future
        fails, and the store stops, if the file cannot be opened.

        Raises:
            AlreadyRunning: if the store was started already.
        """
        self._mark_started()
        ready: Future[None] = Future()
        ready.add_done_callback(self._opened)
        try:
            self.path.parent.mkdir(parents=True, exist_ok=True)
        except OSError as error:
            ready.set_exception(error)
            return ready
        self._thread = threading.Thread(
            target=self._run, args=(ready,), name="ysync-store", daemon=True
        )
        self._thread.start()
        return ready

    def _opened(self, ready: Future[None]) -> None:
        if ready.exception() is not None:
            self._running = False
            self._thread = None

    async def stop(self) -> None:
        """Commit what is queued, then close the database.

        Raises:
            NotRunning: if the store is not running.
        """
        self._mark_stopped()
        thread, self._thread = self._thread, None
        assert thread is not None
        self._queue.put(None)
        await asyncio.get_running_loop().run_in_executor(None, thread.join)

    # -- operations ------------------------------------------------------------------------

    async def load(self, room: str) -> list[bytes]:
        def read(db: sqlite3.Connection) -> list[bytes]:
            updates = [bytes(row[0]) for row in db.execute(_SELECT_LOG, (room,))]
            self._counts[room] = len(updates)
            return updates

        return await self._call(read)

    async def append(self, room: str, update: bytes) -> int:
        def write(db: sqlite3.Connection) -> int:
            db.execute(
                "INSERT INTO updates (room, data, created) VALUES (?, ?, ?)",
                (room, update, time.time()),
            )
            count = self._counts.get(room)
            if count is None:  # appended without a load first: count once
                (count,) = db.execute(
                    "SELECT COUNT(*) FROM updates WHERE room = ?", (room,)
                ).fetchone()
            else:
                count += 1
            self._counts[room] = count
            return count

        return await self._call(write)

    async def compact(self, room: str, snapshot: bytes | None = None) -> None:
        def squash(db: sqlite3.Connection) -> None:
            if snapshot is None:
                rows = [bytes(r[0]) for r in db.execute(_SELECT_LOG, (room,))]
                if len(rows) < 2:
                    return
                merged = compact_updates(rows)
            else:
                merged = snapshot
            count = db.execute("DELETE FROM updates WHERE room = ?", (room,)).rowcount
            db.execute(
                "INSERT INTO updates (room, data, created) VALUES (?, ?, ?)",
                (room, merged, time.time()),
            )
            self._counts[room] = 1
            log.debug("Compacted room %s: %d updates into %d bytes", room, count, len(merged))

        await self._call(squash)

    async def delete(self, room: str) -> bool:
        def remove(db: sqlite3.Connection) -> bool:
            cursor = db.execute("DELETE FROM updates WHERE room = ?", (room,))
            meta = db.execute("DELETE FROM room_meta WHERE room = ?", (room,))
            db.execute("DELETE FROM versions WHERE room = ?", (room,))
            db.execute("DELETE FROM room_clients WHERE room = ?", (room,))
            self._counts.pop(room, None)
            return cursor.rowcount > 0 or meta.rowcount > 0

        return await self._call(remove)

    async def rooms(self) -> list[StoredRoom]:
        def list_rooms(db: sqlite3.Connection) -> list[StoredRoom]:
            rows = db.execute(
                "SELECT room, SUM(LENGTH(data)), COUNT(*), MAX(created) FROM updates"
                " GROUP BY room ORDER BY room"
            )
            return [StoredRoom(*row) for row in rows]

        return await self._call(list_rooms)

    async def room(self, room: str) -> StoredRoom | None:
        def describe(db: sqlite3.Connection) -> StoredRoom | None:
            row = db.execute(
                "SELECT SUM(LENGTH(data)), COUNT(*), MAX(created) FROM updates WHERE room = ?",
                (room,),
            ).fetchone()
            if not row or not row[1]:
                return None
            return StoredRoom(room, *row)

        return await self._call(describe)

    async def get_meta(self, room: str, key: str) -> bytes | None:
        def read(db: sqlite3.Connection) -> bytes | None:
            row = db.execute(
                "SELECT value FROM room_meta WHERE room = ? AND key = ?", (room, key)
            ).fetchone()
            return bytes(row[0]) if row else None

        return await self._call(read)

    async def set_meta(self, room: str, key: str, value: bytes) -> None:
        def write(db: sqlite3.Connection) -> None:
            db.execute(
                "INSERT OR REPLACE INTO room_meta (room, key, value) VALUES (?, ?, ?)",
                (room, key, value),
            )

        await self._call(write)

    # -- versions and authorship (see history.py) -----------------------------------------

    async def add_version(self, version: StoredVersion, data: bytes, prune: VersionPrune) -> int:
        """Keep a version of a room (``version.id`` is ignored); return its id.

        In the same transaction, the room's automatic versions beyond ``prune.keep`` or older
        than ``prune.before`` are removed (named versions stay until the room is deleted).
        """

        def write(db: sqlite3.Connection) -> int:
            cursor = db.execute(
                "INSERT INTO versions (room, created, name, authors, size, codec, data)"
                " VALUES (?, ?, ?, ?, ?, ?, ?)",
                (
                    version.room,
                    version.created,
                    version.name,
                    version.authors,
                    version.size,
                    version.codec,
                    data,
                ),
            )
            if prune.keep:
                db.execute(
                    "DELETE FROM versions WHERE room = ? AND name IS NULL AND id NOT IN"
                    " (SELECT id FROM versions WHERE room = ? AND name IS NULL"
                    " ORDER BY id DESC LIMIT ?)",
                    (version.room, version.room, prune.keep),
                )
            if prune.before:
                db.execute(
                    "DELETE FROM versions WHERE room = ? AND name IS NULL AND created < ?",
                    (version.room, prune.before),
                )
            return int(cursor.lastrowid or 0)

        return await self._call(write)

    async def versions(self, room: str) -> list[StoredVersion]:
        """A room's versions, newest first, without their content."""

        def read(db: sqlite3.Connection) -> list[StoredVersion]:
            rows = db.execute(
                "SELECT id, room, created, name, authors, size, codec FROM versions"
                " WHERE room = ? ORDER BY id DESC",
                (room,),
            )
            return [StoredVersion(*row) for row in rows]

        return await self._call(read)

    async def version(self, room: str, version: int) -> tuple[StoredVersion, bytes] | None:
        """One version of a room and its stored content, or None."""

        def read(db: sqlite3.Connection) -> tuple[StoredVersion, bytes] | None:
            row = db.execute(
                "SELECT id, room, created, name, authors, size, codec, data FROM versions"
                " WHERE room = ? AND id = ?",
                (room, version),
            ).fetchone()
            return (StoredVersion(*row[:7]), bytes(row[7])) if row else None

        return await self._call(read)

    async def clients(self, room: str) -> dict[int, str]:
        """The identities (JSON) that wrote a room's Yjs client ids, by client id."""

        def read(db: sqlite3.Connection) -> dict[int, str]:
            rows = db.execute("SELECT client, identity FROM room_clients WHERE room = ?", (room,))
            return {int(client): str(identity) for client, identity in rows}

        return await self._call(read)

    async def add_clients(self, room: str, identities: dict[int, str]) -> None:
        """Record who wrote client ids of a room; a client id already recorded keeps its own."""

        def write(db: sqlite3.Connection) -> None:
            db.executemany(
                "INSERT OR IGNORE INTO room_clients (room, client, identity) VALUES (?, ?, ?)",
                [(room, client, identity) for client, identity in identities.items()],
            )

        await self._call(write)

    # -- writer thread ---------------------------------------------------------------------

    async def _call(self, fn: Callable[[sqlite3.Connection], T]) -> T:
        self._require_running()
        future: Future[T] = Future()
        self._queue.put((fn, future))
        return await asyncio.wrap_future(future)

    def _run(self, ready: Future[None]) -> None:
        lock = share_store(self.path)  # offline `jupyter ysync --store` refuses while held
        try:
            db = sqlite3.connect(self.path, isolation_level=None, check_same_thread=False)
            db.execute("PRAGMA journal_mode=WAL")
            db.execute(f"PRAGMA synchronous={self.synchronous}")
            db.execute("PRAGMA wal_autocheckpoint=0")  # see CHECKPOINT_INTERVAL
            db.execute(f"PRAGMA journal_size_limit={WAL_SIZE_LIMIT}")
            db.executescript(_SCHEMA)
            checkpointer = _Checkpointer(
                sqlite3.connect(self.path, isolation_level=None, check_same_thread=False)
            )
        except Exception as error:
            ready.set_exception(
                type(error)(f"Cannot open the room store {self.path}: {error}")
                if isinstance(error, sqlite3.Error)
                else error
            )
            while True:  # fail what was queued meanwhile instead of leaving it waiting
                try:
                    job = self._queue.get_nowait()
                except queue.Empty:
                    return
                if job is not None:
                    job[1].set_exception(error)
        ready.set_result(None)
        try:
            while True:
                item = self._queue.get()
                batch = [item]
                # Group commit: take everything queued while the last commit ran.
                while item is not None:
                    try:
                        item = self._queue.get_nowait()
                    except queue.Empty:
                        break
                    batch.append(item)
                self._run_batch(db, [job for job in batch if job is not None])
                checkpointer.written()
                if batch[-1] is None:
                    return
        finally:
            checkpointer.stop()
            db.close()
            if lock is not None:
                lock.close()

    def _run_batch(
        self,
        db: sqlite3.Connection,
        batch: list[tuple[Callable[[sqlite3.Connection], Any], Future[Any]]],
    ) -> None:
        results: list[tuple[Future[Any], Any, BaseException | None]] = []
        started = time.perf_counter()
        db.execute("BEGIN")
        for fn, future in batch:
            db.execute("SAVEPOINT job")
            try:
                results.append((future, fn(db), None))
                db.execute("RELEASE job")
            except Exception as job_error:
                log.warning("Store job %s failed in %s: %s", fn.__qualname__, self.path, job_error)
                db.execute("ROLLBACK TO job")
                db.execute("RELEASE job")
                results.append((future, None, job_error))
        try:
            db.execute("COMMIT")
        except Exception as commit_error:
            log.exception("Store commit failed in %s", self.path)
            db.execute("ROLLBACK")
            for future, _, _ in results:
                future.set_exception(commit_error)
            return
        STORE_COMMIT_SECONDS.observe(time.perf_counter() - started)
        for future, result, error in results:
            if error is None:
                future.set_result(result)
            else:
                future.set_exception(error)
