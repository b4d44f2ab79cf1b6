"""The peers of the interop tests: the node Yjs peer, Python peers, and comparable deltas.

- :class:`JsPeer` runs ``tests/node/peer.mjs`` (yjs + y-websocket's ``WebsocketProvider``) and
  talks to it in JSON lines.
- :func:`join` adds a Python peer; :func:`random_edit` makes one seeded random edit through its
  rich-text API.
- :func:`normalize_delta` and :func:`pycrdt_delta` turn Yjs ``toDelta()`` output and pycrdt
  ``Text.diff()`` output into one canonical form, so replicas compare with ``==``.
"""

from __future__ import annotations

import contextlib
import itertools
import json
import os
import queue
import random
import shutil
import signal
import subprocess
import threading
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest
from pycrdt import Text

from jupyter_ysync import SharedDocument, connect
from tests.servers import ServerProcess, room_info
from tests.waiting import wait_until

NODE_DIR = Path(__file__).parent.parent / "node"
PEER_SCRIPT = NODE_DIR / "peer.mjs"
IMAGE = {"image": "https://example.org/x.png"}
WORDS = ["alpha", "beta", "kernel", "notebook", "room", "peer", "merge", "é", "naïve", "中文", "λ"]

# -- node ------------------------------------------------------------------------------------


def install_node_peer() -> Path:
    """Install the node peer's packages (``npm ci``) unless they are there already."""
    node, npm = shutil.which("node"), shutil.which("npm")
    if node is None or npm is None:
        pytest.fail("node and npm are needed for the JavaScript interop tests: install Node.js 18+")
    marker = NODE_DIR / "node_modules" / ".package-lock.json"
    lock = NODE_DIR / "package-lock.json"
    if lock.exists():
        fresh = marker.exists() and marker.stat().st_mtime >= lock.stat().st_mtime
        command = [npm, "ci", "--no-audit", "--no-fund"]
    else:
        fresh = marker.exists()
        command = [npm, "install", "--no-audit", "--no-fund"]
    if not fresh:
        result = subprocess.run(
            command, cwd=NODE_DIR, capture_output=True, text=True, timeout=300, check=False
        )
        if result.returncode != 0:
            pytest.fail(f"{' '.join(command)} failed in {NODE_DIR}:\n{result.stderr[-3000:]}")
    return NODE_DIR


