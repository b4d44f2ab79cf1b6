"""Rooms across servers on Redis: one writer on server A, readers split over A and B.

``python -m benchmarks.redis [--readers 100] [--updates 2000] [--rate 200] [--repeat 3]``

In one run, on this machine:

- **redis**: servers A and B share a ``redis-server`` (append-only file on, ``appendfsync
  always`` as in the tests, or ``--appendfsync everysec``); the writer is on A, half the
  readers on A, half on B;
- **single**: one server without Redis, the writer and every reader on it (the single-server
  figures, for comparison).

The writer sends one-character inserts at ``--rate`` per second. Reported per repetition, then
as the median of the repetitions:

- server CPU per delivered update, on A and on B (``/proc``, user + system, every thread);
- latency p50/p99 from the writer's send to a reader's socket, for readers on A (within one
  server), on B (across servers), and on the single server;
- Redis CPU per update and in all (``/proc`` of redis-server), and Redis memory for the room:
  ``MEMORY USAGE`` of its keys and the growth of ``INFO memory``'s ``used_memory``.

Nothing here is shared with the pytest fixtures: the benchmark runs from a checkout alone.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import shutil
import statistics
import subprocess
import sys
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import redis as redis_client

from .loadgen import LatencyProbe, YPeer, close_all, connect_all, gather_all, now
from .peers import WORK_DIR, Ours, RunningServer, free_port
from .proc import cpu_seconds
from .results import percentile
from .scenarios.base import LETTERS, gc_paused

NAMESPACE = "ysync"


@contextmanager
def redis_server(workdir: Path, appendfsync: str) -> Iterator[tuple[str, int]]:
    """A redis-server on a free loopback port; yields its URL and PID; stopped by its PID."""
    binary = shutil.which("redis-server")
    if binary is None:
        sys.exit("redis-server is needed: apt-get install redis-server")
    shutil.rmtree(workdir, ignore_errors=True)
    workdir.mkdir(parents=True)
    port = free_port()
    command = [binary, "--port", str(port), "--bind", "127.0.0.1", "--dir", str(workdir)]
    command += ["--appendonly", "yes", "--appendfsync", appendfsync, "--save", ""]
    with (workdir / "redis.log").open("wb") as log:
        process = subprocess.Popen(command, stdout=log, stderr=subprocess.STDOUT)
    url = f"redis://127.0.0.1:{port}/0"
    try:
        client = redis_client.Redis.from_url(url)
        deadline = time.monotonic() + 15
        while True:
            try:
                client.ping()
                break
            except redis_client.RedisError:
                if time.monotonic() > deadline or process.poll() is not None:
                    raise
                time.sleep(0.05)
        client.close()
        yield url, process.pid
    finally:
        process.terminate()
        process.wait(10)


def room_memory(url: str, room: str) -> int:
    """Bytes Redis holds for the room's keys (``MEMORY USAGE``, every stream node counted)."""
    tag = f"{{{NAMESPACE}:{room}}}"
    client = redis_client.Redis.from_url(url)
    try:
        return sum(
            int(client.memory_usage(f"{tag}:{key}", samples=0) or 0) for key in ("log", "snapshot")
        )
    finally:
        client.close()


def used_memory(url: str) -> int:
    client = redis_client.Redis.from_url(url)
    try:
        return int(client.info("memory")["used_memory"])
    finally:
        client.close()


async def paced_run(
    writer_server: RunningServer,
    reader_servers: list[tuple[str, RunningServer]],
    room: str,
    readers: int,
    updates: int,
    rate: float,
    timeout: float = 120.0,
) -> dict[str, Any]:
    """One writer on ``writer_server`` sends ``updates`` paced inserts; ``readers`` readers
    split evenly over ``reader_servers`` (labelled) time their arrival."""
    writer = YPeer(writer_server.room_url(room))
    await writer.connect()
    groups: dict[str, list[YPeer]] = {}
    try:
        await writer.wait_synced(timeout)
        share = readers // len(reader_servers)
        for label, server in reader_servers:
            urls = [server.room_url(room)] * share
            groups[label] = await connect_all(urls, timeout=timeout, timed=True)
        servers = {id(s): s for s in [writer_server, *(s for _, s in reader_servers)]}
        for server in servers.values():
            await server.wait_idle()
        probe = LatencyProbe(writer)
        with gc_paused():
            cpu_before = {key: server.cpu_seconds() for key, server in servers.items()}
            start = now()
            for clock in range(updates):
                await probe.send(writer.insert(clock, LETTERS[clock % 26]))
                delay = start + (clock + 1) / rate - now()
                if delay > 0:
                    await asyncio.sleep(delay)
            everyone = [peer for group in groups.values() for peer in group]
            await gather_all(peer.wait_for_length(updates, timeout) for peer in everyone)
        for server in servers.values():
            await server.wait_idle()
        cpu = {key: server.cpu_seconds() - cpu_before[key] for key, server in servers.items()}
        result: dict[str, Any] = {"duration_s": now() - start}
        for label, server in reader_servers:
            samples, _ = probe.latencies(groups[label], updates)
            delivered = len(groups[label]) * updates
            assert len(samples) == delivered, f"{len(samples)} of {delivered} deliveries timed"
            result[label] = {
                "readers": len(groups[label]),
                "latency_p50_ms": percentile(samples, 0.50) * 1e3,
                "latency_p99_ms": percentile(samples, 0.99) * 1e3,
                "server_cpu_s": cpu[id(server)],
                "cpu_us_per_delivered": cpu[id(server)] / delivered * 1e6,
            }
        return result
    finally:
        await close_all([writer, *(peer for group in groups.values() for peer in group)])


