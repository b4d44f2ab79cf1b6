"""Command line: ``python -m benchmarks.fuzz [--frames 100000] [--seed N] [--attackers K]``.

A long fuzz run against a real ``jupyter server`` process with jupyter_ysync (started as the
benchmarks start ours, with a small ``max_message_size``). The run goes in rounds of
``--round-frames`` frames, each in a new room ``fuzz-N``: K attackers send it the frames of
``benchmarks/fuzzing.py`` while two good peers edit it; then the good peers, the server's live
replica (``ysync/rooms/fuzz-N/content``) and a fresh joiner must hold the same document, and
once the server has stopped, so must the store, with every good peer's edit in it. (Every
edit and every read of a text walks its whole history: rounds keep that bounded, so that the
figures of the last frames are those of the first.) Meanwhile a probe in room ``probe``, in a
process of its own, times a round trip every 20 ms, to see whether the attack stalls rooms it
has nothing to do with.

The report goes to stdout, progress to stderr. The exit status is 1 if anything diverged or
the server gave an attacker an answer it must not give.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import json
import multiprocessing
import os
import random
import signal
import sys
import time
import urllib.request
from dataclasses import dataclass
from multiprocessing.connection import Connection
from multiprocessing.synchronize import Event
from pathlib import Path
from typing import Any

from pycrdt import Doc

from jupyter_ysync.richtext import RichText
from jupyter_ysync.server.store import SQLiteStore
from jupyter_ysync.updates import replay

from .fuzzing import (
    CATEGORIES,
    EXPECTED_CLOSES,
    Attacker,
    Editor,
    Fingerprint,
    FrameFuzzer,
    FuzzStats,
    divergences,
    fingerprint,
    lost_edits,
)
from .loadgen import LatencyProbe, PeerError, YPeer
from .peers import HOST, WORK_DIR, Ours, RunningServer
from .proc import steal_ticks
from .results import percentile
from .runner import stderr_log

ROOM = "fuzz"
PROBE_ROOM = "probe"
DEFAULT_SEED = 20250117
MAX_MESSAGE = 256 * 1024


def parse_args(argv: list[str]) -> argparse.Namespace:
    parser = argparse.ArgumentParser(
        prog="python -m benchmarks.fuzz",
        description="Fuzz a jupyter-ysync server process with bad frames while good peers edit;"
        " report the rate, the stalls of an unrelated room, the closes and any divergence.",
    )
    parser.add_argument("--frames", type=int, default=100_000, help="frames to send in all")
    parser.add_argument("--seed", type=int, default=DEFAULT_SEED, help="replays a frame stream")
    parser.add_argument("--attackers", type=int, default=1, help="concurrent attackers")
    parser.add_argument(
        "--max-message-size",
        type=int,
        default=MAX_MESSAGE,
        help=f"the server's YSyncApp.max_message_size (default {MAX_MESSAGE})",
    )
    parser.add_argument(
        "--round-frames",
        type=int,
        default=2000,
        help="frames per room: each round attacks a new room with two new good peers and checks"
        " it at the end (a room's history, which every edit walks, stays bounded)",
    )
    parser.add_argument(
        "--astral",
        action="store_true",
        help="type characters outside the BMP too (emoji: yrs 0.28 mishandles a deletion that"
        " splits their surrogate pair, so rooms may diverge; see fuzzing.ASTRAL)",
    )
    parser.add_argument(
        "--time-limit", type=float, default=3600.0, help="seconds after which the attack stops"
    )
    parser.add_argument(
        "--probe-interval", type=float, default=0.02, help="seconds between probe round trips"
    )
    args = parser.parse_args(argv)
    if min(args.frames, args.attackers, args.round_frames) < 1:
        parser.error("--frames, --attackers and --round-frames must be at least 1")
    return args


# -- the probe, in a process of its own --------------------------------------------------------


def probe_main(url: str, interval: float, ready: Event, stop: Event, out: Connection) -> None:
    """Entry point of the probe process: round trips in ``url`` until ``stop`` is set."""
    try:
        out.send(asyncio.run(_probe(url, interval, ready, stop)))
    except Exception as error:  # reported by the parent
        out.send({"error": repr(error)})


async def _probe(url: str, interval: float, ready: Event, stop: Event) -> dict[str, Any]:
    """One writer's one-character updates, timed until a second connection has them."""
    writer, reader = YPeer(url), YPeer(url, timed=True)
    await writer.connect()
    await reader.connect()
    await writer.wait_synced(30)
    await reader.wait_synced(30)
    probe = LatencyProbe(writer)
    ready.set()
    sent = 0
    while not stop.is_set():
        await probe.send(writer.insert(writer.length, "x"))
        sent += 1
        await asyncio.sleep(interval)
    with contextlib.suppress(PeerError):
        await reader.wait_for_length(sent, 30)
    samples, _ = probe.latencies([reader], sent)
    await writer.close()
    await reader.close()
    # perf_counter() is the system's monotonic clock: the parent can place these in its rounds.
    sent_at = probe.sent_at if len(samples) == sent else []
    return {"sent": sent, "samples": samples, "sent_at": sent_at}


