"""Compaction (ours only): what compacting a large room costs the server and the other rooms.

One writer grows a room's text by big appends, one update per append, each
stored as a row of its own (the writer sends the next update once a sync
step 1 it sent after the previous one has been answered: the server answers
step 1 only after the updates before it are committed). With
``--YSyncApp.compact_after=N`` the room compacts at its (N+1)-th row, then
every N rows: the update sizes are chosen so that the text is
``Sizes.compaction_mib`` (10, 20, 30 MiB) long at the three compactions.

Meanwhile a probe pair in an unrelated room does a round trip every 10 ms: one
peer sends a one-character update, the other timestamps its arrival. A
compaction that holds the event loop, or the store's writer thread (which
commits every room's updates, so gates every room's fan-out), shows as probe
latency in a window around it. The figures, per compaction: the server's RSS
just before the update that triggers it, its peak until the store's log is
one row again and its value one second after that; the probes' p99 and max
latency in the window from that update's send until 0.5 s after the log is
one row, against their p99 while the room grows, outside those windows. At
the end: RSS once the room has been idle for a few seconds, and once it has
unloaded.

The writer's updates are encoded before the server starts, so the generator
does no big edit while it times the probes (a 50 KiB append to a 30 MiB text
costs pycrdt ~40 ms). The server is started by this scenario, with its own
launcher that prints where ``jupyter_ysync`` was imported from (in the notes):
set ``YSYNC_BENCH_SOURCE`` to a checkout (e.g. a ``git worktree`` of an older
commit) to measure that checkout's server instead of this one's.
"""

from __future__ import annotations

import asyncio
import bisect
import contextlib
import functools
import json
import os
import secrets
import sqlite3
import urllib.request
from collections.abc import AsyncIterator, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from pycrdt import (
    Doc,
    Text,
    YMessageType,
    YSyncMessageType,
    create_update_message,
    read_message,
    write_message,
)

from ..loadgen import LatencyProbe, PeerError, PeerTimeout, YPeer, first_clock, now
from ..peers import HOST, Ours, RunningServer
from ..results import Better, Metric, Run, percentile
from ..wsclient import WebSocketClient
from .base import LETTERS, Bench, Sizes, gc_paused, warm_up

MiB = 1024 * 1024
LOW = Better.LOWER

SOURCE_ENV = "YSYNC_BENCH_SOURCE"
"""A checkout whose ``jupyter_ysync`` the server imports instead of this repository's."""

IMPORTED_FROM = "jupyter_ysync imported from"
"""What the server's launcher prints first in its log."""

PROBE_INTERVAL_S = 0.010
"""The probe pair's round trip period."""

WRITE_INTERVAL_S = 0.050
"""The writer sends at most one big update per this period."""

IDLE_BASELINE_S = 3.0
"""Probing before the writer starts: the latency of an idle server."""

WINDOW_TAIL_S = 0.5
"""A compaction's probe window ends this long after the log is one row again."""

SETTLE_S = 1.0
"""After a compaction, RSS is read (and the writer resumes) this long after the log is one row."""

END_IDLE_S = 5.0
"""After the last update, the room stays idle this long before RSS is read."""

UNLOAD_DELAY_S = 1.0
"""``--YSyncApp.idle_unload_delay``: the room unloads this long after its last peer left."""

POLL_S = 0.010
"""How often the store's row count (and the server's RSS) is read during a compaction."""

_LAUNCHER = (
    "import sys, jupyter_ysync\n"
    f"print({IMPORTED_FROM!r}, jupyter_ysync.__file__, flush=True)\n"
    "from jupyter_server.serverapp import launch_new_instance\n"
    "launch_new_instance()\n"
)


