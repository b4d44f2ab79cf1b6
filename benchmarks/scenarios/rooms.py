"""Many rooms: the memory each idle-ish room with two peers costs a server."""

from __future__ import annotations

import asyncio

from ..loadgen import close_all, connect_all, convergence, gather_all
from ..peers import RunningServer
from ..results import Better, Metric, Run
from .base import LETTERS, Bench, KiB, Sizes, attempt

ROOMS_METRICS = (
    Metric("rss_kib_per_room", "server RSS per room (2 peers connected)", "KiB", Better.LOWER, 1),
    Metric("cpu_ms_per_room", "server CPU per room (join + updates)", "ms", Better.LOWER, 2),
)


async def many_rooms(bench: Bench) -> list[Run]:
    """Many rooms: R rooms x 2 peers, each peer sends U updates; RSS growth per room."""
    sizes = bench.sizes
    runs = []
    for _ in range(sizes.repetitions):  # a fresh process each time (full runs): RSS only grows
        async with bench.server(fresh=not sizes.share_servers) as server:
            runs.append(await attempt(_rooms_once(bench, server, sizes), server))
    return runs


async def _rooms_once(bench: Bench, server: RunningServer, sizes: Sizes) -> Run:
    await server.wait_idle()
    rss_before = server.rss_bytes()
    cpu_before = server.cpu_seconds()
    urls = [server.room_url(bench.room("many")) for _ in range(sizes.rooms)]
    # Each room is opened by one peer before the second joins: pycrdt-websocket 0.16.5
    # never syncs the second of two peers that open a new room at the same moment.
    firsts = await connect_all(urls, concurrency=50, timeout=sizes.timeout)
    try:
        seconds = await connect_all(urls, concurrency=50, timeout=sizes.timeout)
    except BaseException:
        await close_all(firsts)
        raise
    peers = [peer for pair in zip(firsts, seconds, strict=True) for peer in pair]
    try:
        for pair in range(sizes.rooms):
            first, second = peers[2 * pair], peers[2 * pair + 1]
            for step in range(sizes.room_updates):
                await first.send(first.insert(0, LETTERS[step % 26]))
                await second.send(second.insert(second.length, LETTERS[step % 26].upper()))
            if pair % 25 == 24:
                await asyncio.sleep(0)
        total = 2 * sizes.room_updates
        await gather_all(peer.wait_for_length(total, sizes.timeout) for peer in peers)
        await server.wait_idle()
        rss = server.rss_bytes() - rss_before
        cpu = server.cpu_seconds() - cpu_before
        ok, detail = True, ""
        for pair in range(sizes.rooms):
            ok, detail = convergence(peers[2 * pair : 2 * pair + 2], total)
            if not ok:
                detail = f"room {pair}: {detail}"
                break
        return Run(
            {
                "rss_kib_per_room": rss / sizes.rooms / KiB,
                "cpu_ms_per_room": cpu / sizes.rooms * 1e3,
            },
            ok,
            detail,
        )
    finally:
        await close_all(peers)
