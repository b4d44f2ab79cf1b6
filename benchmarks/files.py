"""A ~1 MB Markdown file as a shared document: first open, a save, an outside edit.

``python -m benchmarks.files [--size-mb 1] [--repeat 5] [--servers ours jupyter-collaboration]``

Each server runs as a real process (``peers.py``) with the same root folder layout. The file
is real Markdown: the README corpus of ``tests/data/markdown`` concatenated (and cycled) until
it reaches ``--size-mb`` MiB. Every repetition writes it under a fresh name, so each first open
is a first open, and measures on that server:

1. **first open → full sync**: from the open request until a pycrdt peer holds the whole
   document. Ours: ``GET ysync/files/{path}``, then the websocket of the room it names, until
   the import arrives (the room imports its file on the first peer's sync step 1).
   jupyter-collaboration: ``PUT api/collaboration/session/{path}``, then the websocket
   ``api/collaboration/room/text:file:{fileId}?sessionId=...`` (its ``Text`` "source").
   Baseline: ``GET api/contents/{path}`` of the same file on the same server.
2. **a save**, after a one-word edit from the peer: ours ``POST ysync/rooms/{room}/save``;
   jupyter-collaboration its ``save`` message on the websocket (what JupyterLab's Ctrl+S sends;
   both servers' timed autosave is pushed out of the way). Baseline: ``PUT api/contents`` of
   the same content, to a sibling file that no room holds.
3. **a one-line outside edit**: one line changed and the whole file written in place, as an
   editor saves; until the connected peer holds the change: wall time, server CPU, and the
   bytes of Yjs update the peer received.

Server CPU is ``utime + stime`` from ``/proc`` from just before the step until the server is
idle again (``RunningServer.wait_idle``). An unmeasured repetition on a small file comes first
on each server, so that lazy imports and first-use caches count in neither server's figures.
The table goes to stdout, every repetition's values to stderr, everything to
``benchmarks/.work/files.json``.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import dataclasses
import json
import shlex
import statistics
import sys
import time
from collections.abc import Awaitable, Callable, Sequence
from pathlib import Path
from typing import Any
from urllib.parse import quote

from pycrdt import (
    Decoder,
    Doc,
    Encoder,
    Text,
    YMessageType,
    YSyncMessageType,
    create_sync_message,
    create_update_message,
    handle_sync_message,
    read_message,
)
from tornado.httpclient import AsyncHTTPClient, HTTPRequest

from .peers import (
    HOST,
    REPO_DIR,
    SERVER_KINDS,
    WORK_DIR,
    JupyterCollaboration,
    Ours,
    PeerUnavailable,
    RunningServer,
    ServerKind,
)
from .report import EN_DASH, TIMES, ServerInfo, machine
from .results import Better, Measurement, Metric, Run
from .runner import install, stderr_log
from .wsclient import WebSocketClient

CORPUS_DIR = REPO_DIR / "tests" / "data" / "markdown"
RESULTS_PATH = WORK_DIR / "files.json"
MIB = 1024 * 1024

SERVERS = (Ours.key, JupyterCollaboration.key)

POLL_INTERVAL = 0.5
"""Seconds between each server's checks of an open file for outside edits (both servers)."""

SERVER_ARGS: dict[str, tuple[str, ...]] = {
    Ours.key: (
        f"--YSyncApp.file_poll_interval={POLL_INTERVAL}",
        # Saves happen when the benchmark asks, never on a timer in the middle of a step.
        "--YSyncApp.save_delay=3600",
        "--YSyncApp.max_save_delay=3600",
    ),
    JupyterCollaboration.key: (
        f"--YDocExtension.file_poll_interval={POLL_INTERVAL}",
        "--YDocExtension.document_save_delay=3600",
    ),
}

STORAGE = {
    Ours.key: "durable SQLite store ON; the room imports its file once, saves through the"
    " ContentsManager",
    JupyterCollaboration.key: "file rooms keep their updates in its default SQLiteYStore"
    " (`.jupyter_ystore.db` in the root folder)",
}
"""What each server keeps of a file room (``ServerKind.storage`` describes its ad-hoc rooms)."""

