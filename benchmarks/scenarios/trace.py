"""The automerge-paper editing trace: in-process, through a room, through our Python peer."""

from __future__ import annotations

import asyncio
import importlib.util
import sys
import time
from typing import Any

from pycrdt import Doc, Text

from ..loadgen import PeerError, PeerTimeout, YPeer, convergence, now
from ..peers import HOST, REPO_DIR, PeerUnavailable, RunningServer
from ..results import Better, Metric, Run
from ..traces import Trace, load_trace, raw_editor, replay
from .base import Bench, Sizes, attempt, gc_paused, wait_converged

TRACE_LOCAL_METRICS = (
    Metric("raw_ops_s", "raw pycrdt replay", "ops/s", Better.HIGHER, 0),
    Metric("richtext_ops_s", "RichText replay", "ops/s", Better.HIGHER, 0),
    Metric("richtext_over_raw", "RichText time / raw pycrdt time", "x", Better.LOWER, 3),
)

TRACE_ROOM_METRICS = (
    Metric("ops_s", "ops/s, writer's first op to reader's last", "ops/s", Better.HIGHER, 0),
    Metric("cpu_us_per_op", "server CPU per op", "µs", Better.LOWER, 2),
)


def _trace(sizes: Sizes) -> Trace:
    trace = load_trace("automerge-paper")
    return trace if sizes.trace_txns is None else trace.head(sizes.trace_txns)


def _richtext_class() -> type | None:
    try:
        from jupyter_ysync.richtext import RichText
    except ImportError:
        return None
    return RichText


async def trace_in_process(bench: Bench) -> list[Run]:
    """Replay the trace into a pycrdt Text directly, and through ``RichText``."""
    trace = await asyncio.to_thread(_trace, bench.sizes)
    bench.notes.append(f"{trace.name}: {trace.patches} ops")
    rich = _richtext_class()
    if rich is None:
        bench.notes.append("jupyter_ysync.richtext.RichText not importable: raw pycrdt only")
    runs = []
    for _ in range(bench.sizes.trace_repetitions):
        raw_s, raw_text = _timed_replay(trace, None)
        values = {"raw_ops_s": trace.patches / raw_s}
        ok = raw_text == trace.end
        detail = "" if ok else "raw pycrdt replay differs from endContent"
        if rich is not None:
            rich_s, rich_text = _timed_replay(trace, rich)
            values["richtext_ops_s"] = trace.patches / rich_s
            values["richtext_over_raw"] = rich_s / raw_s
            if rich_text != trace.end:
                ok, detail = False, "RichText replay differs from endContent"
        runs.append(Run(values, ok, detail))
    return runs


def _timed_replay(trace: Trace, rich: type | None) -> tuple[float, str]:
    doc: Doc[Any] = Doc()
    text = doc.get("content", type=Text)
    if rich is None:
        insert, delete = raw_editor(text)
    else:
        wrapper = rich(text)
        insert, delete = wrapper.insert, wrapper.delete
    if trace.start:
        text.insert(0, trace.start)
    with gc_paused():
        start = time.perf_counter()
        replay(doc, trace, insert, delete)
        elapsed = time.perf_counter() - start
    return elapsed, str(text)


async def trace_through_room(bench: Bench) -> list[Run]:
    """A pycrdt peer replays the trace, one update per transaction, to a second peer."""
    trace = await asyncio.to_thread(_trace, bench.sizes)
    bench.notes.append(f"{trace.name}: {trace.patches} ops, one update message each")
    runs = []
    async with bench.server() as server:
        for _ in range(bench.sizes.trace_repetitions):
            room = bench.room("trace")
            replay = _room_replay_once(server, room, trace, bench.sizes.trace_timeout)
            runs.append(await attempt(replay, server))
    return runs


