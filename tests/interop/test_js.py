"""Interop with JavaScript: Yjs peers (y-websocket's WebsocketProvider in node) and Python peers.

Guarantee 1 of DESIGN.md, for Yjs: peers editing one room concurrently end with identical
content, formatting and embeds included; and awareness crosses between the two worlds.
Set ``YSYNC_INTEROP_SEED`` to replay a run.
"""

from __future__ import annotations

import json
import random
import time
from collections.abc import Callable
from functools import partial
from pathlib import Path
from typing import Any

import pytest

from jupyter_ysync import SharedDocument
from tests.interop.peers import (
    JsPeer,
    join,
    js_peers,
    python_state,
    random_edit,
    seed_from_env,
    wait_unloaded,
)
from tests.servers import ServerProcess
from tests.waiting import wait_until

pytestmark = [pytest.mark.interop, pytest.mark.slow]


def _js(server: ServerProcess, room: str, **options: Any) -> JsPeer:
    return JsPeer(f"{server.ws_url}ysync/rooms", room, server.token, **options)


def test_js_and_python_peers_editing_concurrently_converge(
    ysync_node_peer: Path, ysync_server: ServerProcess, ysync_python_peers: list[SharedDocument]
) -> None:
    """Guarantee 1: 2 Yjs and 2 Python peers edit at random at once (inserts with and without
    attributes, deletions, bold/italic on and off, image embeds), then every replica, a late
    joiner, and JS and Python joiners of the room reloaded from the store hold the same text and
    delta."""
    seed = seed_from_env(20240611)
    room = f"interop-js-{seed}"
    rng = random.Random(seed)
    with js_peers(
        _js(ysync_server, room, name="js-1", seed=seed + 1, ops=120, max_delay=15),
        _js(ysync_server, room, name="js-2", seed=seed + 2, ops=120, max_delay=15),
    ) as js:
        py = [join(ysync_server, room, ysync_python_peers) for _ in range(2)]
        for peer in js:
            peer.wait_ready()

        started = [peer.send("edit") for peer in js]
        for _ in range(120):  # the Python peers edit while the JS peers do
            for doc in py:
                random_edit(doc, rng)
            time.sleep(rng.uniform(0, 0.015))  # pacing, not synchronisation
        for peer, ident in zip(js, started, strict=True):
            peer.reply(ident, timeout=20)

        final = _converged(
            [lambda doc=doc: python_state(doc) for doc in py] + [peer.state for peer in js], seed
        )
        # The Quill view (line formats on newlines, final newline) agrees too.
        views = [doc.text.delta for doc in py]
        assert all(view == views[0] for view in views), f"RichText.delta (seed {seed})"

        # What the edits produced: text, formatting and embeds, so equality is not vacuous.
        ops = final["delta"]
        assert any(isinstance(op["insert"], dict) for op in ops), ops
        assert any(op.get("attributes", {}).get("bold") for op in ops), ops
        assert any(op.get("attributes", {}).get("italic") for op in ops), ops
        assert final["text"].strip()

        finals = [peer.stop() for peer in js]
        for peer_final in finals:
            assert peer_final["text"] == final["text"]

    late = join(ysync_server, room, ysync_python_peers)
    assert python_state(late) == final, f"late joiner (seed {seed})"
    for doc in ysync_python_peers:
        doc.close()
    ysync_python_peers.clear()

    # Everyone gone, the room unloads; the next joiner gets what the store holds.
    wait_unloaded(ysync_server, room)
    with js_peers(_js(ysync_server, room, name="js-late")) as (js_late,):
        js_late.wait_ready()
        assert js_late.state() == final, f"JS joiner of the reloaded room (seed {seed})"
    reloaded = join(ysync_server, room, ysync_python_peers)
    assert python_state(reloaded) == final, f"Python joiner of the reloaded room (seed {seed})"


def _converged(readers: list[Callable[[], dict[str, Any]]], seed: int) -> dict[str, Any]:
    """Wait until every replica reads the same; fail showing how they differ."""
    states: list[dict[str, Any]] = []

    def equal() -> bool:
        states[:] = [read() for read in readers]
        return all(state == states[0] for state in states)

    try:
        wait_until(equal, timeout=15)
    except AssertionError:
        report = "\n".join(f"replica {i}: {json.dumps(state)}" for i, state in enumerate(states))
        raise AssertionError(f"replicas still differ after 15 s (seed {seed}):\n{report}") from None
    return states[0]


def _user_of(peers: dict[int, dict[str, Any]], client_id: int) -> dict[str, Any] | None:
    return (peers.get(client_id) or {}).get("user")


def test_awareness_crosses_between_js_and_python_and_is_cleared_on_disconnect(
    ysync_node_peer: Path, ysync_server: ServerProcess, ysync_python_peers: list[SharedDocument]
) -> None:
    """JS awareness (``user``) shows in ``doc.peers``; ``doc.presence`` shows in the JS peer's
    awareness; a JS peer that leaves, cleanly or killed, disappears from ``doc.peers``."""
    room = "interop-awareness"
    with js_peers(
        _js(ysync_server, room, name="js-leaves"),
        _js(ysync_server, room, name="js-killed"),
    ) as (leaves, killed):
        doc = join(ysync_server, room, ysync_python_peers, presence={"name": "Analysis kernel"})
        leaves_id, killed_id = leaves.wait_ready(), killed.wait_ready()

        wait_until(
            lambda: (
                (_user_of(doc.peers, leaves_id) or {}).get("name") == "js-leaves"
                and (_user_of(doc.peers, killed_id) or {}).get("name") == "js-killed"
            ),
            what="both JS users in doc.peers",
        )
        wait_until(
            lambda: _user_of(leaves.peers(), doc.client_id) == {"name": "Analysis kernel"},
            what="the Python presence in the JS awareness",
        )

        leaves.request("presence", user={"name": "Renamed in JS", "color": "#123456"})
        wait_until(
            lambda: _user_of(doc.peers, leaves_id) == {"name": "Renamed in JS", "color": "#123456"},
            what="the JS presence change in doc.peers",
        )
        renamed = {"name": "Renamed kernel", "color": "#e67e22"}
        doc.presence = renamed
        for peer in (leaves, killed):
            wait_until(
                partial(lambda peer: _user_of(peer.peers(), doc.client_id) == renamed, peer),
                what=f"the Python presence change in {peer.name}",
            )

        leaves.stop()
        wait_until(lambda: leaves_id not in doc.peers, what="the JS peer that left gone")
        assert killed_id in doc.peers

        killed.kill()  # no goodbye: the server must clear its state when the socket drops
        wait_until(lambda: killed_id not in doc.peers, what="the killed JS peer gone")
        assert doc.client_id in doc.peers