async def run(args: argparse.Namespace) -> dict[str, Any]:
    work = WORK_DIR / "redis"
    kind = Ours()
    kind.install()
    results: list[dict[str, Any]] = []
    with redis_server(work / "redis", args.appendfsync) as (url, redis_pid):
        extra = [f"--YSyncApp.redis_url={url}", "--YSyncApp.log_level=WARN"]
        a = kind.start(work / "a", extra)
        b = kind.start(work / "b", extra)
        single = kind.start(work / "single")
        try:
            for repetition in range(args.repeat):
                room = f"bench-{repetition}-{int(time.time())}"
                memory_before = used_memory(url)
                redis_before = cpu_seconds(redis_pid)
                across = await paced_run(
                    a, [("on A", a), ("on B", b)], room, args.readers, args.updates, args.rate
                )
                redis_cpu = cpu_seconds(redis_pid) - redis_before
                alone = await paced_run(
                    single, [("single", single)], room, args.readers, args.updates, args.rate
                )
                figures = {
                    **across,
                    "single": alone["single"],
                    "redis_cpu_s": redis_cpu,
                    "redis_cpu_us_per_update": redis_cpu / args.updates * 1e6,
                    "redis_cpu_share": redis_cpu / across["duration_s"],
                    "redis_room_bytes": room_memory(url, room),
                    "redis_used_memory_growth": used_memory(url) - memory_before,
                }
                print(f"repetition {repetition + 1}: {json.dumps(figures)}", file=sys.stderr)
                results.append(figures)
        finally:
            for server in (a, b, single):
                server.stop()
    return {"args": vars(args), "repetitions": results}


def median(results: list[dict[str, Any]], *path: str) -> float:
    values = []
    for result in results:
        value: Any = result
        for key in path:
            value = value[key]
        values.append(float(value))
    return statistics.median(values)


def render(report: dict[str, Any]) -> str:
    runs = report["repetitions"]
    args = report["args"]
    lines = [
        f"1 writer on A at {args['rate']:g} updates/s, {args['updates']} updates,"
        f" {args['readers']} readers, appendfsync {args['appendfsync']};"
        f" median of {len(runs)} repetitions",
        "",
        "| readers | server CPU per delivered update | latency p50 | latency p99 |",
        "| --- | --- | --- | --- |",
    ]
    for label, title in [
        ("on A", "on A, the writer's server (Redis mode)"),
        ("on B", "on B, across servers (Redis mode)"),
        ("single", "one server, no Redis"),
    ]:
        lines.append(
            f"| {title} ({runs[0][label]['readers']}) "
            f"| {median(runs, label, 'cpu_us_per_delivered'):.1f} µs "
            f"| {median(runs, label, 'latency_p50_ms'):.2f} ms "
            f"| {median(runs, label, 'latency_p99_ms'):.2f} ms |"
        )
    lines += [
        "",
        f"Redis: {median(runs, 'redis_cpu_us_per_update'):.1f} µs CPU per update"
        f" ({median(runs, 'redis_cpu_share') * 100:.1f} % of a core for this room);"
        f" the room's keys hold {median(runs, 'redis_room_bytes') / 1024:.1f} KiB"
        f" (used_memory grew by {median(runs, 'redis_used_memory_growth') / 1024:.1f} KiB).",
    ]
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(prog="python -m benchmarks.redis", description=__doc__)
    parser.add_argument("--readers", type=int, default=100, help="readers in all (default 100)")
    parser.add_argument("--updates", type=int, default=2000, help="updates sent (default 2000)")
    parser.add_argument("--rate", type=float, default=200.0, help="updates/s (default 200)")
    parser.add_argument("--repeat", type=int, default=3, help="repetitions (default 3)")
    parser.add_argument(
        "--appendfsync",
        choices=["always", "everysec"],
        default="always",
        help="redis-server's fsync policy for its append-only file (default always)",
    )
    args = parser.parse_args(argv)
    report = asyncio.run(run(args))
    (WORK_DIR / "redis.json").write_text(json.dumps(report, indent=1))
    print(render(report))


if __name__ == "__main__":
    main()
