"""The room protocol over real websockets against a real jupyter_server."""

from __future__ import annotations

import asyncio

from tests.raw_peer import RawPeer


async def test_two_peers_converge_and_updates_are_not_echoed(ysync_ws_url):
    a = await RawPeer(ysync_ws_url("converge")).connect()
    b = await RawPeer(ysync_ws_url("converge")).connect()
    await asyncio.wait_for(asyncio.gather(a.synced.wait(), b.synced.wait()), 10)
    a.text += "hello"
    await b.wait_for(lambda: str(b.text) == "hello")
    b.text.insert(0, ">> ")
    await a.wait_for(lambda: str(a.text) == ">> hello")
    await a.close()
    await b.close()