def compaction_metrics(sizes: Sizes) -> tuple[Metric, ...]:
    """The figures of each compaction, then the baseline and the RSS at the end."""
    metrics: list[Metric] = []
    for index, mib in enumerate(sizes.compaction_mib):
        metrics += [
            Metric(f"c{index}_rss_before", f"RSS before the compaction at {mib} MiB", "MiB", LOW),
            Metric(f"c{index}_rss_after", f"RSS {SETTLE_S:g} s after it", "MiB", LOW),
            Metric(f"c{index}_rss_growth", "RSS growth across it", "MiB", LOW),
            Metric(f"c{index}_rss_peak", "RSS peak during it, above the RSS before", "MiB", LOW),
            Metric(f"c{index}_p99_ms", "probe latency p99 around it", "ms", LOW),
            Metric(f"c{index}_max_ms", "probe latency max around it", "ms", LOW),
            Metric(f"c{index}_s", "its duration (update sent → log of 1 row)", "s", LOW, 3),
        ]
    idle = f"RSS at the end, the room idle for {END_IDLE_S:g} s"
    metrics += [
        Metric("baseline_p99_ms", "probe p99 while the room grows, outside those", "ms", LOW),
        Metric("idle_p99_ms", "probe p99 before the room grows", "ms", LOW),
        Metric("rss_idle", idle, "MiB", LOW),
        Metric("rss_unloaded", "RSS at the end, the room unloaded", "MiB", LOW),
    ]
    return tuple(metrics)


def compaction_title(sizes: Sizes) -> str:
    """The scenario's title, naming the server's code when it is not this repository's."""
    steps = "/".join(str(mib) for mib in sizes.compaction_mib)
    title = (
        f"compaction: a room grows to {steps} MiB in big updates"
        f" (compact_after={sizes.compaction_after}), probes in another room"
    )
    source = os.environ.get(SOURCE_ENV)
    return title + (f"; server code from {source}" if source else "")


# -- the writer's updates --------------------------------------------------------------------


@dataclass(frozen=True)
class Growth:
    """The writer's updates, encoded in advance, and which of them trigger a compaction."""

    updates: list[bytes]
    states: list[bytes]
    """The writer's state vector once each update is applied: what its sync step 1 sends."""
    triggers: dict[int, int]
    """Index of an update -> the compaction (0, 1, 2) its commit triggers."""
    chunks: list[tuple[int, int]]
    """(updates, characters per update) of each step."""
    text: str


@functools.cache
def growth(steps_mib: tuple[int, ...], compact_after: int) -> Growth:
    """Appends that take the text to each of ``steps_mib`` exactly when the room compacts.

    The store counts a room's rows from its load (0 for a new room); a commit that takes
    the count past ``compact_after`` compacts the log into 1 row. So the first compaction
    follows update ``compact_after + 1``, and each further one ``compact_after`` updates
    later; step ``k``'s updates share that step's characters evenly.
    """
    doc: Doc[Any] = Doc()
    text = doc.get("content", type=Text)
    updates: list[bytes] = []
    doc.observe(lambda event: updates.append(event.update))
    states: list[bytes] = []
    triggers: dict[int, int] = {}
    chunks: list[tuple[int, int]] = []
    line = (LETTERS * 4)[:79] + "\n"
    pattern = line * (2 * MiB // len(line) + 2)
    written = 0
    for step, mib in enumerate(steps_mib):
        count = compact_after + 1 if step == 0 else compact_after
        total = mib * MiB - written
        if total < count:
            raise ValueError(f"compaction sizes must grow by at least {count} bytes a step")
        size = total // count
        chunks.append((count, size))
        for index in range(count):
            length = size if index < count - 1 else total - size * (count - 1)
            offset = written % len(line)
            with doc.transaction():
                text.insert(written, pattern[offset : offset + length])
            written += length
            states.append(doc.get_state())
        triggers[len(updates) - 1] = step
    return Growth(updates, states, triggers, chunks, str(text))


class BulkWriter:
    """Sends pre-encoded updates into a room; ``stored()`` returns once the server stored them.

    The server answers a sync step 1 only once the updates received before it are
    committed and fanned out, so a step 1 after each update is a barrier: one row each.
    """

    def __init__(self) -> None:
        self._ws: WebSocketClient | None = None
        self._replies = 0
        self._replied = asyncio.Event()
        self._closed = False

    async def connect(self, url: str, timeout: float) -> None:
        """Open the room (and sync with an empty state: the room is new)."""
        try:
            self._ws = await WebSocketClient.connect(
                url, self._on_message, self._on_close, timeout=timeout
            )
        except Exception as exc:  # OSError, TimeoutError, WebSocketError
            raise PeerError(f"cannot open {url}: {exc!r}") from exc
        await self.stored(b"\x00", timeout)

    async def send(self, update: bytes) -> None:
        assert self._ws is not None
        await self._ws.send(create_update_message(update))

    async def stored(self, state: bytes, timeout: float) -> None:
        """Send a sync step 1 with ``state``; return once its step 2 arrived.

        Raises:
            PeerTimeout: if no step 2 came within ``timeout`` seconds.
            PeerError: if the connection closed.
        """
        assert self._ws is not None
        wanted = self._replies + 1
        step1 = bytes((YMessageType.SYNC, YSyncMessageType.SYNC_STEP1)) + write_message(state)
        await self._ws.send(step1)
        loop = asyncio.get_running_loop()
        deadline = loop.time() + timeout
        while self._replies < wanted:
            if self._closed:
                raise PeerError("the writer's connection closed")
            self._replied.clear()
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self._replied.wait(), max(0.0, deadline - loop.time()))
            if self._replies < wanted and loop.time() >= deadline:
                raise PeerTimeout(f"the server did not answer the writer within {timeout} s")

    async def close(self) -> None:
        if self._ws is not None:
            await self._ws.close()
        self._ws = None

    def _on_message(self, message: bytes, arrival: float) -> None:
        if message[:2] == bytes((YMessageType.SYNC, YSyncMessageType.SYNC_STEP2)):
            self._replies += 1
            self._replied.set()

    def _on_close(self) -> None:
        self._closed = True
        self._replied.set()