ROOT_TEXT = {Ours.key: "content", JupyterCollaboration.key: "source"}
"""The root ``Text`` of each server's file document."""

BASELINE_REQUESTS = 5
"""Plain reads and writes per repetition; their mean is the baseline (CPU has 10 ms ticks)."""

STEP_TIMEOUT = 300.0
"""Default seconds a step may take before the repetition fails (``--timeout``)."""

EDIT_WORD = "Benchmarked "
"""What the peer types at the start of the document before the save."""

OUTSIDE_MARK = " Edited outside the room."
"""What the outside edit appends to one line of the file."""

METRICS = (
    Metric("open_ms", "first open → full sync: wall", "ms", Better.LOWER),
    Metric("open_cpu_ms", "first open: server CPU", "ms", Better.LOWER),
    Metric("read_ms", "baseline `GET api/contents`: wall", "ms", Better.LOWER),
    Metric("read_cpu_ms", "baseline `GET api/contents`: server CPU", "ms", Better.LOWER),
    Metric("open_per_read", "first open / plain read (wall)", "", Better.LOWER),
    Metric("save_ms", "save after a one-word edit: wall", "ms", Better.LOWER),
    Metric("save_cpu_ms", "save: server CPU", "ms", Better.LOWER),
    Metric("write_ms", "baseline `PUT api/contents`: wall", "ms", Better.LOWER),
    Metric("write_cpu_ms", "baseline `PUT api/contents`: server CPU", "ms", Better.LOWER),
    Metric("save_per_write", "save / plain write (wall)", "", Better.LOWER),
    Metric("edit_ms", "one-line outside edit → peer has it: wall", "ms", Better.LOWER),
    Metric("edit_cpu_ms", "outside edit: server CPU", "ms", Better.LOWER),
    Metric("edit_bytes", "outside edit: update bytes the peer received", "B", Better.LOWER, 0),
    Metric("edit_share", "outside edit: update bytes / file size", "%", Better.LOWER, 3),
)


class StepFailed(Exception):
    """A step did not reach its end state (the repetition is reported as FAILED)."""


# -- the file ----------------------------------------------------------------------------


def corpus_text(size: int) -> tuple[str, int]:
    """Real Markdown of at least ``size`` bytes: the corpus files concatenated, cycled.

    Returns:
        The text and how many files it holds.
    """
    files = sorted(p for p in CORPUS_DIR.glob("*.md") if p.name != "SOURCES.md")
    if not files:
        raise SystemExit(f"no Markdown corpus in {CORPUS_DIR}: run from a checkout of the repo")
    parts: list[str] = []
    total = 0
    while total < size:
        part = files[len(parts) % len(files)].read_text()
        parts.append(part)
        total += len(part.encode()) + 2
    return "\n\n".join(parts), len(parts)


def edit_one_line(text: str) -> str:
    """Append ``OUTSIDE_MARK`` to one paragraph line of the second half of ``text``.

    Raises:
        StepFailed: if no line outside code fences looks like prose.
    """
    lines = text.split("\n")
    fenced = False
    for index, line in enumerate(lines):
        if line.lstrip().startswith(("```", "~~~")):
            fenced = not fenced
            continue
        if (
            not fenced
            and index >= len(lines) // 2
            and len(line) > 20
            and line[:1].isalpha()
            and not any(mark in line for mark in "|<>`*_[]\\")
            and line.rstrip() == line
        ):
            lines[index] = line + OUTSIDE_MARK
            return "\n".join(lines)
    raise StepFailed("no prose line to edit in the second half of the file")


def room_text(kind: str, content: str) -> str:
    """The text (``str()`` of the root ``Text``) a server's room holds for ``content``."""
    if kind != Ours.key:
        return content
    from jupyter_ysync.richtext.lossless import parse  # what ours imports the file as

    ops = parse(content, "markdown").ops
    return "".join(op["insert"] for op in ops if isinstance(op["insert"], str))


# -- talking to the servers ----------------------------------------------------------------