class ProbeProcess:
    """The probe process: start it, wait until it times round trips, stop it, read its samples."""

    def __init__(self, url: str, interval: float) -> None:
        context = multiprocessing.get_context("spawn")
        self._ready = context.Event()
        self._stop = context.Event()
        self._results, sender = context.Pipe(duplex=False)
        self._process = context.Process(
            target=probe_main,
            args=(url, interval, self._ready, self._stop, sender),
            name="ysync-fuzz-probe",
        )

    async def start(self, timeout: float = 60.0) -> None:
        """Start the process; return once its two peers are synced.

        Raises:
            RuntimeError: if it did not get there within ``timeout`` seconds.
        """
        self._process.start()
        if not await asyncio.to_thread(self._ready.wait, timeout):
            self.kill()
            raise RuntimeError(f"the probe did not connect within {timeout} s")

    async def stop(self, timeout: float = 90.0) -> dict[str, Any]:
        """Stop the round trips; return ``{"sent": n, "samples": [seconds, ...], "sent_at":
        [perf_counter(), ...]}`` (``sent_at`` empty if some round trip never completed), or
        ``{"error": ...}``."""
        self._stop.set()
        if not await asyncio.to_thread(self._results.poll, timeout):
            self.kill()
            return {"error": f"no result from the probe within {timeout} s"}
        result: dict[str, Any] = self._results.recv()
        self._results.close()
        await asyncio.to_thread(self._process.join, 10)
        return result

    def kill(self) -> None:
        """End the process now, if it still runs."""
        if self._process.is_alive():
            self._process.kill()
            self._process.join(10)


# -- the good peers ----------------------------------------------------------------------------


EDIT_INTERVAL = (0.01, 0.04)
"""Seconds between two edits of a good peer."""


async def edit_until(peer: YPeer, editor: Editor, stop: asyncio.Event) -> int:
    """Edit the peer's text at random, every 10-40 ms, until ``stop``; return the edits sent."""
    edits = 0
    while not stop.is_set() and peer.closed_reason is None:
        await asyncio.sleep(editor.rng.uniform(*EDIT_INTERVAL))
        try:
            update = peer.edit(editor.try_edit)
        except PeerError:  # nothing changed (a format already there, or refused)
            continue
        try:
            await peer.send(update)
        except ConnectionError:  # reported as a closed good peer
            break
        edits += 1
    return edits


async def settled(peers: list[YPeer], timeout: float) -> dict[str, Fingerprint]:
    """Wait until every peer holds the same document; return their fingerprints (the last ones
    seen, if they did not converge within ``timeout`` seconds)."""
    deadline = time.monotonic() + timeout
    while True:
        await asyncio.sleep(0.05)  # received updates are applied within 5 ms
        prints = {f"good peer {'AB'[i]}": fingerprint(peer.doc) for i, peer in enumerate(peers)}
        if not divergences(prints) or time.monotonic() > deadline:
            return prints