# -- the server --------------------------------------------------------------------------------


@dataclass
class OursFrom(Ours):
    """Ours, launched so that it prints where ``jupyter_ysync`` comes from; optionally
    from another checkout (``source`` goes first on its ``PYTHONPATH``)."""

    source: Path | None = None

    def command(self, port: int, token: str, workdir: Path) -> tuple[list[str], dict[str, str]]:
        argv, env = super().command(port, token, workdir)
        if argv[1:3] != ["-m", "jupyter_server"]:
            raise RuntimeError(f"unexpected server command {argv[:3]}")
        argv[1:3] = ["-c", _LAUNCHER]
        if self.source is not None:
            env["PYTHONPATH"] = os.pathsep.join((str(self.source), env["PYTHONPATH"]))
        return argv, env


@contextlib.asynccontextmanager
async def started(
    kind: OursFrom, folder: Path, args: Sequence[str]
) -> AsyncIterator[RunningServer]:
    """A fresh, warmed-up server (its RSS figures are its own)."""
    server = await asyncio.to_thread(kind.start, folder, args)
    try:
        await warm_up(server, f"bench-warmup-{secrets.token_hex(4)}")
        yield server
    finally:
        await asyncio.to_thread(server.stop)


def server_source() -> Path | None:
    """The checkout named by ``YSYNC_BENCH_SOURCE``, if any."""
    source = os.environ.get(SOURCE_ENV)
    return Path(source).resolve() if source else None


def imported_from(server: RunningServer) -> str:
    """Where the server imported ``jupyter_ysync`` from (its launcher's first line)."""
    with contextlib.suppress(OSError):
        for text in server.log_path.read_text(errors="replace").splitlines():
            if text.startswith(IMPORTED_FROM):
                return text[len(IMPORTED_FROM) :].strip()
    return "?"


def loaded(server: RunningServer, room: str) -> bool:
    """Whether ``room`` is loaded (``GET ysync/rooms``, which lists loaded and stored rooms)."""
    url = f"http://{HOST}:{server.port}/ysync/rooms?token={server.token}"
    with urllib.request.urlopen(url, timeout=10) as response:
        rooms = json.load(response)
    return any(entry.get("name") == room and entry.get("loaded") for entry in rooms)


async def _wait_unloaded(server: RunningServer, room: str, timeout: float) -> None:
    """Wait until the server unloaded ``room``.

    Raises:
        PeerTimeout: if it is still loaded after ``timeout`` seconds.
    """
    deadline = now() + timeout
    while await asyncio.to_thread(loaded, server, room):
        if now() > deadline:
            raise PeerTimeout(f"room {room} still loaded {timeout} s after its last peer left")
        await asyncio.sleep(0.2)


