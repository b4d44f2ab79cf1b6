"""HTTP peers beside websocket peers: ``python -m benchmarks.http [--updates 500] [--readers 20]``.

Against a real ``jupyter server`` process with jupyter_ysync (started as the benchmarks start
ours), one websocket writer makes one-character edits, paced; the readers are websocket
peers (``benchmarks/wsclient.py``) or HTTP long-poll peers (``GET .../updates?wait=`` on
keep-alive connections, sending their state vector and the last ``ETag``). It measures:

- **latency**: one websocket reader and one HTTP reader in the same room as the writer, p50 and
  p99 from the moment an edit left the writer to the moment its bytes arrived (the writer's
  n-th edit carries its clock n; the reader reads the clocks from the update it received);
- **server CPU per delivered update**: the same paced stream delivered to ``--readers``
  websocket readers, then to as many HTTP readers, less the CPU of the stream with no reader,
  divided by updates x readers (``utime + stime`` of ``/proc/<pid>/stat``);
- **idle long polls**: the server's CPU over ``--idle-seconds`` with ``--pollers`` long polls
  waiting in one room, against the same server idle with none.

Progress goes to stderr, the markdown table to stdout.
"""

from __future__ import annotations

import argparse
import asyncio
import base64
import contextlib
import resource
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

from pycrdt import Doc, Text, YSyncMessageType, create_sync_message, create_update_message

from jupyter_ysync.client._http import Lane
from jupyter_ysync.protocol import MessageType, parse_message
from jupyter_ysync.updates import scan_update

from .peers import HOST, Ours, RunningServer
from .proc import CPU_RESOLUTION_S
from .wsclient import WebSocketClient

WRITER_CLIENT = 4242
"""The writer's Yjs client id: each reader finds the writer's clocks under it."""


def log(message: str) -> None:
    print(message, file=sys.stderr, flush=True)


class Arrivals:
    """When each of the writer's clocks reached one reader."""

    def __init__(self) -> None:
        self.at: dict[int, float] = {}
        self.seen = 0
        self.changed = asyncio.Event()

    def record(self, update: bytes, when: float) -> None:
        end = scan_update(update).ends.get(WRITER_CLIENT, 0)
        for clock in range(self.seen, end):
            self.at[clock] = when
        if end > self.seen:
            self.seen = end
            self.changed.set()

    async def wait_for(self, clocks: int, timeout: float = 60.0) -> None:
        async def until() -> None:
            while self.seen < clocks:
                self.changed.clear()
                await self.changed.wait()

        await asyncio.wait_for(until(), timeout)


class WebSocketReader:
    """A websocket peer that only reads (and times) what the room sends."""

    def __init__(self) -> None:
        self.arrivals = Arrivals()
        self.client: WebSocketClient | None = None

    async def connect(self, url: str) -> WebSocketReader:
        self.client = await WebSocketClient.connect(url, on_message=self._on_message)
        await self.client.send(create_sync_message(Doc()))
        return self

    def _on_message(self, message: bytes, arrival: float) -> None:
        kind, subtype, payload = parse_message(message)
        if kind == MessageType.SYNC and subtype != YSyncMessageType.SYNC_STEP1:
            self.arrivals.record(payload, arrival)

    async def close(self) -> None:
        if self.client is not None:
            await self.client.close()


class HttpReader:
    """An HTTP long-poll peer: its own replica, its state vector and the last ETag each poll."""

    def __init__(self, server: RunningServer, room: str, *, wait: float = 25.0) -> None:
        self.lane = Lane("http", HOST, server.port)
        self.path = f"/ysync/rooms/{room}/updates"
        self.headers = {"Authorization": f"token {server.token}"}
        self.wait = wait
        self.doc: Doc[Any] = Doc()
        self.tag: str | None = None
        self.arrivals = Arrivals()
        self.task: asyncio.Task[None] | None = None
        self.polls = 0

    def target(self, wait: float) -> str:
        state = base64.urlsafe_b64encode(self.doc.get_state()).rstrip(b"=").decode()
        return f"{self.path}?sv={state}&wait={wait:g}"

    async def poll(self, wait: float) -> int:
        headers = dict(self.headers)
        if self.tag:
            headers["If-None-Match"] = self.tag
        response = await self.lane.request("GET", self.target(wait), headers, timeout=wait + 30)
        arrival = time.perf_counter()
        self.polls += 1
        if response.status == 200:
            self.tag = response.headers.get("etag")
            self.arrivals.record(response.body, arrival)
            self.doc.apply_update(response.body)
        elif response.status != 304:
            raise RuntimeError(f"HTTP {response.status}: {response.body[:200]!r}")
        return response.status

    def start(self) -> None:
        async def forever() -> None:
            while True:
                await self.poll(self.wait)

        self.task = asyncio.get_running_loop().create_task(forever())

    async def close(self) -> None:
        if self.task is not None:
            self.task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self.task
        self.lane.close()