def replica_content(server: RunningServer, room: str) -> tuple[str, Any]:
    """The text and the delta of the server's live replica, from ``ysync/rooms/{room}/content``."""
    base = f"http://{HOST}:{server.port}/ysync/rooms/{room}/content?token={server.token}"
    with urllib.request.urlopen(base + "&format=text", timeout=30) as response:
        text = json.load(response)["text"]
    with urllib.request.urlopen(base + "&format=delta", timeout=30) as response:
        delta = json.load(response)["delta"]
    return text, delta


async def stored_documents(path: Path, rooms: list[str]) -> dict[str, Doc[Any]]:
    """The rooms as the store holds them, each replayed into a fresh document."""
    store = SQLiteStore(path)
    await store.start()
    docs: dict[str, Doc[Any]] = {}
    try:
        for room in rooms:
            docs[room] = Doc()
            replay(docs[room], await store.load(room))
    finally:
        await store.stop()
    return docs


# -- the run -----------------------------------------------------------------------------------


@dataclass
class Round:
    """One room's part of the run: what was sent to it and what it held at the end."""

    room: str
    stats: FuzzStats
    window: tuple[float, float]
    """When the attack began and ended (``time.perf_counter()``; the checks after it excluded)."""
    edits: list[int]
    refused: list[int]
    """Good peers' edits pycrdt refused to make."""
    errors: list[str]
    """What pycrdt said when it refused them (the first few)."""
    final: Fingerprint
    """Good peer A's replica at the end."""
    authors: dict[str, tuple[int, int]]
    """Good peer -> (its client id, the clock it reached)."""
    others: int
    """Clients besides the good peers in the final state vector: attacker content applied."""
    found: list[str]
    """Divergences and closed good peers."""


async def fuzz_round(
    server: RunningServer,
    args: argparse.Namespace,
    room: str,
    frames: int,
    rng: random.Random,
    deadline: float,
) -> Round:
    """Attack ``room`` with ``frames`` frames while two good peers edit it, then compare the good
    peers, the server's replica and a fresh joiner."""
    url = server.room_url(room)
    good = [YPeer(url), YPeer(url)]
    for peer in good:
        await peer.connect()
        await peer.wait_synced(30)
    stop = asyncio.Event()
    editors = [
        Editor(peer.text, random.Random(rng.getrandbits(64)), astral=args.astral) for peer in good
    ]
    editing = [
        asyncio.create_task(edit_until(peer, editor, stop))
        for peer, editor in zip(good, editors, strict=True)
    ]
    try:
        fuzzers = [
            FrameFuzzer(
                random.Random(rng.getrandbits(64)),
                max_message_size=args.max_message_size,
                astral=args.astral,
            )
            for _ in range(args.attackers)
        ]
        shares = [
            frames // args.attackers + (i < frames % args.attackers) for i in range(args.attackers)
        ]
        started = time.perf_counter()
        results = await asyncio.gather(
            *(
                Attacker(url, fuzzer).run(share, deadline)
                for fuzzer, share in zip(fuzzers, shares, strict=True)
            )
        )
        window = (started, time.perf_counter())
        stop.set()
        edits = [await task for task in editing]
    finally:
        for task in editing:
            task.cancel()
    stats = FuzzStats()
    for result in results:
        stats.merge(result)

    found = [
        f"{room}: good peer {'AB'[i]} was closed: {peer.closed_reason}"
        for i, peer in enumerate(good)
        if peer.closed_reason is not None
    ]
    replicas = await settled(good, timeout=60)
    authors = {
        name: (peer.doc.client_id, replicas[name].clock(peer.doc.client_id))
        for name, peer in zip(replicas, good, strict=True)
    }
    joiner = YPeer(url)
    await joiner.connect()
    await joiner.wait_synced(60)
    replicas["a fresh joiner"] = fingerprint(joiner.doc)
    found += [f"{room}: {item}" for item in divergences(replicas)]
    reference = RichText(good[0].text)
    text, delta = await asyncio.to_thread(replica_content, server, room)
    if text != str(reference):
        found.append(f"{room}: the server's replica has another text than good peer A")
    if delta != json.loads(json.dumps(reference.delta)):
        found.append(f"{room}: the server's replica has another formatted delta than good peer A")
    await joiner.close()
    for peer in good:
        await peer.close()
    final = replicas["good peer A"]
    own = {client for client, _ in authors.values()}
    others = len([client for client, _ in final.state if client not in own])
    refused = [editor.refused for editor in editors]
    errors = [error for editor in editors for error in editor.errors]
    return Round(room, stats, window, edits, refused, errors, final, authors, others, found)


