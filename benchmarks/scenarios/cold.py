"""Cold load (ours only): the first sync of a room whose store holds a long log."""

from __future__ import annotations

import asyncio
import contextlib
import secrets
import sqlite3
from pathlib import Path
from typing import Any

from pycrdt import Doc, Text

from ..loadgen import YPeer, now
from ..peers import Ours, RunningServer
from ..results import Better, Metric, Run
from .base import LETTERS, Bench

COLD_METRICS = (
    Metric("before_s", "first full sync, before compaction", "s", Better.LOWER, 3),
    Metric("after_s", "first full sync, after compaction", "s", Better.LOWER, 3),
    Metric(
        "before_cpu_s", "server CPU of that first sync, before compaction", "s", Better.LOWER, 3
    ),
    Metric("after_cpu_s", "server CPU of that first sync, after compaction", "s", Better.LOWER, 3),
)


async def cold_load(bench: Bench) -> list[Run]:
    """Cold load: a room whose store holds many updates is loaded for its first peer.

    The room's log is written with ours' store API while no server runs, one
    row per one-character update (through a websocket the server would merge
    updates that arrive together into fewer rows). Rooms unload as soon as
    their last peer leaves (``--YSyncApp.idle_unload_delay=0``), so each
    repetition's first join loads the room from the store; compaction is off
    (``--YSyncApp.compact_after=0``). A restart with the default threshold then
    compacts the log when the room loads, and the same is timed again.
    """
    kind = bench.kind
    if not isinstance(kind, Ours):
        raise TypeError("cold load needs a durable store: only ours has one here")
    sizes = bench.sizes
    timeout = max(sizes.timeout, 900.0)  # a long log may take minutes to load: that is the figure
    folder = bench.workdir / f"cold-{secrets.token_hex(3)}"
    folder.mkdir(parents=True)
    room = bench.room("cold")
    unload = "--YSyncApp.idle_unload_delay=0"
    store = kind.store_path(folder)
    expected = await _fill_store(store, room, sizes.cold_updates)
    rows_before = stored_rows(store, room)
    async with bench.server(("--YSyncApp.compact_after=0", unload), folder) as server:
        before = [
            await _first_sync(server, room, expected, timeout) for _ in range(sizes.repetitions)
        ]
    async with bench.server((unload,), folder) as server:  # default threshold: compacts at load
        await _first_sync(server, room, expected, timeout)
        await server.wait_idle(timeout=60)
        rows_after = stored_rows(store, room)
        after = [
            await _first_sync(server, room, expected, timeout) for _ in range(sizes.repetitions)
        ]
    bench.notes.append(f"stored rows: {rows_before} before compaction, {rows_after} after")
    runs = []
    for (b_time, b_cpu, b_ok), (a_time, a_cpu, a_ok) in zip(before, after, strict=True):
        ok = b_ok and a_ok
        values = {
            "before_s": b_time,
            "after_s": a_time,
            "before_cpu_s": b_cpu,
            "after_cpu_s": a_cpu,
        }
        runs.append(Run(values, ok, "" if ok else "a replica differs from the text written"))
    return runs


async def _fill_store(path: Path, room: str, updates: int) -> str:
    """Append ``updates`` one-character updates to ``room`` in ours' store; return the text."""
    from jupyter_ysync.server.store import SQLiteStore

    doc: Doc[Any] = Doc()
    text = doc.get("content", type=Text)
    log: list[bytes] = []
    doc.observe(lambda event: log.append(event.update))
    for clock in range(updates):
        text.insert(clock, LETTERS[clock % 26])
    store = SQLiteStore(path)
    await store.start()
    try:
        for first in range(0, len(log), 1000):  # concurrent appends share group commits
            await asyncio.gather(*(store.append(room, u) for u in log[first : first + 1000]))
    finally:
        await store.stop()
    return str(text)


async def _first_sync(
    server: RunningServer, room: str, expected: str, timeout: float
) -> tuple[float, float, bool]:
    """Time one peer's join of an unloaded room until it holds all of ``expected``."""
    await server.wait_idle()  # the room unloaded, its store quiet
    cpu_before = server.cpu_seconds()
    start = now()
    async with YPeer(server.room_url(room)) as peer:
        await peer.wait_for_length(len(expected), timeout)
        elapsed = now() - start
        ok = str(peer.text) == expected
    await server.wait_idle()
    return elapsed, server.cpu_seconds() - cpu_before, ok


def stored_rows(store: Path, room: str) -> str:
    """Rows of ``room`` in ours' SQLite log, read-only (``?`` if the schema is unknown)."""
    try:
        with contextlib.closing(sqlite3.connect(f"file:{store}?mode=ro", uri=True)) as db:
            row = db.execute("SELECT COUNT(*) FROM updates WHERE room = ?", (room,)).fetchone()
            return str(row[0])
    except sqlite3.Error:
        return "?"
