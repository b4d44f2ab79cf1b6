"""The guarantees of DESIGN.md, each as a scenario against real server processes.

Every test runs ``jupyter server`` with jupyter_ysync as a separate process
(``tests/servers.py``) so that it can be killed with SIGKILL and restarted on
the same port and store, and talks to it over real websockets: Python peers
(``jupyter_ysync.connect``), bare y-websocket peers (``tests/raw_peer.py``) and
a real kernel started by the server. Nothing synchronises on a bare sleep:
each step waits for an observable condition within a deadline.

Guarantee 1 (convergence) is covered here among Python peers only; the
JavaScript and y-py peers have their own interop tests.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import random
import re
import shutil
import sqlite3
import threading
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest
from pycrdt import Decoder, Doc

import jupyter_ysync
from jupyter_ysync import ConnectionStatus, SharedDocument
from jupyter_ysync.server.store import SQLiteStore
from tests.documents import doc_of, text_of
from tests.kernels import ServerKernel
from tests.raw_peer import RawPeer
from tests.servers import ServerProcess, room_info
from tests.waiting import wait_until

pytestmark = [pytest.mark.slow, pytest.mark.timeout(120)]

# -- helpers: reading and comparing replicas ----------------------------------------------------


def append(doc: SharedDocument, words: str) -> None:
    text = doc.text
    text.insert(len(text), words)


def state_vector(doc: Doc[Any]) -> dict[int, int]:
    """Decode a replica's state vector: the next clock of every client it has items of."""
    decoder = Decoder(doc.get_state())
    pairs = [
        (decoder.read_var_uint(), decoder.read_var_uint()) for _ in range(decoder.read_var_uint())
    ]
    return dict(pairs)


def contains(big: Doc[Any], small: Doc[Any]) -> bool:
    """Whether replica ``big`` holds every item replica ``small`` holds."""
    have = state_vector(big)
    return all(have.get(client, 0) >= clock for client, clock in state_vector(small).items())


def server_copy(server: ServerProcess, room: str) -> Doc[Any]:
    """The server's replica, as a brand-new peer receives it in its first sync."""

    async def join() -> Doc[Any]:
        peer = await RawPeer(server.room_url(room)).connect()
        try:
            await asyncio.wait_for(peer.synced.wait(), 10)
        finally:
            await peer.close()
        return peer.doc

    return asyncio.run(join())


def read_only(store_path: Path) -> sqlite3.Connection:
    """A read-only connection to a live store, beside the server's own (SQLite WAL mode)."""
    return sqlite3.connect(f"file:{store_path}?mode=ro", uri=True)


def stored_updates(db: sqlite3.Connection, room: str) -> list[bytes]:
    """The room's committed log (the schema of jupyter_ysync.server.store.SQLiteStore)."""
    rows = db.execute("SELECT data FROM updates WHERE room = ? ORDER BY id", (room,))
    return [bytes(data) for (data,) in rows]


def store_files(store_path: Path) -> list[Path]:
    return [Path(f"{store_path}{suffix}") for suffix in ("", "-wal", "-shm")]


def stored_copy(store_path: Path, room: str, scratch: Path) -> Doc[Any]:
    """The room as the store's files on disk hold it: what a restarted server loads.

    Read from a copy of the files (database, WAL and shared memory), so the
    server's own files are not touched.
    """
    scratch.mkdir(parents=True, exist_ok=True)
    for path in store_files(store_path):
        if path.exists():
            shutil.copy(path, scratch / path.name)

    async def load() -> list[bytes]:
        store = SQLiteStore(scratch / store_path.name)
        await store.start()
        try:
            return await store.load(room)
        finally:
            await store.stop()

    return doc_of(asyncio.run(load()))


def connect(server: ServerProcess, room: str) -> SharedDocument:
    return jupyter_ysync.connect(room, server.http_url, server.token)


def words(prefix: str, count: int) -> str:
    return "".join(f"{prefix}{i} " for i in range(count))


class StreamingWriter(threading.Thread):
    """A Python peer appending ``a0 a1 a2 ...`` without pause, across disconnections.

    The peer is only touched by this thread until :meth:`finish`; other threads
    read nothing but its connection status.
    """

    def __init__(self, doc: SharedDocument, prefix: str, pause: float = 0.003) -> None:
        super().__init__(name=f"writer-{prefix}", daemon=True)
        self.doc = doc
        self.prefix = prefix
        self.pause = pause
        self.count = 0
        self.error: BaseException | None = None
        self._stopping = threading.Event()

    def run(self) -> None:
        try:
            while not self._stopping.is_set():
                append(self.doc, f"{self.prefix}{self.count} ")
                self.count += 1
                self._stopping.wait(self.pause)  # pacing, not synchronisation
        except BaseException as error:  # reported by finish()
            self.error = error

    def finish(self) -> SharedDocument:
        self._stopping.set()
        self.join(10)
        assert not self.is_alive(), "the writer thread did not stop"
        if self.error is not None:
            raise self.error
        return self.doc


