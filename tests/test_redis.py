"""One room across many servers on one Redis (:mod:`jupyter_ysync.server.redis_sync`).

Real parts only: ``redis-server`` processes (:mod:`tests.redis_server`), jupyter_server
processes (:mod:`tests.servers`), Python peers (``connect()``) and Yjs peers in node
(:mod:`tests.interop.peers`). Each test is named after the guarantee it proves.
"""

from __future__ import annotations

import asyncio
import contextlib
import random
import threading
import time
import urllib.request
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

import pytest
import redis as redis_client
from pycrdt import Doc, Text

from jupyter_ysync import SharedDocument, connect
from jupyter_ysync.protocol import CloseCode
from jupyter_ysync.server.redis_keys import (
    START,
    Poke,
    RoomKeys,
    Signal,
    StreamId,
    encode_awareness_message,
    encode_control,
    parse_awareness_message,
    parse_control,
    parse_poke,
)
from tests.interop.peers import (
    JsPeer,
    install_node_peer,
    js_peers,
    python_state,
    random_edit,
    seed_from_env,
)
from tests.raw_peer import RawPeer
from tests.redis_server import RedisProcess, running_redis
from tests.servers import ServerProcess, room_info
from tests.waiting import wait_until

pytestmark = [pytest.mark.slow]

NAMESPACE = "ysync"
SERVER_TTL = 1.5
"""Seconds a server's liveness key lives: a dead server's peers leave about that late."""


# -- a cluster -------------------------------------------------------------------------------


class Cluster:
    """``count`` jupyter servers sharing one redis-server, each with its own SQLite store."""

    def __init__(self, root: Path, redis: RedisProcess, count: int, *extra: str) -> None:
        self.root = root
        self.redis = redis
        self.servers = [
            ServerProcess(
                root / f"server-{index}",
                extra=(
                    f"--YSyncApp.redis_url={redis.url}",
                    f"--YSyncApp.redis_server_ttl={SERVER_TTL}",
                    "--YSyncApp.idle_unload_delay=0.5",
                    *extra,
                ),
            )
            for index in range(count)
        ]
        self.docs: list[SharedDocument] = []

    def start(self) -> Cluster:
        with ThreadPoolExecutor(len(self.servers)) as pool:
            list(pool.map(ServerProcess.start, self.servers))
        return self

    def join(self, server: int, room: str, **options: Any) -> SharedDocument:
        """A Python peer of ``room`` on server ``server``, synced."""
        target = self.servers[server]
        doc = connect(room, url=target.http_url, token=target.token, timeout=15, **options)
        self.docs.append(doc)
        return doc

    def close_peers(self) -> None:
        with ThreadPoolExecutor(8) as pool:
            list(pool.map(SharedDocument.close, self.docs))
        self.docs.clear()

    def stop(self) -> None:
        self.close_peers()
        with ThreadPoolExecutor(len(self.servers)) as pool:
            list(pool.map(ServerProcess.stop, self.servers))

    def client(self) -> redis_client.Redis:
        return redis_client.Redis.from_url(self.redis.url, socket_timeout=5)


@contextlib.contextmanager
def cluster(root: Path, count: int, *extra: str) -> Iterator[Cluster]:
    with running_redis(root / "redis") as redis:
        servers = Cluster(root, redis, count, *extra).start()
        try:
            yield servers
        finally:
            servers.stop()


def text_of(doc: SharedDocument) -> str:
    return str(doc.ydoc.get("content", type=Text))


def lines_of(text: str) -> list[str]:
    return [line for line in text.split("\n") if line]


class Writer:
    """Appends numbered lines (``<name>-0001``...) to a room from a thread, until stopped."""

    def __init__(self, doc: SharedDocument, name: str, pause: float = 0.005) -> None:
        self.doc = doc
        self.name = name
        self.pause = pause
        self.count = 0
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, daemon=True)

    def line(self, index: int) -> str:
        return f"{self.name}-{index:04d}"

    def start(self) -> Writer:
        self._thread.start()
        return self

    def _run(self) -> None:
        while not self._stop.is_set():
            text = self.doc.text
            text.insert(len(text), self.line(self.count + 1) + "\n")
            self.count += 1
            time.sleep(self.pause)

    def wait_count(self, count: int, timeout: float = 15) -> None:
        wait_until(lambda: self.count >= count, timeout, f"{self.name} to write {count} lines")

    def finish(self) -> list[str]:
        """Stop writing; return every line written."""
        self._stop.set()
        self._thread.join(10)
        return [self.line(index) for index in range(1, self.count + 1)]