class Http:
    """Token-authenticated JSON requests to one server."""

    def __init__(self, server: RunningServer, timeout: float = STEP_TIMEOUT) -> None:
        self.timeout = timeout
        self.base = f"http://{HOST}:{server.port}/"
        self.headers = {"Authorization": f"token {server.token}"}
        self.client = AsyncHTTPClient()

    async def request(self, method: str, path: str, body: Any = None) -> Any:
        """Send one request; return its decoded JSON body.

        Raises:
            StepFailed: on a status other than 2xx, with the server's message.
        """
        request = HTTPRequest(
            self.base + path,
            method=method,
            headers=self.headers,
            body=None if body is None else json.dumps(body),
            allow_nonstandard_methods=True,
            request_timeout=self.timeout,
        )
        response = await self.client.fetch(request, raise_error=False)
        if response.code // 100 != 2:
            detail = response.body[:300].decode(errors="replace") if response.body else ""
            raise StepFailed(f"{method} {path}: {response.code} {response.reason}: {detail}")
        return json.loads(response.body) if response.body else None


class FilePeer:
    """A y-websocket v1 peer of a file room: a pycrdt replica, the update bytes it received.

    jupyter-collaboration's ``save`` requests go over the same websocket (message type 2).
    """

    doc: Doc[Any]
    text: Text
    timeout: float
    update_bytes: int
    closed_reason: str | None
    _ws: WebSocketClient | None = None
    _waiters: list[tuple[Callable[[], bool], asyncio.Future[float]]]
    _saves: dict[int, asyncio.Future[dict[str, Any]]]

    def __init__(self, root: str, timeout: float = STEP_TIMEOUT) -> None:
        self.timeout = timeout
        self.doc = Doc()
        self.text = self.doc.get(root, type=Text)
        self.update_bytes = 0
        self.closed_reason = None
        self._waiters = []
        self._saves = {}

    async def connect(self, url: str) -> None:
        """Open the websocket and send sync step 1 (an empty state vector: a first open)."""
        self._ws = await WebSocketClient.connect(url, self._on_message, self._on_close)
        await self._ws.send(create_sync_message(self.doc))

    async def close(self) -> None:
        if self._ws is not None:
            await self._ws.close()
        self._ws = None

    async def edit(self, change: Callable[[], object]) -> None:
        """Make a change in one transaction and send the update it produced."""
        before = self.doc.get_state()
        with self.doc.transaction():
            change()
        if self._ws is None:
            raise StepFailed("the peer is not connected")
        await self._ws.send(create_update_message(self.doc.get_update(before)))

    async def until(self, condition: Callable[[], bool], what: str) -> float:
        """Wait until ``condition()`` holds after a received message.

        Returns:
            ``time.perf_counter()`` just after the message that made it hold was applied.

        Raises:
            StepFailed: after ``timeout`` seconds or if the connection closed.
        """
        if condition():
            return time.perf_counter()
        reached: asyncio.Future[float] = asyncio.get_running_loop().create_future()
        waiter = (condition, reached)
        self._waiters.append(waiter)
        try:
            return await asyncio.wait_for(reached, self.timeout)
        except TimeoutError:
            raise StepFailed(
                f"{what}: not after {self.timeout:g} s (the peer holds {len(self.text):,}"
                f" characters, received {self.update_bytes:,} update bytes"
                f"{'; ' + self.closed_reason if self.closed_reason else ''})"
            ) from None
        finally:
            self._waiters.remove(waiter)

    async def save_request(self, save_id: int) -> dict[str, Any]:
        """jupyter-collaboration's save: a ``save`` message; wait for its reply.

        Raises:
            StepFailed: if no reply came within ``timeout`` seconds.
        """
        if self._ws is None:
            raise StepFailed("the peer is not connected")
        reply: asyncio.Future[dict[str, Any]] = asyncio.get_running_loop().create_future()
        self._saves[save_id] = reply
        encoder = Encoder()
        encoder.write_var_uint(2)  # jupyter_server_ydoc.utils.MessageType.RAW
        encoder.write_var_string("save")
        encoder.write_var_uint(save_id)
        await self._ws.send(encoder.to_bytes())
        try:
            return await asyncio.wait_for(reply, self.timeout)
        except TimeoutError:
            raise StepFailed(f"no reply to save request {save_id}") from None

    def _on_message(self, message: bytes, arrival: float) -> None:
        if len(message) < 2:
            return
        if message[0] == 2:  # jupyter-collaboration's RAW (a JSON string); ours: AUTH
            self._on_raw(message)
            return
        if message[0] != YMessageType.SYNC:
            return  # awareness: not measured
        if message[1] == YSyncMessageType.SYNC_UPDATE:
            update = read_message(message[2:])
            self.update_bytes += len(update)
            self.doc.apply_update(update)
        else:
            reply = handle_sync_message(message[1:], self.doc)
            if reply is not None and self._ws is not None and not self._ws.closed:
                self._ws.send_nowait(reply)
        self._check()

    def _on_raw(self, message: bytes) -> None:
        decoder = Decoder(message)
        decoder.read_var_uint()
        with contextlib.suppress(ValueError, UnicodeDecodeError):
            payload = json.loads(decoder.read_var_string())
            if isinstance(payload, dict) and payload.get("type") == "save":
                reply = self._saves.pop(int(payload.get("responseTo", -1)), None)
                if reply is not None and not reply.done():
                    reply.set_result(payload)
                return
        self.closed_reason = f"server said {message[1:200]!r}"

    def _on_close(self) -> None:
        ws = self._ws
        self.closed_reason = f"closed: {ws.close_code} {ws.close_reason}" if ws else "closed"
        for _, reached in self._waiters:
            if not reached.done():
                reached.set_exception(StepFailed(f"connection {self.closed_reason}"))

    def _check(self) -> None:
        for condition, reached in self._waiters:
            if not reached.done() and condition():
                reached.set_result(time.perf_counter())