class RowCounter:
    """Counts a room's rows in the server's store, from a read-only connection of our own."""

    def __init__(self, path: Path, room: str) -> None:
        self._db = sqlite3.connect(f"file:{path}?mode=ro", uri=True, check_same_thread=False)
        self._room = room

    def count(self) -> int:
        row = self._db.execute(
            "SELECT COUNT(*) FROM updates WHERE room = ?", (self._room,)
        ).fetchone()
        return int(row[0])

    def close(self) -> None:
        self._db.close()


# -- the scenario ----------------------------------------------------------------------------


@dataclass
class Window:
    """One compaction: when it was triggered and done, and the RSS around it."""

    sent: float
    done: float = 0.0
    resumed: float = 0.0
    rss_before: int = 0
    rss_after: int = 0
    rss_peak: int = 0


@dataclass
class Timeline:
    """When the probes ran against what, for one repetition."""

    idle_start: float = 0.0
    growth_start: float = 0.0
    growth_end: float = 0.0
    windows: list[Window] = field(default_factory=list)


async def compaction(bench: Bench) -> list[Run]:
    """Compaction: a room grows to 10, 20, 30 MiB while probes time another room."""
    if not isinstance(bench.kind, Ours):
        raise TypeError("compaction needs a durable store: only ours has one here")
    sizes = bench.sizes
    kind = OursFrom(source=server_source())
    plan = await asyncio.to_thread(growth, sizes.compaction_mib, sizes.compaction_after)
    steps = ", ".join(f"{count} x {size / 1024:.1f} KiB" for count, size in plan.chunks)
    bench.notes.append(f"updates of each step: {steps}")
    runs = []
    for _ in range(sizes.repetitions):  # a fresh process each time: RSS is the figure
        folder = bench.workdir / f"compaction-{secrets.token_hex(3)}"
        args = (
            f"--YSyncApp.compact_after={sizes.compaction_after}",
            f"--YSyncApp.idle_unload_delay={UNLOAD_DELAY_S:g}",
        )
        async with started(kind, folder, args) as server:
            where = f"server's jupyter_ysync: {imported_from(server)}"
            if where not in bench.notes:
                bench.notes.append(where)
            try:
                runs.append(await _once(bench, server, kind, folder, plan))
            except PeerTimeout as exc:
                runs.append(Run({}, converged=False, detail=str(exc), timed_out=True))
            except PeerError as exc:
                runs.append(Run({}, converged=False, detail=str(exc)))
    return runs


async def _once(
    bench: Bench, server: RunningServer, kind: OursFrom, folder: Path, plan: Growth
) -> Run:
    timeout = max(bench.sizes.timeout, 300.0)
    big, probed = bench.room("compaction"), bench.room("probe")
    timeline = Timeline()
    values: dict[str, float] = {}
    async with (
        YPeer(server.room_url(probed)) as sender,
        YPeer(server.room_url(probed), timed=True) as receiver,
    ):
        await sender.wait_synced(60)
        await receiver.wait_synced(60)
        probe = LatencyProbe(sender)
        stop = asyncio.Event()
        with gc_paused():
            prober = asyncio.create_task(_probe(probe, stop))
            try:
                writer = BulkWriter()
                await writer.connect(server.room_url(big), timeout)
                counter = RowCounter(kind.store_path(folder), big)
                try:
                    timeline.idle_start = now()
                    await asyncio.sleep(IDLE_BASELINE_S)
                    await _grow(server, writer, counter, plan, timeline, timeout)
                finally:
                    counter.close()
                await asyncio.sleep(END_IDLE_S)
                values["rss_idle"] = server.rss_bytes() / MiB
                await writer.close()
                await _wait_unloaded(server, big, timeout=UNLOAD_DELAY_S + 30.0)
                await asyncio.sleep(2.0)
                values["rss_unloaded"] = server.rss_bytes() / MiB
            finally:
                stop.set()
                await prober
        await receiver.wait_for_length(sender.length, timeout)
        probes_ok = str(receiver.text) == str(sender.text)
        samples = _samples(probe, receiver)
    # The room unloaded: this loads it from the compacted store and checks what it holds.
    async with YPeer(server.room_url(big)) as checker:
        await checker.wait_for_length(len(plan.text), timeout)
        room_ok = str(checker.text) == plan.text
    values.update(_figures(samples, timeline))
    detail = "" if room_ok else "the room reloaded from the store differs from the text written"
    if not probes_ok:
        detail = "the probe peers differ"
    return Run(values, probes_ok and room_ok, detail)