@pytest.fixture
def start_server(tmp_path: Path) -> Iterator[Callable[..., ServerProcess]]:
    """Start extra server processes (own folder, optional shared store and options)."""
    started: list[ServerProcess] = []

    def start(
        name: str, *, store_path: Path | None = None, extra: tuple[str, ...] = ()
    ) -> ServerProcess:
        server = ServerProcess(tmp_path / name, store_path=store_path, extra=list(extra))
        started.append(server)
        return server.start()

    yield start
    for server in started:
        server.stop()


# -- guarantee 1: convergence (Python peers) ----------------------------------------------------


def test_convergence_python_peers_random_concurrent_edits(ysync_process: ServerProcess) -> None:
    server, room, peers, ops = ysync_process, "convergence", 4, 60
    docs = [connect(server, room) for _ in range(peers)]
    append(docs[0], "seed text that everyone starts from\n")
    for doc in docs:
        wait_until(lambda doc=doc: "seed text" in str(doc.text), what="the seed text")

    def edit(index: int) -> None:
        rng = random.Random(index)
        doc = docs[index]
        for op in range(ops):
            text = doc.text
            length = len(text)
            if length > 10 and rng.random() < 0.3:
                start = rng.randrange(length - 1)
                text.delete(start, rng.randint(1, min(5, length - start)))
            else:
                text.insert(rng.randint(0, length), f"<{index}.{op}>")
            time.sleep(rng.uniform(0, 0.01))  # pacing: edits interleave with remote ones

    threads = [threading.Thread(target=edit, args=(i,)) for i in range(peers)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(30)
    assert not any(thread.is_alive() for thread in threads)

    def converged() -> bool:
        texts = {str(doc.text) for doc in docs}
        vectors = [state_vector(doc.ydoc) for doc in docs]
        return len(texts) == 1 and all(vector == vectors[0] for vector in vectors)

    wait_until(converged, what=lambda: f"convergence: {[str(d.text)[:60] for d in docs]}")
    final = str(docs[0].text)
    assert final.count("<") > 0
    wait_until(
        lambda: text_of(server_copy(server, room)) == final,
        what="the server's copy to equal the peers'",
    )
    assert state_vector(server_copy(server, room)) == state_vector(docs[0].ydoc)
    for doc in docs:
        doc.close()


# -- guarantee 2: durability ---------------------------------------------------------------------


def test_durability_kill_9_mid_stream_loses_nothing_any_peer_saw(
    ysync_process: ServerProcess, tmp_path: Path
) -> None:
    server = ysync_process
    room = "durability"
    writer = StreamingWriter(connect(server, room), "a")
    python_observer = connect(server, room)

    async def observe_then_kill() -> Doc[Any]:
        observer = await RawPeer(server.room_url(room)).connect()
        await asyncio.wait_for(observer.synced.wait(), 10)
        writer.start()
        with contextlib.closing(read_only(server.store_path)) as db:
            for _ in range(40):
                observer.changed.clear()
                await asyncio.wait_for(observer.changed.wait(), 10)
                # Forwarded means committed: the store already holds what just arrived.
                # (Each probe races a forward-before-commit bug; 40 of them catch it.)
                assert contains(doc_of(stored_updates(db, room)), observer.doc), (
                    "an update reached a peer before it was committed to the store"
                )
        # SIGKILL the moment the observer receives an update, in the middle of the stream.
        observer.changed.clear()
        await asyncio.wait_for(observer.changed.wait(), 10)
        server.kill()
        await asyncio.wait_for(observer.closed.wait(), 10)
        return observer.doc

    seen = asyncio.run(observe_then_kill())
    seen_text = text_of(seen)
    seen_count = seen_text.count(" ")
    assert seen_text == words("a", seen_count), "the observer saw the stream in order"

    # What the store's files hold after kill -9: everything the observer was sent.
    stored = stored_copy(server.store_path, room, tmp_path / "after-kill")
    assert contains(stored, seen), "an update sent to a peer was not in the store at kill -9"
    assert text_of(stored).startswith(seen_text)

    # The writer keeps editing offline meanwhile.
    wait_until(lambda: writer.doc.status == ConnectionStatus.DISCONNECTED, what="writer offline")
    count_at_kill = writer.count
    wait_until(lambda: writer.count >= count_at_kill + 20, what="offline edits")

    server.start()  # same port, same store
    fresh = server_copy(server, room)
    assert contains(fresh, seen), "the restarted server lacks updates a peer had seen"

    async def rejoin_and_converge() -> str:
        # The observer comes back with what it saw plus an edit made while offline.
        observer = RawPeer(server.room_url(room))
        observer.doc.apply_update(seen.get_update())
        observer.text.insert(0, "B-offline ")
        await observer.connect()
        await asyncio.to_thread(
            wait_until,
            lambda: writer.doc.status == ConnectionStatus.SYNCED,
            20,
            "the writer to reconnect by itself",
        )
        count_at_reconnect = writer.count
        await asyncio.to_thread(
            wait_until, lambda: writer.count >= count_at_reconnect + 20, 10, "online edits"
        )
        await asyncio.to_thread(writer.finish)
        expected = "B-offline " + words("a", writer.count)
        await observer.wait_for(lambda: str(observer.text) == expected, timeout=15)
        await observer.close()
        return expected

    expected = asyncio.run(rejoin_and_converge())
    assert writer.count >= count_at_kill + 40  # edits before, during and after the outage
    wait_until(lambda: str(writer.doc.text) == expected, what="the writer to converge")
    wait_until(lambda: str(python_observer.text) == expected, what="the Python observer")
    assert text_of(server_copy(server, room)) == expected

    # Everything was sent to some peer: all of it must survive a second kill -9.
    writer.doc.close()
    python_observer.close()
    server.kill()
    assert text_of(stored_copy(server.store_path, room, tmp_path / "end")) == expected


# -- guarantee 3: no divergence after a restart, even with the store lost ------------------------


def test_no_divergence_after_restart_with_store_deleted(
    ysync_process: ServerProcess, tmp_path: Path
) -> None:
    server, room = ysync_process, "no-divergence"
    one, two = connect(server, room), connect(server, room)
    append(one, "written by one\n")
    wait_until(lambda: str(two.text) == "written by one\n", what="two to see one's line")
    append(two, "written by two\n")
    expected = "written by one\nwritten by two\n"
    wait_until(lambda: str(one.text) == expected, what="one to see two's line")

    server.stop()
    for doc in (one, two):
        wait_until(lambda doc=doc: doc.status == ConnectionStatus.DISCONNECTED, what="offline")
    for path in store_files(server.store_path):
        path.unlink(missing_ok=True)
    assert not any(path.exists() for path in store_files(server.store_path))

    server.start()  # same port, empty store: the open clients must repopulate it
    wait_until(
        lambda: text_of(server_copy(server, room)) == expected,
        what="the clients to push the content back",
    )
    assert str(one.text) == str(two.text) == expected  # nothing duplicated on either side

    append(one, "after restart\n")
    expected += "after restart\n"
    wait_until(lambda: str(two.text) == expected, what="a new edit to reach the other client")

    # The repopulated content is in the store, not only in the server's memory.
    one.close()
    two.close()
    server.kill()
    assert text_of(stored_copy(server.store_path, room, tmp_path / "after")) == expected


# -- guarantee 4: offline edits ------------------------------------------------------------------


def test_offline_python_edits_merge_on_reconnect(
    ysync_process: ServerProcess, start_server: Callable[..., ServerProcess]
) -> None:
    server, room = ysync_process, "offline"
    offline = connect(server, room)
    append(offline, "shared start\n")
    wait_until(lambda: text_of(server_copy(server, room)) == "shared start\n", what="saved")

    server.kill()
    wait_until(lambda: offline.status == ConnectionStatus.DISCONNECTED, what="disconnected")
    offline.text.insert(0, "P title\n")
    append(offline, "P offline\n")
    assert str(offline.text) == "P title\nshared start\nP offline\n"
    assert offline.status == ConnectionStatus.DISCONNECTED  # edits are local only

    # Meanwhile another peer edits the same room on a server the offline peer cannot
    # reach (same store, other port): the two sides' edits are truly concurrent.
    elsewhere = start_server("elsewhere", store_path=server.store_path)
    with connect(elsewhere, room) as online:
        assert str(online.text) == "shared start\n"
        online.text.insert(0, "Q title\n")
        append(online, "Q online\n")
        online_text = str(online.text)
        wait_until(
            lambda: text_of(server_copy(elsewhere, room)) == online_text, what="Q's edits saved"
        )
    elsewhere.stop()
    assert offline.status == ConnectionStatus.DISCONNECTED

    server.start()  # back on the offline peer's port: it reconnects by itself
    expected_lines = sorted(["P title", "Q title", "shared start", "P offline", "Q online"])
    wait_until(
        lambda: sorted(str(offline.text).splitlines()) == expected_lines,
        timeout=20,
        what=lambda: f"the merge, got {str(offline.text)!r}",
    )
    wait_until(lambda: offline.status == ConnectionStatus.SYNCED, what="synced")
    merged = str(offline.text)
    assert sorted(online_text.splitlines()) == ["Q online", "Q title", "shared start"]
    wait_until(
        lambda: text_of(server_copy(server, room)) == merged, what="the server to hold the merge"
    )
    with connect(server, room) as later:
        assert str(later.text) == merged
    offline.close()


# -- guarantee 5: never re-initialise --------------------------------------------------------------


def test_room_reload_never_duplicates_content(
    start_server: Callable[..., ServerProcess],
) -> None:
    server = start_server(
        "reload",
        extra=("--YSyncApp.idle_unload_delay=0.2", "--YSyncApp.compact_after=5"),
    )
    room = "reload"
    writer, watcher = connect(server, room), connect(server, room)
    commits = 0

    def write(edit: Callable[[Any], None]) -> None:
        # One round trip per edit: each is its own commit (the server stores before it
        # forwards), so the log grows past the compaction threshold several times.
        nonlocal commits
        edit(writer.text)
        target = str(writer.text)
        wait_until(lambda: str(watcher.text) == target, what="the watcher to see the edit")
        commits += 1

    for i in range(24):
        write(lambda text, i=i: text.insert(len(text), f"line {i}\n"))
    write(lambda text: text.delete(0, len("line 0\n")))
    write(lambda text: text.insert(0, "Title\n"))
    original = str(writer.text)
    history = writer.ydoc.get_update()  # a replica with the full history, as a browser keeps
    writer.close()
    watcher.close()

    info = wait_until(lambda: room_info(server, room), what="room info")
    assert 1 <= info["updates"] <= 6 < commits, f"log not compacted: {info}"

    async def rejoin_after_unload(cycle: int) -> None:
        await asyncio.to_thread(
            wait_until, lambda: room_info(server, room)["loaded"] is False, 10, "idle unload"
        )
        fresh = await RawPeer(server.room_url(room)).connect()
        returning = RawPeer(server.room_url(room))
        returning.doc.apply_update(history)
        await returning.connect()
        for peer in (fresh, returning):
            await asyncio.wait_for(peer.synced.wait(), 10)
        await fresh.wait_for(lambda: str(fresh.text) == original, timeout=5)
        assert str(returning.text) == original, f"cycle {cycle}: {str(returning.text)!r}"
        await fresh.close()
        await returning.close()

    for cycle in range(3):
        asyncio.run(rejoin_after_unload(cycle))
        assert text_of(server_copy(server, room)) == original

    # More edits past the threshold while loaded, then a reload of the compacted log.
    writer, watcher = connect(server, room), connect(server, room)
    assert str(writer.text) == original
    for i in range(12):
        write(lambda text, i=i: text.insert(len(text), f"more {i}\n"))
    original = str(writer.text)
    history = writer.ydoc.get_update()
    watcher.close()
    writer.close()
    info = wait_until(lambda: room_info(server, room), what="room info")
    assert info["updates"] <= 6, f"log not compacted: {info}"
    asyncio.run(rejoin_after_unload(3))
    info = room_info(server, room)
    assert info is not None and info["updates"] <= 6


# -- guarantee 6: live from cells ----------------------------------------------------------------

LIVE_CELL = """
import json, os, tempfile, time
# Hide the server's runtime files: connect() can only find it through the env credential.
os.environ["JUPYTER_RUNTIME_DIR"] = tempfile.mkdtemp()
import jupyter_ysync

doc = jupyter_ysync.connect("live")
text = doc.text
print(json.dumps({
    "url": os.environ.get("JUPYTER_YSYNC_URL"),
    "token": os.environ.get("JUPYTER_YSYNC_TOKEN"),
    "room_url": doc.url,
}), flush=True)
for i in range(%(count)d):
    text.insert(len(text), f"w{i} ")
    time.sleep(%(pause)s)
doc.close()
"""


def test_live_from_cells_blocking_loop(ysync_process: ServerProcess) -> None:
    server, count, pause = ysync_process, 8, 0.3

    async def run() -> tuple[dict[int, float], dict[str, float], str]:
        observer = await RawPeer(server.room_url("live")).connect()
        await asyncio.wait_for(observer.synced.wait(), 10)
        arrivals: dict[int, float] = {}
        events: dict[str, float] = {}
        output: list[str] = []
        async with ServerKernel(server) as kernel:
            msg_id = await kernel.execute(LIVE_CELL % {"count": count, "pause": pause})

            async def watch_kernel() -> None:
                while "reply" not in events or "idle" not in events:
                    message = await kernel.receive()
                    if message.get("parent_header", {}).get("msg_id") != msg_id:
                        continue
                    kind, body = message["msg_type"], message["content"]
                    if kind == "status":
                        events.setdefault(body["execution_state"], time.monotonic())
                    elif kind == "execute_reply":
                        events["reply"] = time.monotonic()
                        assert body["status"] == "ok", "\n".join(body.get("traceback", []))
                    elif kind == "stream" and body["name"] == "stdout":
                        output.append(body["text"])
                    elif kind == "error":
                        raise AssertionError("\n".join(body["traceback"]))

            async def watch_words() -> None:
                while True:
                    for match in re.finditer(r"w(\d+) ", str(observer.text)):
                        arrivals.setdefault(int(match.group(1)), time.monotonic())
                    if len(arrivals) == count:
                        return
                    observer.changed.clear()
                    await observer.changed.wait()

            watcher = asyncio.ensure_future(watch_words())
            try:
                await asyncio.wait_for(watch_kernel(), 60)
            finally:
                watcher.cancel()
        assert str(observer.text) == words("w", count)
        await observer.close()
        return arrivals, events, "".join(output)

    arrivals, events, output = asyncio.run(run())
    assert sorted(arrivals) == list(range(count))
    for index, arrived in arrivals.items():
        assert arrived < events["idle"] and arrived < events["reply"], (
            f"w{index} reached the observer only after the cell finished"
        )
    # Each word went out as it was written, not in a burst at the end of the cell.
    spread = arrivals[count - 1] - arrivals[0]
    assert spread >= 0.6 * pause * (count - 1), f"words arrived in a burst ({spread:.2f} s)"
    assert arrivals[0] < events["idle"] - 0.6 * pause * (count - 1)

    # connect() with no arguments used the ysync-only credential the server gave the kernel.
    credential = json.loads(output.splitlines()[0])
    assert credential["url"] == server.ws_url
    assert credential["token"] and credential["token"] != server.token
    assert credential["room_url"] == f"{server.ws_url}ysync/rooms/live"


# -- the loader: concurrent first joiners ----------------------------------------------------------


def test_concurrent_first_joiners_all_sync(ysync_process: ServerProcess) -> None:
    server, room, joiners = ysync_process, "first-joiners", 20
    with connect(server, room) as author:
        for i in range(200):
            append(author, f"paragraph {i} of the stored document\n")
        expected = str(author.text)
        wait_until(lambda: text_of(server_copy(server, room)) == expected, what="saved")
    server.stop()
    server.start()  # the room now exists only in the store
    info = room_info(server, room)
    assert info is not None and info["loaded"] is False
    log_start = server.log_path.stat().st_size

    async def join_all() -> list[RawPeer]:
        peers = [RawPeer(server.room_url(room)) for _ in range(joiners)]
        await asyncio.gather(*(peer.connect() for peer in peers))
        await asyncio.gather(
            *(peer.wait_for(lambda peer=peer: str(peer.text) == expected, 10) for peer in peers)
        )
        # And the room they all joined is one room: an edit from each reaches all.
        for index, peer in enumerate(peers):
            peer.text.insert(len(peer.text), f"[{index}]")
        tags = {f"[{index}]" for index in range(joiners)}
        await asyncio.gather(
            *(
                peer.wait_for(lambda peer=peer: all(t in str(peer.text) for t in tags), 10)
                for peer in peers
            )
        )
        final = {str(peer.text) for peer in peers}
        assert len(final) == 1
        await asyncio.gather(*(peer.close() for peer in peers))
        return peers

    peers = asyncio.run(join_all())
    assert all(str(peer.text).startswith(expected) for peer in peers)
    with server.log_path.open("rb") as log:
        log.seek(log_start)
        loads = log.read().decode(errors="replace").count(f"Loaded room {room} ")
    assert loads == 1, f"room loaded {loads} times for {joiners} concurrent joiners"