# -- one repetition --------------------------------------------------------------------------


async def _cpu_until_idle(server: RunningServer, before: float) -> float:
    """Server CPU ms since ``before`` (``cpu_seconds()``), once the server is idle again."""
    await server.wait_idle(timeout=30)
    return (server.cpu_seconds() - before) * 1000


async def _baseline(
    server: RunningServer, request: Callable[[], Awaitable[None]]
) -> tuple[float, float]:
    """Mean wall ms and server CPU ms of ``BASELINE_REQUESTS`` plain contents requests."""
    await server.wait_idle()
    cpu = server.cpu_seconds()
    started = time.perf_counter()
    for _ in range(BASELINE_REQUESTS):
        await request()
    wall = (time.perf_counter() - started) * 1000 / BASELINE_REQUESTS
    return wall, await _cpu_until_idle(server, cpu) / BASELINE_REQUESTS


async def _open(kind: str, server: RunningServer, http: Http, path: str, peer: FilePeer) -> str:
    """Open ``path``'s room and connect ``peer`` (which sends sync step 1 at once).

    Returns:
        The room's name.
    """
    if kind == Ours.key:
        status = await http.request("GET", f"ysync/files/{quote(path)}")
        room = status["room"]
        url = server.room_url(room)
    else:
        session = await http.request(
            "PUT", f"api/collaboration/session/{quote(path)}", {"format": "text", "type": "file"}
        )
        room = f"text:file:{session['fileId']}"
        url = f"{server.room_url(room)}&sessionId={session['sessionId']}"
    await peer.connect(url)
    return room


async def _save(kind: str, http: Http, peer: FilePeer, room: str, rep: int) -> None:
    if kind == Ours.key:
        await http.request("POST", f"ysync/rooms/{quote(room)}/save")
        return
    reply = await peer.save_request(rep + 1)
    if reply.get("status") != "success":
        raise StepFailed(f"jupyter-collaboration answered the save with {reply}")