def redis_doc(servers: Cluster, room: str) -> Doc[Any]:
    """The room as Redis holds it: its snapshot, then the stream entries it does not cover."""
    keys = RoomKeys.of(NAMESPACE, room)
    with contextlib.closing(servers.client()) as client:
        snapshot = client.hgetall(keys.snapshot)
        entries = client.xrange(keys.log)
    doc: Doc[Any] = Doc()
    if b"u" in snapshot:
        doc.apply_update(snapshot[b"u"])
    covered = tuple(int(part) for part in snapshot.get(b"id", b"0-0").split(b"-"))
    for entry_id, fields in entries:
        if tuple(int(part) for part in entry_id.split(b"-")) > covered:
            doc.apply_update(fields[b"u"])
    return doc


def redis_lines(servers: Cluster, room: str) -> list[str]:
    return lines_of(str(redis_doc(servers, room).get("content", type=Text)))


def assert_once_each(lines: list[str], expected: list[str], where: str) -> None:
    """Every expected line, each exactly once (nothing lost, nothing duplicated)."""
    missing = sorted(set(expected) - set(lines))
    assert not missing, f"{where} lost {len(missing)} lines, e.g. {missing[:5]}"
    duplicated = sorted({line for line in lines if lines.count(line) > 1})
    assert not duplicated, f"{where} holds lines twice: {duplicated[:5]}"


def delete_room(server: ServerProcess, room: str) -> int:
    request = urllib.request.Request(
        f"{server.http_url}ysync/rooms/{room}",
        method="DELETE",
        headers={"Authorization": f"token {server.token}"},
    )
    with urllib.request.urlopen(request, timeout=10) as response:
        return int(response.status)


# -- keys and messages (pure) ----------------------------------------------------------------


def test_every_key_of_a_room_carries_its_hash_tag() -> None:
    """Redis Cluster ready: a room's keys and channels hash to one slot."""
    keys = RoomKeys.of("ysync", "team:plan")
    names = [keys.log, keys.snapshot, keys.lock, keys.poke, keys.awareness]
    assert all(name.startswith("{ysync:team:plan}:") for name in names)
    assert len(set(names)) == 5


def test_pub_sub_messages_read_back_what_was_written() -> None:
    poke = parse_poke(b"Aab12 1-0 2-3\n\x01\x02")
    assert poke == Poke(Signal.APPENDED, "ab12", StreamId(2, 3), StreamId(1, 0), b"\x01\x02")
    assert parse_poke(b"Aab12 1-0 2-3\n").update is None  # too large to travel with it
    assert parse_poke(b"Cab12 5-0") == Poke(Signal.COMPACTED, "ab12", StreamId(5, 0))
    update = encode_awareness_message(Signal.AWARENESS, "s1", b"\x00\n")
    assert parse_awareness_message(update).update == b"\x00\n"
    assert parse_awareness_message(encode_awareness_message(Signal.QUERY, "s1")).server == "s1"
    deleted = parse_control(encode_control(Signal.DELETED, "s1", "notes"))
    assert (deleted.signal, deleted.server, deleted.room) == (Signal.DELETED, "s1", "notes")
    for bad in (b"", b"Z", b"A1 2", b"Cx y-z"):
        with pytest.raises(ValueError):
            parse_poke(bad)
    assert StreamId.parse(b"10-2") > StreamId.parse("9-99") > START


# -- convergence and first load --------------------------------------------------------------


