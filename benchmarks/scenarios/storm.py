"""Join storm: many peers join at once a room holding a large document."""

from __future__ import annotations

import asyncio
import random

from ..loadgen import YPeer, close_all, convergence, gather_all, now
from ..peers import RunningServer
from ..results import Better, Metric, Run
from .base import LETTERS, Bench, KiB, Sizes, attempt, barrier, gc_paused

STORM_METRICS = (
    Metric("cpu_s", "server CPU for all joins", "s", Better.LOWER, 3),
    Metric("synced_s", "time until all synced", "s", Better.LOWER, 3),
)


def storm_chunk(index: int, size: int) -> str:
    """Deterministic ASCII text of ``size`` characters for edit ``index``."""
    stamp = f"[{index}]"
    body = (LETTERS * (size // 26 + 1))[: max(0, size - len(stamp))]
    return (stamp + body)[:size]


async def build_document(peer: YPeer, edits: int, chunk: int, seed: int = 4) -> None:
    """Make ``edits`` inserts of ``chunk`` characters at random places and send each one."""
    rng = random.Random(seed)
    for index in range(edits):
        position = rng.randint(0, peer.length)
        await peer.send(peer.insert(position, storm_chunk(index, chunk)))
        if index % 100 == 99:
            await asyncio.sleep(0)


async def join_storm(bench: Bench) -> list[Run]:
    """Join storm: J peers join at once a room holding a document built from many edits."""
    sizes = bench.sizes
    runs = []
    async with bench.server() as server:
        for _ in range(sizes.repetitions):
            runs.append(await attempt(_storm_once(server, bench.room("storm"), sizes), server))
    sizes_kib = sorted(
        {round(run.values.pop("doc_kib")) for run in runs if "doc_kib" in run.values}
    )
    bench.notes.append(f"document: {', '.join(map(str, sizes_kib))} KiB as one update")
    return runs


async def _storm_once(server: RunningServer, room: str, sizes: Sizes) -> Run:
    url = server.room_url(room)
    builder = YPeer(url)
    await builder.connect()
    joiners: list[YPeer] = []
    try:
        await builder.wait_synced(sizes.timeout)
        await build_document(builder, sizes.storm_edits, sizes.storm_chunk)
        # The builder stays: in-memory servers drop a room when its last peer leaves.
        await barrier(builder, sizes.timeout)
        await server.wait_idle(timeout=60)
        expected = str(builder.text)
        with gc_paused():
            cpu_before = server.cpu_seconds()
            start = now()
            joiners = [YPeer(url) for _ in range(sizes.storm_joiners)]

            async def join(peer: YPeer) -> None:
                await peer.connect(sizes.timeout)
                await peer.wait_for_length(len(expected), sizes.timeout)

            await gather_all(join(peer) for peer in joiners)
            synced = now() - start
        await server.wait_idle()
        cpu = server.cpu_seconds() - cpu_before
        ok, detail = convergence([builder, *joiners], expected)
        size = len(builder.doc.get_update())
        return Run({"cpu_s": cpu, "synced_s": synced, "doc_kib": size / KiB}, ok, detail)
    finally:
        await close_all([builder, *joiners])