async def repetition(
    kind: str,
    server: RunningServer,
    content: str,
    name: str,
    rep: int,
    values: dict[str, float],
    timeout: float = STEP_TIMEOUT,
) -> None:
    """Measure the three steps on a fresh copy of ``content`` named ``name`` into ``values``.

    Each step's figures are in ``values`` as soon as it is done, so that a failure keeps what
    the steps before it measured.

    Raises:
        StepFailed: if a step did not reach its end state.
    """
    http = Http(server, timeout)
    file = server.workdir / name
    plain = server.workdir / name.replace(".md", "-plain.md")
    file.write_text(content)
    expected = room_text(kind, content)

    async def read() -> None:
        await http.request("GET", f"api/contents/{quote(name)}?type=file&format=text")

    values["read_ms"], values["read_cpu_ms"] = await _baseline(server, read)

    # 1. First open -> the whole document in the peer's Doc.
    peer = FilePeer(ROOT_TEXT[kind], timeout)
    await server.wait_idle()
    cpu = server.cpu_seconds()
    started = time.perf_counter()
    room = await _open(kind, server, http, name, peer)
    try:
        synced = await peer.until(
            lambda: len(peer.text) >= len(expected) and str(peer.text) == expected,
            f"first sync of {name}",
        )
        values["open_ms"] = (synced - started) * 1000
        values["open_cpu_ms"] = await _cpu_until_idle(server, cpu)
        values["open_per_read"] = values["open_ms"] / values["read_ms"]

        # 2. A one-word edit, then a save.
        await peer.edit(lambda: peer.text.insert(0, EDIT_WORD))
        await server.wait_idle()  # the edit is applied: only the save is timed
        cpu = server.cpu_seconds()
        started = time.perf_counter()
        await _save(kind, http, peer, room, rep)
        values["save_ms"] = (time.perf_counter() - started) * 1000
        values["save_cpu_ms"] = await _cpu_until_idle(server, cpu)
        saved = file.read_text()
        if EDIT_WORD.strip() not in saved[:500]:
            raise StepFailed(f"the save did not write the edit: {saved[:80]!r}")

        body = {"type": "file", "format": "text", "content": saved}

        async def write() -> None:
            await http.request("PUT", f"api/contents/{quote(plain.name)}", body)

        values["write_ms"], values["write_cpu_ms"] = await _baseline(server, write)
        values["save_per_write"] = values["save_ms"] / values["write_ms"]

        # 3. One line changed on disk, the whole file written in place.
        edited = edit_one_line(saved)
        expected = room_text(kind, edited)
        await server.wait_idle()
        peer.update_bytes = 0
        cpu = server.cpu_seconds()
        started = time.perf_counter()
        file.write_text(edited)
        merged = await peer.until(
            lambda: OUTSIDE_MARK in str(peer.text), f"the outside edit of {name} at the peer"
        )
        values["edit_ms"] = (merged - started) * 1000
        values["edit_cpu_ms"] = await _cpu_until_idle(server, cpu)
        values["edit_bytes"] = peer.update_bytes
        values["edit_share"] = 100 * peer.update_bytes / len(edited.encode())
        if str(peer.text) != expected:
            raise StepFailed("after the outside edit the peer's text differs from the file's")
    finally:
        await peer.close()
    values["file_bytes"] = len(content.encode())


async def measure(
    kind: ServerKind,
    content: str,
    repeat: int,
    workdir: Path,
    log: Callable[[str], None],
    timeout: float = STEP_TIMEOUT,
) -> Measurement:
    """Run ``repeat`` repetitions on ``kind``, started once and warmed up on a small file.

    After a failed repetition the server is replaced by a fresh one: it may still be busy
    with the step that timed out, which the next repetition would otherwise wait for.
    """
    measurement = Measurement("files", kind.key)
    server: RunningServer | None = None
    try:
        for rep in range(repeat):
            if server is None:
                server = await _start(kind, workdir / f"{kind.key}-{rep}", measurement, timeout)
            values: dict[str, float] = {}
            try:
                await repetition(kind.key, server, content, f"file-{rep}.md", rep, values, timeout)
            except (StepFailed, OSError) as exc:
                server.check_alive()
                log(
                    f"[files] {kind.key} #{rep + 1}: FAILED: {exc}; " + json.dumps(_rounded(values))
                )
                timed_out = "not after" in str(exc)
                measurement.runs.append(Run(values, False, str(exc), timed_out=timed_out))
                await asyncio.to_thread(server.stop)
                server = None
                continue
            log(f"[files] {kind.key} #{rep + 1}: " + json.dumps(_rounded(values)))
            measurement.runs.append(Run(values, True))
    except PeerUnavailable as exc:
        measurement.error = str(exc)
    finally:
        if server is not None:
            await asyncio.to_thread(server.stop)
    return measurement