def test_js_and_python_peers_spread_over_three_servers_converge(tmp_path: Path) -> None:
    """Yjs peers (WebsocketProvider in node) on servers A and B and Python peers on B and C
    edit one room at random at once; every replica ends identical, and so does Redis."""
    install_node_peer()
    seed = seed_from_env(20241114)
    rng = random.Random(seed)
    room = f"spread-{seed}"
    with cluster(tmp_path, 3) as servers:
        a, b = servers.servers[:2]
        with js_peers(
            JsPeer(f"{a.ws_url}ysync/rooms", room, a.token, name="js-a", seed=seed, ops=100),
            JsPeer(f"{b.ws_url}ysync/rooms", room, b.token, name="js-b", seed=seed + 1, ops=100),
        ) as js:
            for peer in js:
                peer.wait_ready()
            py = [servers.join(1, room), servers.join(2, room)]
            started = [peer.send("edit") for peer in js]
            for _ in range(100):
                for doc in py:
                    random_edit(doc, rng)
                time.sleep(rng.uniform(0, 0.01))  # pacing, not synchronisation
            for peer, ident in zip(js, started, strict=True):
                peer.reply(ident, timeout=30)

            readers = [lambda doc=doc: python_state(doc) for doc in py]
            readers += [peer.state for peer in js]
            states: list[dict[str, Any]] = []

            def converged() -> bool:
                states[:] = [read() for read in readers]
                return all(state == states[0] for state in states)

            wait_until(converged, 20, what=lambda: f"convergence (seed {seed}): {states}")
            final = states[0]
            assert final["text"].strip()
        redis_text = str(redis_doc(servers, room).get("content", type=Text))
        assert redis_text == final["text"], f"Redis holds the same (seed {seed})"


def test_a_server_opening_a_live_room_serves_it_whole_to_its_first_peer(tmp_path: Path) -> None:
    """Consistent first load: B opens a room live on A (snapshot + stream in Redis) and its
    first peer's first sync already holds everything A's peers had been sent."""
    install_node_peer()
    with cluster(tmp_path, 3, "--YSyncApp.compact_after=50") as servers:
        writer = Writer(servers.join(0, "live"), "a").start()
        observer = servers.join(0, "live")
        writer.wait_count(200)
        seen = lines_of(text_of(observer))  # A sent these: they are in Redis
        assert len(seen) >= 150

        late = servers.join(1, "live")  # connect() returns after the first sync
        assert_once_each(lines_of(text_of(late)), seen, "B's first sync")

        b = servers.servers[2]
        with js_peers(JsPeer(f"{b.ws_url}ysync/rooms", "live", b.token, name="js-late")) as js:
            js[0].wait_ready()
            assert_once_each(lines_of(js[0].state()["text"]), seen, "C's first Yjs peer")
        written = writer.finish()
        wait_until(lambda: lines_of(text_of(late)) == written, what="B to follow the writer")


# -- awareness -------------------------------------------------------------------------------


def test_presence_crosses_servers_and_a_dead_servers_peers_leave(tmp_path: Path) -> None:
    """Carets cross servers: a Python peer on A, a Yjs peer on B and a Python peer on C see
    each other; C is killed -9 and its peer's presence leaves A and B within seconds; the Yjs
    peer leaves and its presence goes at once."""
    install_node_peer()
    with cluster(tmp_path, 3) as servers:
        b, c = servers.servers[1:]
        alice = servers.join(0, "carets", presence={"name": "alice", "color": "#f00"})
        carol = servers.join(2, "carets", presence={"name": "carol", "color": "#0f0"})
        with js_peers(JsPeer(f"{b.ws_url}ysync/rooms", "carets", b.token, name="js-b")) as js:
            js_b = js[0]
            js_id = js_b.wait_ready()

            def names(states: dict[int, dict[str, Any]]) -> set[str]:
                return {(s.get("user") or {}).get("name", "") for s in states.values()}

            wait_until(lambda: {"js-b", "carol"} <= names(alice.peers), what="A sees B and C")
            wait_until(lambda: {"alice", "carol"} <= names(js_b.peers()), what="B sees A and C")
            wait_until(lambda: {"alice", "js-b"} <= names(carol.peers), what="C sees A and B")
            alice.text.insert(0, "hello")
            wait_until(lambda: text_of(carol) == "hello", what="A's edit on C")

            c.kill()
            started = time.monotonic()
            wait_until(lambda: "carol" not in names(alice.peers), 10, "carol gone from A")
            wait_until(lambda: "carol" not in names(js_b.peers()), 10, "carol gone from B")
            assert time.monotonic() - started < SERVER_TTL * 4

            js_b.stop()
        wait_until(lambda: js_id not in alice.peers, 5, "the Yjs peer's goodbye on A")