async def _probe(probe: LatencyProbe, stop: asyncio.Event) -> None:
    """One one-character update every ``PROBE_INTERVAL_S`` (no catching up after a stall)."""
    peer = probe.writer
    next_at = now()
    while not stop.is_set():
        await probe.send(peer.insert(peer.length, "x"))
        next_at += PROBE_INTERVAL_S
        delay = next_at - now()
        if delay < 0:
            next_at, delay = now(), 0.0
        await asyncio.sleep(delay)


async def _grow(
    server: RunningServer,
    writer: BulkWriter,
    counter: RowCounter,
    plan: Growth,
    timeline: Timeline,
    timeout: float,
) -> None:
    """Send every update, one stored row each; around each compaction, time and read RSS."""
    timeline.growth_start = now()
    for index, update in enumerate(plan.updates):
        if index not in plan.triggers:
            next_at = now() + WRITE_INTERVAL_S
            await writer.send(update)
            await writer.stored(plan.states[index], timeout)
            await asyncio.sleep(max(0.0, next_at - now()))
            continue
        window = Window(sent=0.0, rss_before=server.rss_bytes())
        window.rss_peak = window.rss_before
        window.sent = now()
        await writer.send(update)
        deadline = window.sent + timeout
        while await asyncio.to_thread(counter.count) != 1:
            window.rss_peak = max(window.rss_peak, server.rss_bytes())
            if now() > deadline:
                raise PeerTimeout(f"the room's log was not compacted within {timeout} s")
            await asyncio.sleep(POLL_S)
        window.done = now()
        await writer.stored(plan.states[index], timeout)
        await asyncio.sleep(max(0.0, window.done + SETTLE_S - now()))
        window.rss_after = server.rss_bytes()
        window.resumed = now()
        timeline.windows.append(window)
    timeline.growth_end = now()


def _samples(probe: LatencyProbe, receiver: YPeer) -> list[tuple[float, float]]:
    """(send time, latency) of every probe update, matched as ``LatencyProbe.latencies`` does."""
    client = probe.writer.doc.client_id
    starts: list[tuple[int, float]] = []
    for arrival, message in receiver.arrivals:
        first = first_clock(read_message(message[2:]), client)
        if first is not None:
            starts.append((first, arrival))
    starts.sort()
    clocks = [first for first, _ in starts]
    samples = []
    for clock, sent in enumerate(probe.sent_at):
        index = bisect.bisect_right(clocks, clock) - 1
        if index >= 0:
            samples.append((sent, starts[index][1] - sent))
    return samples


def _figures(samples: list[tuple[float, float]], timeline: Timeline) -> dict[str, float]:
    """Per compaction: RSS, probe p99/max in its window, duration; the baselines."""
    values: dict[str, float] = {}
    for index, window in enumerate(timeline.windows):
        around = [
            lat for sent, lat in samples if window.sent <= sent <= window.done + WINDOW_TAIL_S
        ]
        values[f"c{index}_rss_before"] = window.rss_before / MiB
        values[f"c{index}_rss_after"] = window.rss_after / MiB
        values[f"c{index}_rss_growth"] = (window.rss_after - window.rss_before) / MiB
        values[f"c{index}_rss_peak"] = (window.rss_peak - window.rss_before) / MiB
        values[f"c{index}_s"] = window.done - window.sent
        if around:
            values[f"c{index}_p99_ms"] = percentile(around, 0.99) * 1e3
            values[f"c{index}_max_ms"] = max(around) * 1e3
    growing = [
        lat
        for sent, lat in samples
        if timeline.growth_start <= sent <= timeline.growth_end
        and not any(w.sent <= sent <= w.resumed for w in timeline.windows)
    ]
    idle = [lat for sent, lat in samples if timeline.idle_start <= sent < timeline.growth_start]
    if growing:
        values["baseline_p99_ms"] = percentile(growing, 0.99) * 1e3
    if idle:
        values["idle_p99_ms"] = percentile(idle, 0.99) * 1e3
    return values