async def fuzz(args: argparse.Namespace) -> int:
    task = asyncio.current_task()
    assert task is not None
    for signum in (signal.SIGINT, signal.SIGTERM):  # stop the server and the probe first
        asyncio.get_running_loop().add_signal_handler(signum, task.cancel)
    rng = random.Random(args.seed)
    workdir = WORK_DIR / time.strftime("fuzz-%Y%m%d-%H%M%S")
    ours = Ours()
    ours.install()
    server = await asyncio.to_thread(
        ours.start, workdir, [f"--YSyncApp.max_message_size={args.max_message_size}"]
    )
    stderr_log(f"[fuzz] server on port {server.port}, log {server.log_path}")
    probe = ProbeProcess(server.room_url(PROBE_ROOM), args.probe_interval)
    rounds: list[Round] = []
    try:
        await probe.start()
        load_before, steal_before = os.getloadavg()[0], steal_ticks()
        started = time.monotonic()
        sent = 0
        deadline = started + args.time_limit
        while sent < args.frames and time.monotonic() < deadline:
            frames = min(args.round_frames, args.frames - sent)
            room = f"fuzz-{len(rounds) + 1}"
            result = await fuzz_round(server, args, room, frames, rng, deadline)
            rounds.append(result)
            sent += result.stats.frames
            seconds = result.window[1] - result.window[0]
            stderr_log(
                f"[fuzz] {result.room}: {result.stats.frames:,} frames in {seconds:.0f} s"
                f" ({result.stats.frames / seconds:,.0f}/s), {len(result.found)}"
                f" divergences, {len(result.stats.problems)} problems, good peers' edits refused"
                f" by pycrdt {result.refused}; {sent:,} frames so far"
            )
        load = (load_before, os.getloadavg()[0], _stolen(steal_before, steal_ticks()))
        probed = await probe.stop()
        await asyncio.to_thread(server.stop)
        stored = await stored_documents(ours.store_path(workdir), [r.room for r in rounds])
        for result in rounds:
            final = fingerprint(stored[result.room])
            result.found += [
                f"{result.room}: {item}"
                for item in [
                    *divergences({"good peer A": result.final, "the store": final}),
                    *lost_edits(result.authors, final),
                ]
            ]
    finally:
        probe.kill()
        await asyncio.to_thread(server.stop)

    stats = FuzzStats()
    for result in rounds:
        stats.merge(result.stats)
    found = [item for result in rounds for item in result.found]
    print(report(args, rounds, stats, load, probed, found))
    return 1 if found or stats.problems or set(stats.closes) - EXPECTED_CLOSES else 0


def _stolen(before: tuple[int, int], after: tuple[int, int]) -> float:
    """Percent of CPU time the hypervisor stole between two ``steal_ticks()``."""
    total = after[1] - before[1]
    return 100 * (after[0] - before[0]) / total if total else 0.0