async def _room_replay_once(server: RunningServer, room: str, trace: Trace, timeout: float) -> Run:
    url = server.room_url(room)
    async with YPeer(url) as writer, YPeer(url) as reader:
        await writer.wait_synced(timeout)
        await reader.wait_synced(timeout)
        if trace.start:
            await writer.send(writer.insert(0, trace.start))
            await reader.wait_for_length(len(trace.start), timeout)
        await server.wait_idle()
        insert, delete = raw_editor(writer.text)
        with gc_paused():
            cpu_before = server.cpu_seconds()
            start = now()
            for index, txn in enumerate(trace.txns):

                def apply(txn: list[tuple[int, int, str]] = txn) -> None:
                    for pos, length, chunk in txn:
                        if length:
                            delete(pos, length)
                        if chunk:
                            insert(pos, chunk)

                await writer.send(writer.edit(apply))
                if index % 64 == 63:
                    await asyncio.sleep(0)
            end = trace.end
            await wait_converged(reader, server, end, timeout)
            elapsed = now() - start
        await server.wait_idle()
        cpu = server.cpu_seconds() - cpu_before
        ok, detail = convergence([writer, reader], trace.end)
        return Run(
            {"ops_s": trace.patches / elapsed, "cpu_us_per_op": cpu / trace.patches * 1e6},
            ok,
            detail,
        )


async def trace_through_client(bench: Bench) -> list[Run]:
    """Ours' Python peer (``jupyter_ysync.connect``, own process) replays the trace to a peer."""
    if importlib.util.find_spec("jupyter_ysync.client") is None:
        raise PeerUnavailable("jupyter_ysync.connect is not importable yet")
    trace = await asyncio.to_thread(_trace, bench.sizes)
    bench.notes.append(f"{trace.name}: {trace.patches} ops, one doc.transaction() each")
    runs = []
    async with bench.server() as server:
        for _ in range(bench.sizes.trace_repetitions):
            replay = _client_replay_once(server, bench.room("client"), trace, bench)
            runs.append(await attempt(replay, server))
    return runs


async def _client_replay_once(server: RunningServer, room: str, trace: Trace, bench: Bench) -> Run:
    timeout = bench.sizes.trace_timeout
    http_url = f"http://{HOST}:{server.port}/"
    txns = 0 if bench.sizes.trace_txns is None else len(trace.txns)
    async with YPeer(server.room_url(room)) as reader:
        await reader.wait_synced(timeout)
        writer = await asyncio.create_subprocess_exec(
            sys.executable,
            "-m",
            "benchmarks.client_writer",
            http_url,
            server.token,
            room,
            str(txns),
            cwd=REPO_DIR,
            stdin=asyncio.subprocess.PIPE,
            stdout=asyncio.subprocess.PIPE,
        )
        try:
            assert writer.stdout is not None and writer.stdin is not None
            start = float(await _expect(writer.stdout, "START", timeout))
            cpu_before = server.cpu_seconds()
            end = trace.end
            await wait_converged(reader, server, end, timeout)
            elapsed = now() - start
            writer_ok = (await _expect(writer.stdout, "DONE", timeout)).split()[1] == "True"
            writer.stdin.write(b"close\n")
            await writer.stdin.drain()
            await asyncio.wait_for(writer.wait(), timeout)
        finally:
            if writer.returncode is None:
                writer.kill()
                await writer.wait()
        await server.wait_idle()
        cpu = server.cpu_seconds() - cpu_before
    ok = writer_ok and str(reader.text) == end
    detail = "" if ok else "the Python peer's text differs from endContent"
    return Run(
        {"ops_s": trace.patches / elapsed, "cpu_us_per_op": cpu / trace.patches * 1e6}, ok, detail
    )


async def _expect(stream: asyncio.StreamReader, word: str, timeout: float) -> str:
    """Read lines until one starts with ``word``; return the rest of it."""
    while True:
        try:
            line = await asyncio.wait_for(stream.readline(), timeout)
        except TimeoutError as exc:
            raise PeerTimeout(f"the Python peer did not print {word} in {timeout} s") from exc
        if not line:
            raise PeerError(f"the Python peer exited before printing {word}")
        text = line.decode().strip()
        if text.startswith(word):
            return text[len(word) :].strip()