async def _start(
    kind: ServerKind, folder: Path, measurement: Measurement, timeout: float
) -> RunningServer:
    """Start ``kind`` in ``folder`` and run one unmeasured repetition on a small file.

    Raises:
        PeerUnavailable: if it does not start.
    """
    server = await asyncio.to_thread(kind.start, folder, SERVER_ARGS.get(kind.key, ()))
    warmup, _ = corpus_text(20_000)
    try:
        await repetition(kind.key, server, warmup, "warmup.md", -1, {}, timeout)
    except StepFailed as exc:
        measurement.notes.append(f"warm-up failed: {exc}")
    return server


def _rounded(values: dict[str, float]) -> dict[str, float]:
    return {key: round(value, 4) for key, value in values.items()}


# -- the report ----------------------------------------------------------------------------


def _values(measurement: Measurement, key: str) -> list[float]:
    """``key``'s value in every repetition that got that far (a failure keeps earlier steps)."""
    return [run.values[key] for run in measurement.runs if key in run.values]


def _figure(measurement: Measurement, metric: Metric) -> str:
    """Median (min-max) over the repetitions that measured ``metric``; the others' failure."""
    if measurement.error is not None:
        return "n/a"
    values = _values(measurement, metric.key)
    missing = [run for run in measurement.runs if metric.key not in run.values]
    verdict = "TIMEOUT" if missing and all(run.timed_out for run in missing) else "FAILED"
    if not values:
        return verdict if missing else "—"

    def number(value: float) -> str:
        return f"{value:,.{metric.digits}f}"

    text = number(statistics.median(values))
    if len(values) == 1:
        text += " (1 run)"
    else:
        text += f" ({number(min(values))}{EN_DASH}{number(max(values))})"
    if missing:
        text += f" + {len(missing)} {verdict}"
    return text


def _ratio(ours: Measurement, theirs: Measurement, metric: Metric) -> str:
    mine, other = _values(ours, metric.key), _values(theirs, metric.key)
    if not mine or not other or statistics.median(mine) <= 0 or statistics.median(other) <= 0:
        return "—"
    ratio = statistics.median(other) / statistics.median(mine)
    return f"{ratio:,.2f}{TIMES}" if ratio >= 0.1 else f"{ratio:.2g}{TIMES}"


def render(
    infos: Sequence[ServerInfo],
    measurements: Sequence[Measurement],
    command: str,
    size: int,
    files: int,
    repeat: int,
) -> str:
    """The markdown report: context, then one row per figure and one column per server."""
    lines = [
        f"## Files: a {size / MIB:.2f} MiB Markdown file ({size:,} bytes)",
        "",
        f"Command: `{command}`; {repeat} repetitions (a fresh file each),"
        f" median (min{EN_DASH}max).",
        f"The file: {files} README files of `tests/data/markdown` concatenated.",
        f"Machine: {machine()}; the benchmark and the servers share it, on loopback.",
        "",
        "Servers:",
    ]
    for info in infos:
        state = info.version if info.unavailable is None else "NOT AVAILABLE"
        reason = f": {info.unavailable}" if info.unavailable else ""
        lines.append(f"- **{info.title}** ({state}) — {info.storage}{reason}")
    found = {m.server: m for m in measurements}
    for info in infos:
        measurement = found.get(info.key)
        if measurement is not None and measurement.error and not info.unavailable:
            lines.append(f"- {info.key}: n/a: {measurement.error}")
        for note in measurement.notes if measurement else []:
            lines.append(f"- {info.key}: {note}")
        for run in measurement.failed_runs if measurement else []:
            lines.append(f"- {info.key}: {'TIMEOUT' if run.timed_out else 'FAILED'}: {run.detail}")
    lines += [
        f"- Outside edits: both servers poll the file every {POLL_INTERVAL:g} s here; ours"
        " also watches it with inotify (watchfiles), which normally reacts first.",
        "",
    ]
    header = ["figure", *(info.title for info in infos)]
    others = list(infos[1:])
    header += [f"{info.key} / ours" for info in others]
    rows = [header, ["---"] * len(header)]
    for metric in METRICS:
        unit = f" ({metric.unit})" if metric.unit else ""
        row = [f"{metric.label}{unit}"]
        row += [_figure(found[info.key], metric) if info.key in found else "n/a" for info in infos]
        ours = found.get(infos[0].key)
        for info in others:
            theirs = found.get(info.key)
            if ours is None or theirs is None or ours.error or theirs.error:
                row.append("—")
            else:
                row.append(_ratio(ours, theirs, metric))
        rows.append(row)
    lines += ["| " + " | ".join(cell.replace("|", "\\|") for cell in r) + " |" for r in rows]
    return "\n".join(lines) + "\n"