class Writer:
    """One websocket peer typing one character per update at a fixed rate."""

    def __init__(self) -> None:
        self.doc: Doc[Any] = Doc(client_id=WRITER_CLIENT)
        self.text = self.doc.get("content", type=Text)
        self.sent: dict[int, float] = {}
        self.client: WebSocketClient | None = None

    async def connect(self, url: str) -> Writer:
        self.client = await WebSocketClient.connect(url, on_message=lambda *_: None)
        return self

    async def type(self, count: int, rate: float) -> None:
        assert self.client is not None
        loop = asyncio.get_running_loop()
        start = loop.time()
        for index in range(count):
            await asyncio.sleep(max(0.0, start + index / rate - loop.time()))
            state = self.doc.get_state()
            clock = len(self.text)
            self.text.insert(clock, "x")
            update = self.doc.get_update(state)
            self.sent[clock] = time.perf_counter()
            self.client.send_nowait(create_update_message(update))

    async def close(self) -> None:
        if self.client is not None:
            await self.client.close()


def latencies(writer: Writer, arrivals: Arrivals) -> list[float]:
    return [
        (arrivals.at[clock] - sent) * 1000
        for clock, sent in writer.sent.items()
        if clock in arrivals.at
    ]


def percentile(values: list[float], fraction: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(fraction * len(ordered)))]


async def measure_latency(server: RunningServer, updates: int, rate: float) -> dict[str, Any]:
    room = "latency"
    writer = await Writer().connect(server.room_url(room))
    ws = await WebSocketReader().connect(server.room_url(room))
    http = HttpReader(server, room)
    await http.poll(0)  # the first poll answers at once, with the room's tag
    http.start()
    await asyncio.sleep(0.5)
    await writer.type(updates, rate)
    await asyncio.gather(ws.arrivals.wait_for(updates), http.arrivals.wait_for(updates))
    result = {}
    for name, reader in (("websocket", ws.arrivals), ("http", http.arrivals)):
        values = latencies(writer, reader)
        result[name] = (percentile(values, 0.5), percentile(values, 0.99), len(values))
    result["http_polls"] = http.polls
    for peer in (writer, ws, http):
        await peer.close()
    return result


async def cpu_of_stream(
    server: RunningServer, room: str, updates: int, rate: float, readers: list[Any]
) -> float:
    """Server CPU seconds from the first update until the server is idle again."""
    writer = await Writer().connect(server.room_url(room))
    await asyncio.sleep(0.5)
    await server.wait_idle()
    before = server.cpu_seconds()
    await writer.type(updates, rate)
    await asyncio.gather(*(reader.arrivals.wait_for(updates) for reader in readers))
    await server.wait_idle()
    spent = server.cpu_seconds() - before
    await writer.close()
    return spent


async def measure_cpu(
    server: RunningServer, updates: int, rate: float, readers: int
) -> dict[str, float]:
    base = await cpu_of_stream(server, "cpu-none", updates, rate, [])
    ws_readers = [
        await WebSocketReader().connect(server.room_url("cpu-ws")) for _ in range(readers)
    ]
    ws = await cpu_of_stream(server, "cpu-ws", updates, rate, ws_readers)
    for reader in ws_readers:
        await reader.close()
    http_readers = [HttpReader(server, "cpu-http") for _ in range(readers)]
    for reader in http_readers:
        await reader.poll(0)
        reader.start()
    http = await cpu_of_stream(server, "cpu-http", updates, rate, http_readers)
    polls = sum(reader.polls for reader in http_readers)
    for reader in http_readers:
        await reader.close()
    deliveries = updates * readers
    return {
        "base": base,
        "ws": ws,
        "http": http,
        "ws_per_update_us": max(0.0, ws - base) / deliveries * 1e6,
        "http_per_update_us": max(0.0, http - base) / deliveries * 1e6,
        "http_polls_per_update": polls / deliveries,
    }