# -- durability ------------------------------------------------------------------------------


def test_kill_9_of_a_server_mid_stream_loses_nothing_any_peer_saw(tmp_path: Path) -> None:
    """A writer on A, observers on A and B; A is killed -9 mid-stream. Every line A's
    observer had been sent is served by B and C afterwards, each once."""
    with cluster(tmp_path, 3) as servers:
        writer = Writer(servers.join(0, "kill"), "a", pause=0.002).start()
        on_a = servers.join(0, "kill")
        on_b = servers.join(1, "kill")
        writer.wait_count(300)
        servers.servers[0].kill()
        seen = lines_of(text_of(on_a))  # nothing more can reach it
        assert len(seen) >= 250
        wait_until(lambda: set(seen) <= set(lines_of(text_of(on_b))), what="B to have all")
        fresh = servers.join(2, "kill")
        assert_once_each(lines_of(text_of(fresh)), seen, "C after A's kill -9")
        assert_once_each(lines_of(text_of(on_b)), seen, "B after A's kill -9")
        assert_once_each(redis_lines(servers, "kill"), seen, "Redis after A's kill -9")
        writer.finish()


def test_redis_restart_mid_stream_loses_nothing(tmp_path: Path) -> None:
    """Redis is killed -9 mid-stream and restarted from its append-only file: A keeps serving
    its peers meanwhile, and afterwards B, Redis and a new server hold every line, once."""
    with cluster(tmp_path, 3) as servers:
        writer = Writer(servers.join(0, "restart"), "a").start()
        on_a = servers.join(0, "restart")
        on_b = servers.join(1, "restart")
        writer.wait_count(100)
        servers.redis.kill()
        seen_before = lines_of(text_of(on_a))
        count = writer.count
        wait_until(lambda: len(lines_of(text_of(on_a))) > count + 50, what="A serving alone")
        servers.redis.start()
        writer.wait_count(writer.count + 100)
        written = writer.finish()
        assert set(seen_before) <= set(written)
        wait_until(lambda: lines_of(text_of(on_b)) == written, what="B to catch up")
        wait_until(lambda: lines_of(text_of(on_a)) == written, what="A's observer")
        assert_once_each(redis_lines(servers, "restart"), written, "Redis after its restart")
        fresh = servers.join(2, "restart")
        assert lines_of(text_of(fresh)) == written


def test_a_partition_from_redis_for_10_s_converges_both_ways(tmp_path: Path) -> None:
    """Redis stops answering for 10 s (SIGSTOP: connections hang, as in a partition) while
    peers on A and B write; each server keeps serving its own peers; once Redis answers again
    both sides hold both sides' lines, each once."""
    with cluster(tmp_path, 2) as servers:
        on_a = servers.join(0, "partition")
        on_b = servers.join(1, "partition")
        writers = [Writer(on_a, "a", pause=0.02).start(), Writer(on_b, "b", pause=0.02).start()]
        watch_a, watch_b = servers.join(0, "partition"), servers.join(1, "partition")
        for writer in writers:
            writer.wait_count(20)
        servers.redis.pause()
        try:
            counts = [writer.count for writer in writers]
            time.sleep(10)  # the partition's length is the point of the test
            # Each side served its own peers meanwhile.
            assert {line for line in lines_of(text_of(watch_a)) if line.startswith("a-")} >= {
                writers[0].line(index) for index in range(counts[0], counts[0] + 100)
            }
            assert any(line.startswith("b-") for line in lines_of(text_of(watch_b)))
        finally:
            servers.redis.resume()
        for writer in writers:
            writer.wait_count(writer.count + 20)
        written = writers[0].finish() + writers[1].finish()
        for name, doc in [("A", watch_a), ("B", watch_b)]:
            wait_until(
                lambda doc=doc: set(lines_of(text_of(doc))) == set(written),
                20,
                f"{name} to hold both sides' lines",
            )
            assert_once_each(lines_of(text_of(doc)), written, name)
        assert text_of(watch_a) == text_of(watch_b)
        assert_once_each(redis_lines(servers, "partition"), written, "Redis")