def _stalls(
    probed: dict[str, Any], windows: list[tuple[float, float]], interval: float
) -> tuple[str, str]:
    """The probe's round trips while an attack ran, and over the whole run (the checks between
    rounds included)."""
    if "error" in probed:
        return f"probe failed: {probed['error']}", ""
    samples: list[float] = probed["samples"]
    if not samples:
        return "no probe round trip completed", ""

    def figures(ms: list[float]) -> str:
        return (
            f"max {max(ms):.1f} ms, p99 {percentile(ms, 0.99):.1f} ms,"
            f" p50 {percentile(ms, 0.5):.1f} ms ({len(ms):,} round trips)"
        )

    overall = [sample * 1000 for sample in samples]
    whole = f"whole run (checks between rounds included): {figures(overall)}"
    whole += f"; {len(samples):,} of {probed['sent']:,} round trips completed"
    sent_at: list[float] = probed["sent_at"]
    if not sent_at:
        return f"one every {interval * 1000:.0f} ms: see the whole run", whole
    attacked = [
        latency * 1000
        for at, latency in zip(sent_at, samples, strict=True)
        if any(start <= at <= end for start, end in windows)
    ]
    during = figures(attacked) if attacked else "no round trip during an attack"
    return f"during the attacks: {during}, one every {interval * 1000:.0f} ms", whole


def report(
    args: argparse.Namespace,
    rounds: list[Round],
    stats: FuzzStats,
    load: tuple[float, float, float],
    probed: dict[str, Any],
    found: list[str],
) -> str:
    """The run's figures, as text."""
    stall = _stalls(probed, [result.window for result in rounds], args.probe_interval)
    seconds = sum(end - start for start, end in (result.window for result in rounds))
    closes = ", ".join(f"{code}: {n:,}" for code, n in sorted(stats.closes.items()))
    edits = sum(sum(result.edits) for result in rounds)
    refused = sum(sum(result.refused) for result in rounds)
    others = sum(result.others for result in rounds)
    lines = [
        f"jupyter-ysync fuzz run: seed {args.seed}, {args.attackers} attacker(s),"
        f" max_message_size {args.max_message_size:,} bytes"
        + (", characters outside the BMP typed" if args.astral else ""),
        f"frames sent            {stats.frames:,} in {seconds:.1f} s of attack"
        f" ({stats.frames / seconds:,.0f} frames/s) on {stats.connections:,} connections,"
        f" in {len(rounds)} rooms of {args.round_frames:,} frames",
        f"closes by code         {closes or '-'}",
        f"unrelated room         {stall[0]}",
        f"                       {stall[1]}",
        f"good peers' edits      {edits:,} (two per room; {refused} refused by pycrdt)",
        f"attacker content       {others} attacker client ids in the rooms' final state vectors",
        f"divergences            {len(found)} (good peers, server replica, fresh joiner, store;"
        " every good peer's edit kept)",
        f"attacker problems      {len(stats.problems)} (unexpected codes, refusable frames"
        " kept, frames left unanswered)",
        f"attacker replicas      {stats.replica_errors} server updates they could not apply",
        f"machine                load average {load[0]:.2f} before, {load[1]:.2f} after;"
        f" {os.cpu_count()} CPUs; {load[2]:.1f}% of CPU time stolen by the hypervisor",
        "",
        stats.describe(),
    ]
    lines += [f"DIVERGENCE: {item}" for item in found]
    lines += [f"REFUSED EDIT: {r.room}: {error}" for r in rounds for error in r.errors]
    lines += [f"PROBLEM: {item}" for item in stats.problems[:50]]
    if set(stats.sent) != set(CATEGORIES):
        lines.append(f"note: categories never sent: {sorted(set(CATEGORIES) - set(stats.sent))}")
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> int:
    args = parse_args(sys.argv[1:] if argv is None else argv)
    try:
        return asyncio.run(fuzz(args))
    except asyncio.CancelledError:  # SIGINT or SIGTERM: the server and the probe are stopped
        stderr_log("[fuzz] interrupted")
        return 130


if __name__ == "__main__":
    sys.exit(main())