# -- command line ----------------------------------------------------------------------------


def parse_args(argv: list[str]) -> argparse.Namespace:
    parser = argparse.ArgumentParser(
        prog="python -m benchmarks.files",
        description="Open, save and edit from outside a ~1 MB Markdown file on our server and"
        " on jupyter-collaboration, as real processes on loopback.",
    )
    parser.add_argument("--size-mb", type=float, default=1.0, help="file size in MiB (1)")
    parser.add_argument("--repeat", type=int, default=5, help="repetitions per server (5)")
    parser.add_argument(
        "--servers", nargs="+", choices=SERVERS, default=list(SERVERS), help="(both)"
    )
    parser.add_argument(
        "--timeout",
        type=float,
        default=STEP_TIMEOUT,
        help=f"seconds a step may take before its repetition fails ({STEP_TIMEOUT:g})",
    )
    parser.add_argument(
        "--json", type=Path, default=RESULTS_PATH, help=f"raw results (default {RESULTS_PATH})"
    )
    return parser.parse_args(argv)


def main(argv: list[str] | None = None) -> int:
    args = parse_args(sys.argv[1:] if argv is None else argv)
    if args.repeat < 1 or args.size_mb <= 0:
        raise SystemExit("--repeat must be at least 1 and --size-mb positive")
    keys = [Ours.key, *[key for key in args.servers if key != Ours.key]]
    if Ours.key not in args.servers:
        keys.remove(Ours.key)
    kinds = [SERVER_KINDS[key]() for key in keys]
    content, files = corpus_text(int(args.size_mb * MIB))
    command = "python -m benchmarks.files " + shlex.join(sys.argv[1:] if argv is None else argv)
    workdir = WORK_DIR / time.strftime("files-%Y%m%d-%H%M%S")

    async def go() -> tuple[list[ServerInfo], list[Measurement]]:
        infos = [
            dataclasses.replace(info, storage=STORAGE.get(info.key, info.storage))
            for info in await install(kinds)
        ]
        unavailable = {info.key: info.unavailable for info in infos if info.unavailable}
        measurements = []
        for kind in kinds:
            if kind.key in unavailable:
                measurements.append(Measurement("files", kind.key, error=unavailable[kind.key]))
                continue
            stderr_log(f"[files] {kind.key} ...")
            measurements.append(
                await measure(kind, content, args.repeat, workdir, stderr_log, args.timeout)
            )
        return infos, measurements

    infos, measurements = asyncio.run(go())
    size = len(content.encode())
    print(render(infos, measurements, command.strip(), size, files, args.repeat))
    args.json.parent.mkdir(parents=True, exist_ok=True)
    args.json.write_text(
        json.dumps(
            {
                "command": command.strip(),
                "file_bytes": size,
                "servers": [dataclasses.asdict(info) for info in infos],
                "measurements": [dataclasses.asdict(m) for m in measurements],
                "medians": {
                    m.server: {
                        metric.key: statistics.median(_values(m, metric.key))
                        for metric in METRICS
                        if _values(m, metric.key)
                    }
                    for m in measurements
                },
            },
            indent=1,
        )
    )
    stderr_log(f"raw repetitions written to {args.json}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