def test_edits_made_while_cut_off_reach_redis_after_the_room_unloaded(tmp_path: Path) -> None:
    """A room opened, edited and left on A while Redis is unreachable unloads there; once Redis
    is back, A pushes what its store holds, and a peer on B gets it."""
    with cluster(tmp_path, 2) as servers:
        on_b = servers.join(1, "unloaded")
        servers.redis.pause()
        try:
            offline = servers.join(0, "unloaded")
            offline.text.insert(0, "written on A while cut off\n")
            wait_until(
                lambda: (room_info(servers.servers[0], "unloaded") or {}).get("size", 0) > 20,
                what="A to store the edit",
            )
            offline.close()
            servers.docs.remove(offline)
            wait_until(
                lambda: (room_info(servers.servers[0], "unloaded") or {}).get("loaded") is False,
                what="A to unload the room",
            )
        finally:
            servers.redis.resume()
        wait_until(lambda: "written on A" in text_of(on_b), 20, "A's edit on B")
        assert lines_of(text_of(on_b)) == ["written on A while cut off"]


# -- compaction ------------------------------------------------------------------------------


def test_content_survives_compaction_while_writers_keep_going(tmp_path: Path) -> None:
    """With compact_after=20, writers on A and B append 400 lines each: Redis keeps a
    snapshot and a short stream, and every line survives, once, on every server and for a
    server that opens the room afterwards."""
    with cluster(tmp_path, 3, "--YSyncApp.compact_after=20") as servers:
        writers = [
            Writer(servers.join(0, "compact"), "a").start(),
            Writer(servers.join(1, "compact"), "b").start(),
        ]
        keys = RoomKeys.of(NAMESPACE, "compact")
        lengths: list[int] = []
        with contextlib.closing(servers.client()) as client:
            while min(writer.count for writer in writers) < 400:
                lengths.append(int(client.xlen(keys.log)))
                time.sleep(0.05)
            written = writers[0].finish() + writers[1].finish()
            snapshot = client.hgetall(keys.snapshot)
            assert b"u" in snapshot, "no snapshot was written"
            assert max(lengths[len(lengths) // 2 :]) <= 100, f"stream lengths: {lengths}"
        for doc in servers.docs:
            wait_until(lambda doc=doc: set(lines_of(text_of(doc))) == set(written), 20)
            assert_once_each(lines_of(text_of(doc)), written, "a writer")
        assert_once_each(redis_lines(servers, "compact"), written, "Redis")
        fresh = servers.join(2, "compact")
        assert_once_each(lines_of(text_of(fresh)), written, "a server opening it afterwards")


# -- deletion --------------------------------------------------------------------------------


def test_deleting_a_room_on_one_server_closes_its_peers_everywhere(tmp_path: Path) -> None:
    """DELETE ysync/rooms/{room} on A closes the room's peers on A, B and C with 4404 and
    removes it from Redis and from every server's store."""
    with cluster(tmp_path, 3) as servers:

        async def delete_while_joined() -> list[int | None]:
            urls = [server.room_url("doomed") for server in servers.servers]
            peers = [await RawPeer(url).connect() for url in urls]
            for peer in peers:
                await asyncio.wait_for(peer.synced.wait(), 10)
            peers[0].text.insert(0, "soon gone")
            for peer in peers:
                await peer.wait_for(lambda peer=peer: str(peer.text) == "soon gone")
            status = await asyncio.to_thread(delete_room, servers.servers[0], "doomed")
            assert status == 204
            for peer in peers:
                await asyncio.wait_for(peer.closed.wait(), 10)
            return [peer.close_code for peer in peers]

        codes = asyncio.run(delete_while_joined())
        assert codes == [CloseCode.ROOM_DELETED] * 3
        keys = RoomKeys.of(NAMESPACE, "doomed")
        with contextlib.closing(servers.client()) as client:
            wait_until(lambda: not client.exists(keys.log, keys.snapshot), what="keys deleted")
        for server in servers.servers:
            wait_until(lambda server=server: room_info(server, "doomed") is None, what="gone")