class JsPeer:
    """A Yjs peer in a node process, joined to one room.

    Example::

        peer = JsPeer(server.ws_url + "ysync/rooms", "notes", token, seed=1, ops=30, hold=True)
        peer.wait_ready()
        pending = peer.send("edit")
        peer.reply(pending, timeout=20)     # the edits are made
        peer.state()                        # {"text": ..., "delta": [...]}
        final = peer.stop()
    """

    def __init__(
        self,
        server: str,
        room: str,
        token: str,
        *,
        name: str = "js",
        seed: int = 1,
        ops: int = 0,
        max_delay: int = 20,
        hold: bool = True,
        timeout: float = 60.0,
    ) -> None:
        self.name = name
        command = [
            shutil.which("node") or "node",
            str(PEER_SCRIPT),
            "--server",
            server,
            "--room",
            room,
            "--token",
            token,
            "--name",
            name,
            "--seed",
            str(seed),
            "--ops",
            str(ops),
            "--max-delay",
            str(max_delay),
            "--timeout",
            str(timeout),
        ]
        if hold:
            command.append("--hold")
        self.proc = subprocess.Popen(
            command,
            cwd=NODE_DIR,
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
            bufsize=1,
        )
        self.client_id: int | None = None
        self._events: queue.Queue[dict[str, Any]] = queue.Queue()
        self._replies: dict[int, dict[str, Any]] = {}
        self._backlog: list[dict[str, Any]] = []
        self._ids = itertools.count(1)
        self._stderr: list[str] = []
        self._readers = [
            threading.Thread(target=self._read_stdout, daemon=True),
            threading.Thread(target=self._read_stderr, daemon=True),
        ]
        for reader in self._readers:
            reader.start()

    def _read_stdout(self) -> None:
        assert self.proc.stdout is not None
        for line in self.proc.stdout:
            with contextlib.suppress(ValueError):
                self._events.put(json.loads(line))
        self._events.put({"event": "exit"})

    def _read_stderr(self) -> None:
        assert self.proc.stderr is not None
        for line in self.proc.stderr:
            self._stderr.append(line)

    def _describe(self) -> str:
        return f"JS peer {self.name} (exit {self.proc.poll()}): {''.join(self._stderr)[-2000:]}"

    def _next(self, match: Callable[[dict[str, Any]], bool], timeout: float) -> dict[str, Any]:
        for message in self._backlog:
            if match(message):
                self._backlog.remove(message)
                return message
        deadline = time.monotonic() + timeout
        while True:
            remaining = deadline - time.monotonic()
            if remaining <= 0:
                raise AssertionError(f"no answer within {timeout} s from {self._describe()}")
            try:
                message = self._events.get(timeout=remaining)
            except queue.Empty:
                continue
            if match(message):
                return message
            if message.get("event") == "exit":
                self._events.put(message)  # every later wait fails at once too
                raise AssertionError(f"{self._describe()} exited; waiting for an answer")
            if message.get("event") == "error":
                raise AssertionError(f"{self._describe()}: {message['message']}")
            self._backlog.append(message)

    def wait_ready(self, timeout: float = 15.0) -> int:
        """Wait for the first sync; return the peer's Yjs client id."""
        ready = self._next(lambda m: m.get("event") == "ready", timeout)
        self.client_id = int(ready["clientID"])
        return self.client_id

    def send(self, cmd: str, **fields: Any) -> int:
        """Send a command; return its id, to wait for the answer with :meth:`reply`."""
        assert self.proc.stdin is not None
        ident = next(self._ids)
        self.proc.stdin.write(json.dumps({"id": ident, "cmd": cmd, **fields}) + "\n")
        self.proc.stdin.flush()
        return ident

    def reply(self, ident: int, timeout: float = 10.0) -> dict[str, Any]:
        return self._next(lambda m: m.get("id") == ident, timeout)

    def request(self, cmd: str, timeout: float = 10.0, **fields: Any) -> dict[str, Any]:
        return self.reply(self.send(cmd, **fields), timeout)

    def state(self) -> dict[str, Any]:
        """The peer's text and (normalised) delta, now."""
        state = self.request("state")
        return {"text": state["text"], "delta": normalize_delta(state["delta"])}

    def peers(self) -> dict[int, dict[str, Any]]:
        """The awareness states this peer sees, by client id."""
        return {int(cid): s for cid, s in self.request("peers")["peers"].items()}

    def stop(self, timeout: float = 10.0) -> dict[str, Any]:
        """Leave the room cleanly (awareness goodbye); return the final state."""
        final = self.request("stop", timeout)
        self.proc.wait(timeout)
        self._release()
        return final

    def kill(self) -> None:
        """``kill -9``: no goodbye, the socket just drops."""
        if self.proc.poll() is None:
            self.proc.send_signal(signal.SIGKILL)
        self.proc.wait(10)
        self._release()

    def close(self) -> None:
        if self.proc.poll() is None:
            with contextlib.suppress(OSError):
                assert self.proc.stdin is not None
                self.proc.stdin.close()
            try:
                self.proc.wait(5)
            except subprocess.TimeoutExpired:
                self.kill()
        self._release()

    def _release(self) -> None:
        """Close the pipes once the process has ended and its output was read."""
        for reader in self._readers:
            reader.join(5)
        for stream in (self.proc.stdin, self.proc.stdout, self.proc.stderr):
            if stream is not None:
                with contextlib.suppress(OSError):
                    stream.close()