async def cpu_over(server: RunningServer, seconds: float) -> float:
    before = server.cpu_seconds()
    await asyncio.sleep(seconds)
    return server.cpu_seconds() - before


async def measure_idle(server: RunningServer, pollers: int, seconds: float) -> dict[str, float]:
    await server.wait_idle()
    idle = await cpu_over(server, seconds)
    readers = [HttpReader(server, "idle", wait=min(30.0, seconds + 15)) for _ in range(pollers)]
    await asyncio.gather(*(reader.poll(0) for reader in readers))
    for reader in readers:
        reader.start()
    await asyncio.sleep(2.0)  # every poll is in and waiting
    await server.wait_idle(timeout=20)
    polling = await cpu_over(server, seconds)
    answered = sum(reader.polls for reader in readers) - pollers  # beyond the first polls
    for reader in readers:
        await reader.close()
    return {"idle": idle, "polling": polling, "answered": answered}


def table(latency: dict[str, Any], cpu: dict[str, float], idle: dict[str, float], args: Any) -> str:
    ws50, ws99, wsn = latency["websocket"]
    h50, h99, hn = latency["http"]
    tick = CPU_RESOLUTION_S
    if idle["idle"] > 0:
        ratio = f"{idle['polling'] / idle['idle']:.1f}x"
    elif idle["polling"] <= tick:
        ratio = "1x (both within one clock tick)"
    else:
        ratio = "n/a (idle: 0)"
    rows = [
        "| measure | websocket | HTTP long poll |",
        "| --- | ---: | ---: |",
        f"| latency p50, ms ({args.updates} edits at {args.rate:g}/s, same room and writer)"
        f" | {ws50:.2f} | {h50:.2f} |",
        f"| latency p99, ms | {ws99:.2f} | {h99:.2f} |",
        f"| updates received | {wsn} | {hn} ({latency['http_polls']} polls) |",
        f"| server CPU per delivered update, µs ({args.readers} readers, less the writer alone)"
        f" | {cpu['ws_per_update_us']:.1f} | {cpu['http_per_update_us']:.1f} |",
        f"| server CPU of the stream, s (writer alone: {cpu['base']:.2f})"
        f" | {cpu['ws']:.2f} | {cpu['http']:.2f} |",
        "",
        "| idle server | CPU, s | CPU, % of one core |",
        "| --- | ---: | ---: |",
        f"| no client, {args.idle_seconds:g} s | {idle['idle']:.2f}"
        f" | {100 * idle['idle'] / args.idle_seconds:.2f} |",
        f"| {args.pollers} idle long polls, {args.idle_seconds:g} s | {idle['polling']:.2f}"
        f" | {100 * idle['polling'] / args.idle_seconds:.2f} |",
        f"| ratio | {ratio} | (CPU resolution {tick * 1000:.0f} ms;"
        f" polls answered meanwhile: {idle['answered']:.0f}) |",
    ]
    return "\n".join(rows)


async def run(args: argparse.Namespace) -> str:
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    need = args.pollers * 2 + 256  # both ends of every poll, if the server inherits this
    if soft < need:
        resource.setrlimit(resource.RLIMIT_NOFILE, (min(hard, need), hard))
    with tempfile.TemporaryDirectory(prefix="ysync-http-bench-") as work:
        server = Ours().start(Path(work))
        try:
            log(f"server pid {server.pid} on port {server.port}")
            log("latency ...")
            latency = await measure_latency(server, args.updates, args.rate)
            log(f"  {latency}")
            log("CPU per delivered update ...")
            cpu = await measure_cpu(server, args.updates, args.rate, args.readers)
            log(f"  {cpu}")
            log(f"{args.pollers} idle long polls ...")
            idle = await measure_idle(server, args.pollers, args.idle_seconds)
            log(f"  {idle}")
        finally:
            server.stop()
    return table(latency, cpu, idle, args)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m benchmarks.http", description=__doc__)
    parser.add_argument("--updates", type=int, default=500, help="edits per stream (500)")
    parser.add_argument("--rate", type=float, default=50.0, help="edits per second (50)")
    parser.add_argument("--readers", type=int, default=20, help="readers for the CPU figure (20)")
    parser.add_argument("--pollers", type=int, default=1000, help="idle long polls (1000)")
    parser.add_argument("--idle-seconds", type=float, default=10.0, help="idle window (10 s)")
    args = parser.parse_args(argv)
    print(asyncio.run(run(args)))
    return 0


if __name__ == "__main__":
    sys.exit(main())
