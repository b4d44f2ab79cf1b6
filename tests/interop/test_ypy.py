"""Interop with y-py: the earlier demo's client (y-py + ypy-websocket) and Python peers.

Guarantee 1 of DESIGN.md, for y-py: a ``y_py.YDoc`` synced by ypy-websocket's
``WebsocketProvider`` and ``jupyter_ysync.connect`` peers edit one room concurrently and end with
identical content, formatting and embeds included. y-py reads nothing but text and JSON from a
``YText``, so its replica is compared through its full state, loaded into pycrdt.
Set ``YSYNC_INTEROP_SEED`` to replay a run.
"""

from __future__ import annotations

import asyncio
import gc
import random
import sys
from collections.abc import Awaitable, Callable
from typing import Any

import pycrdt
import pytest
import websockets

from jupyter_ysync import SharedDocument
from tests.interop.peers import (
    IMAGE,
    WORDS,
    join,
    pycrdt_delta,
    python_state,
    random_edit,
    seed_from_env,
    wait_unloaded,
)
from tests.servers import ServerProcess
from tests.waiting import eventually

try:
    import y_py as Y
    from ypy_websocket.websocket_provider import WebsocketProvider
except ImportError as error:  # y-py stopped at Python 3.12: no wheel, no build without Rust
    pytest.skip(
        f"y-py has no wheel for this Python: {sys.version.split()[0]} ({error})",
        allow_module_level=True,
    )

pytestmark = [pytest.mark.interop, pytest.mark.slow]


class YpyWebsocket:
    """A websockets (>= 14) client connection as ypy-websocket 0.12's ``Websocket`` protocol.

    ypy-websocket reads ``websocket.path`` for its log lines (the new websockets connections
    have ``request.path`` instead) and expects iteration to end quietly when the socket closes.
    """

    def __init__(self, connection: Any) -> None:
        self._connection = connection

    @property
    def path(self) -> str:
        return str(self._connection.request.path)

    def __aiter__(self) -> YpyWebsocket:
        return self

    async def __anext__(self) -> bytes:
        try:
            return await self.recv()
        except websockets.ConnectionClosed:
            raise StopAsyncIteration from None

    async def send(self, message: bytes) -> None:
        await self._connection.send(message)

    async def recv(self) -> bytes:
        message = await self._connection.recv()
        return message if isinstance(message, bytes) else message.encode()


class YpyPeer:
    """A y-py replica of a room, synced by ypy-websocket's provider, in the running loop.

    y-py counts text positions in UTF-8 bytes by default; ``offset_kind="utf16"`` makes them
    the same as Yjs (and the other peers here), so edits land where the peer means them.
    """

    def __init__(self, ydoc: Any) -> None:
        self.ydoc = ydoc
        self.text = ydoc.get_text("content")

    def state(self) -> dict[str, Any]:
        """Text and delta, from y-py's whole state loaded into pycrdt (y-py has no delta)."""
        replica: pycrdt.Doc[Any] = pycrdt.Doc()
        replica.apply_update(Y.encode_state_as_update(self.ydoc))
        delta = pycrdt_delta(replica.get("content", type=pycrdt.Text))
        return {"text": str(self.text), "delta": delta}

    def random_edit(self, rng: random.Random) -> None:
        """One random edit, the same mix as the other peers', through y-py's own API."""
        text = self.text
        with self.ydoc.begin_transaction() as txn:
            length = len(text)
            at = rng.randint(0, length)
            roll = rng.random()
            if roll < 0.40 or length < 8:
                word = rng.choice(WORDS) + rng.choice([" ", " ", " ", "\n"])
                if rng.random() < 0.25:
                    text.insert(txn, at, word, rng.choice([{"bold": True}, {"italic": True}]))
                else:
                    text.insert(txn, at, word)
            elif roll < 0.60:
                start = rng.randrange(length)
                text.delete_range(txn, start, min(rng.randint(1, 5), length - start))
            elif roll < 0.85:
                start = rng.randrange(length)
                attrs = rng.choice(
                    [{"bold": True}, {"italic": True}, {"bold": None}, {"italic": None}]
                )
                text.format(txn, start, min(rng.randint(1, 8), length - start), attrs)
            else:
                text.insert_embed(txn, at, dict(IMAGE))