@contextlib.contextmanager
def js_peers(*peers: JsPeer) -> Iterator[tuple[JsPeer, ...]]:
    """Close every peer's process however the test ends."""
    try:
        yield peers
    finally:
        for peer in peers:
            peer.close()


# -- the server --------------------------------------------------------------------------------


@contextlib.contextmanager
def unloading_server(root: Path) -> Iterator[ServerProcess]:
    """A jupyter server process whose rooms unload 0.5 s after their last peer leaves, so a
    test can make the next joiner load the room from the store."""
    server = ServerProcess(root, extra=["--YSyncApp.idle_unload_delay=0.5"]).start()
    try:
        yield server
    finally:
        server.stop()


def join(
    server: ServerProcess, room: str, docs: list[SharedDocument], **options: Any
) -> SharedDocument:
    """A Python peer (``jupyter_ysync.connect``) of the room, synced; added to ``docs``."""
    doc = connect(room, url=server.http_url, token=server.token, timeout=10, **options)
    docs.append(doc)
    return doc


def wait_unloaded(server: ServerProcess, room: str) -> None:
    """Wait until the server has unloaded the room (its last peer left)."""
    wait_until(
        lambda: (room_info(server, room) or {}).get("loaded") is False,
        what=f"room {room!r} unloaded",
    )


# -- deltas ----------------------------------------------------------------------------------


def normalize_delta(ops: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """Canonical Quill insert ops: no empty or null attributes, adjacent equal strings merged."""
    result: list[dict[str, Any]] = []
    for op in ops:
        insert = op["insert"]
        attributes = {k: v for k, v in (op.get("attributes") or {}).items() if v is not None}
        if isinstance(insert, str):
            if not insert:
                continue
            last = result[-1] if result else None
            if (
                last is not None
                and isinstance(last["insert"], str)
                and last.get("attributes", {}) == attributes
            ):
                last["insert"] += insert
                continue
        new: dict[str, Any] = {"insert": insert}
        if attributes:
            new["attributes"] = attributes
        result.append(new)
    return result


def pycrdt_delta(text: Text) -> list[dict[str, Any]]:
    """A pycrdt ``Text`` as normalised Quill ops (what Yjs ``toDelta()`` gives)."""
    return normalize_delta([{"insert": value, "attributes": attrs} for value, attrs in text.diff()])


def python_state(doc: SharedDocument) -> dict[str, Any]:
    """A Python peer's text and delta, read from its pycrdt document (fresh on access)."""
    text = doc.ydoc.get("content", type=Text)
    return {"text": str(text), "delta": pycrdt_delta(text)}


# -- random edits ----------------------------------------------------------------------------


def random_edit(doc: SharedDocument, rng: random.Random) -> None:
    """One random edit of the room's text through ``doc.text``, the same mix as the JS peer's."""
    text = doc.text
    length = len(text)
    at = rng.randint(0, length)
    roll = rng.random()
    if roll < 0.40 or length < 8:
        word = rng.choice(WORDS) + rng.choice([" ", " ", " ", "\n"])
        attrs = rng.choice([{"bold": True}, {"italic": True}]) if rng.random() < 0.25 else None
        text.insert(at, word, attrs)
    elif roll < 0.60:
        start = rng.randrange(length)
        text.delete(start, min(rng.randint(1, 5), length - start))
    elif roll < 0.85:
        start = rng.randrange(length)
        count = min(rng.randint(1, 8), length - start)
        change: dict[str, Any] = rng.choice(
            [{"bold": True}, {"italic": True}, {"bold": None}, {"italic": None}]
        )
        text.format(start, count, change)
    else:
        text.insert_embed(at, dict(IMAGE))


def seed_from_env(default: int) -> int:
    """``YSYNC_INTEROP_SEED`` replays a failing run; the seed is in every assertion message."""
    return int(os.environ.get("YSYNC_INTEROP_SEED", default))
