"""Fan-out and paced: one writer, many readers of one room."""

from __future__ import annotations

import asyncio
import time
from collections.abc import Awaitable, Callable

from ..loadgen import LatencyProbe, YPeer, close_all, connect_all, convergence, gather_all, now
from ..peers import RunningServer
from ..results import Better, Metric, Run, percentile
from .base import LETTERS, Bench, attempt, gc_paused

FANOUT_METRICS = (
    Metric("cpu_us_per_delivered", "server CPU per delivered update", "µs", Better.LOWER, 2),
    Metric("delivered_per_s", "delivered updates/s", "1/s", Better.HIGHER, 0),
    Metric("latency_p50_ms", "latency p50", "ms", Better.LOWER, 2),
    Metric("latency_p99_ms", "latency p99", "ms", Better.LOWER, 2),
)

PACED_METRICS = (
    Metric("latency_p50_ms", "latency p50", "ms", Better.LOWER, 2),
    Metric("latency_p99_ms", "latency p99", "ms", Better.LOWER, 2),
    Metric("cpu_us_per_delivered", "server CPU per delivered update", "µs", Better.LOWER, 2),
)


async def broadcast_once(
    server: RunningServer,
    room: str,
    readers: int,
    updates: int,
    rate: float | None,
    timeout: float,
) -> Run:
    """One writer sends ``updates`` one-character inserts to ``readers`` readers.

    With ``rate`` None the writer sends as fast as it can (fan-out); otherwise it
    keeps an exact schedule of ``rate`` updates per second (paced).
    """
    url = server.room_url(room)
    writer = YPeer(url)
    await writer.connect()
    peers = [writer]
    try:
        await writer.wait_synced(timeout)
        peers += await connect_all([url] * readers, timeout=timeout, timed=True)
        await server.wait_idle()
        probe = LatencyProbe(writer)
        with gc_paused():
            cpu_before = server.cpu_seconds()
            generator_before = time.process_time()
            start = now()
            for clock in range(updates):
                update = writer.insert(clock, LETTERS[clock % 26])
                await probe.send(update)
                if rate is not None:
                    delay = start + (clock + 1) / rate - now()
                    if delay > 0:
                        await asyncio.sleep(delay)
                elif clock % 64 == 63:
                    await asyncio.sleep(0)  # let readers take what arrived
            await gather_all(reader.wait_for_length(updates, timeout) for reader in peers[1:])
            generator = time.process_time() - generator_before
        await server.wait_idle()
        cpu = server.cpu_seconds() - cpu_before
        ok, detail = convergence(peers, updates)
        samples, last = probe.latencies(peers[1:], updates)
        delivered = readers * updates
        if len(samples) != delivered:
            ok, detail = False, f"{len(samples)} of {delivered} deliveries timed"
        values = {
            "cpu_us_per_delivered": cpu / delivered * 1e6,
            "delivered_per_s": delivered / (last - start),
            "latency_p50_ms": percentile(samples, 0.50) * 1e3,
            "latency_p99_ms": percentile(samples, 0.99) * 1e3,
            "server_cpu_s": cpu,
            "generator_cpu_s": generator,
        }
        return Run(values, ok, detail)
    finally:
        await close_all(peers)


def fanout(readers: int) -> Callable[[Bench], Awaitable[list[Run]]]:
    """Fan-out: 1 writer floods ``M`` one-character updates to ``readers`` readers."""

    async def measure(bench: Bench) -> list[Run]:
        sizes = bench.sizes
        runs = []
        async with bench.server() as server:
            for _ in range(sizes.repetitions):
                runs.append(
                    await attempt(
                        broadcast_once(
                            server,
                            bench.room(f"fanout{readers}"),
                            readers,
                            sizes.fanout_updates,
                            None,
                            sizes.timeout,
                        ),
                        server,
                    )
                )
        return runs

    return measure


async def paced(bench: Bench) -> list[Run]:
    """Paced: 1 writer, N readers, one update every 1/rate s; latency at a realistic load."""
    sizes = bench.sizes
    runs = []
    async with bench.server() as server:
        for _ in range(sizes.repetitions):
            runs.append(
                await attempt(
                    broadcast_once(
                        server,
                        bench.room("paced"),
                        sizes.paced_readers,
                        sizes.paced_updates,
                        sizes.paced_rate,
                        sizes.timeout,
                    ),
                    server,
                )
            )
    return runs