def run_ypy_peer(
    server: ServerProcess, room: str, body: Callable[[YpyPeer], Awaitable[None]]
) -> None:
    """Join the room as a y-py peer over ypy-websocket, run ``body`` in an event loop, leave."""

    async def main() -> None:
        peer = YpyPeer(Y.YDoc(offset_kind="utf16"))
        async with (
            websockets.connect(server.room_url(room), max_size=None, open_timeout=10) as ws,
            WebsocketProvider(peer.ydoc, YpyWebsocket(ws)),
        ):
            await body(peer)

    try:
        asyncio.run(main())
    finally:
        # The provider's observer keeps the YDoc in a reference cycle. A y-py YDoc must be freed
        # on the thread that made it, not wherever the garbage collector next runs.
        gc.collect()


def test_ypy_and_python_peers_editing_concurrently_converge(
    ysync_server: ServerProcess, ysync_python_peers: list[SharedDocument]
) -> None:
    """Guarantee 1: a y-py peer and 2 Python peers edit at random at once (inserts with and
    without attributes, deletions, bold/italic on and off, image embeds), then all replicas, a
    late Python joiner and a y-py joiner of the room reloaded from the store agree."""
    seed = seed_from_env(20240612)
    room = f"interop-ypy-{seed}"
    py = [join(ysync_server, room, ysync_python_peers) for _ in range(2)]
    random_edit(py[0], random.Random(seed))  # content for the y-py peer to sync
    before = python_state(py[0])
    final: dict[str, Any] = {}

    async def edit_concurrently(ypy: YpyPeer) -> None:
        await eventually(lambda: ypy.state() == before, 10, "the y-py peer synced", interval=0.02)

        async def ypy_edits() -> None:
            rng = random.Random(seed + 1)
            for _ in range(100):
                ypy.random_edit(rng)
                await asyncio.sleep(rng.uniform(0, 0.02))

        async def python_edits() -> None:
            rng = random.Random(seed + 2)
            for _ in range(100):
                for doc in py:
                    random_edit(doc, rng)
                await asyncio.sleep(rng.uniform(0, 0.02))

        await asyncio.gather(ypy_edits(), python_edits())
        states: list[dict[str, Any]] = []

        def converged() -> bool:
            states[:] = [ypy.state()] + [python_state(doc) for doc in py]
            return all(state == states[0] for state in states)

        try:
            await eventually(converged, 15, "all replicas equal", interval=0.02)
        except AssertionError:
            report = "\n".join(f"replica {i}: {state}" for i, state in enumerate(states))
            raise AssertionError(f"replicas differ after 15 s (seed {seed}):\n{report}") from None
        final.update(states[0])

    run_ypy_peer(ysync_server, room, edit_concurrently)

    ops = final["delta"]
    assert any(isinstance(op["insert"], dict) for op in ops), ops
    assert any(op.get("attributes", {}).get("bold") for op in ops), ops
    assert any(op.get("attributes", {}).get("italic") for op in ops), ops
    assert py[0].text.delta == py[1].text.delta  # the Quill view of every Python peer too

    late = join(ysync_server, room, ysync_python_peers)
    assert python_state(late) == final, f"late joiner (seed {seed})"
    for doc in ysync_python_peers:
        doc.close()
    ysync_python_peers.clear()

    wait_unloaded(ysync_server, room)

    async def check_reloaded(ypy: YpyPeer) -> None:
        await eventually(
            lambda: ypy.state() == final,
            10,
            f"y-py joiner of the reloaded room ({seed})",
            interval=0.02,
        )

    run_ypy_peer(ysync_server, room, check_reloaded)
