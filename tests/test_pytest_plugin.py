"""The fixtures we ship to users (``jupyter_ysync.pytest_plugin``), used as a user would.

The rest of the suite uses ``ysync_server_config``, ``ysync_app`` and ``ysync_ws_url`` too
(``tests/conftest.py``); these tests cover what only users' tests would otherwise exercise.
"""

from __future__ import annotations

import asyncio
from pathlib import Path

import pytest

from jupyter_ysync import AuthenticationFailed, ConnectionStatus
from tests.documents import text_of
from tests.raw_peer import RawPeer
from tests.waiting import eventually


async def test_ysync_connect_gives_a_synced_python_peer_of_the_in_process_server(
    ysync_connect, ysync_ws_url
):
    doc = await ysync_connect("notes", presence={"name": "Bot", "color": "#e67e22"})
    assert doc.status is ConnectionStatus.SYNCED
    doc.text.insert(0, "hello", {"bold": True})

    browser = await RawPeer(ysync_ws_url("notes")).connect()
    await browser.wait_for(lambda: str(browser.text) == "hello")
    browser.text.insert(5, " world", {"bold": None})
    await eventually(lambda: str(doc.text) == "hello world", what="the edit back in Python")
    assert doc.text.delta == [
        {"insert": "hello", "attributes": {"bold": True}},
        {"insert": " world\n"},
    ]
    await browser.close()


async def test_ysync_connect_peers_of_one_room_converge_and_leave_when_closed(
    ysync_connect, ysync_app
):
    one, two = await ysync_connect("plan"), await ysync_connect("plan")
    one.text.insert(0, "from one ")
    two.text.insert(0, "from two ")
    await eventually(lambda: str(one.text) == str(two.text) and len(str(one.text)) == 18)
    assert len(ysync_app.manager.rooms["plan"].peers) == 2

    await asyncio.to_thread(one.close)  # as the fixture's docstring says, off the loop
    await eventually(lambda: len(ysync_app.manager.rooms["plan"].peers) == 1, what="one left")


async def test_ysync_connect_with_a_wrong_token_is_refused(ysync_connect):
    with pytest.raises(AuthenticationFailed):
        await ysync_connect("notes", token="not-the-token")


async def test_ysync_server_config_keeps_the_rooms_in_ysync_store_path(
    ysync_connect, ysync_app, ysync_store_path: Path, tmp_path: Path
):
    assert ysync_store_path.is_relative_to(tmp_path)
    assert ysync_app.store_path == str(ysync_store_path)
    doc = await ysync_connect("stored")
    doc.text.insert(0, "kept")
    room = await eventually(lambda: ysync_app.manager.rooms.get("stored"))
    await eventually(lambda: text_of(room.doc) == "kept", what="the edit in the server's replica")
    await room.flushed()
    stored = await ysync_app.store.room("stored")
    assert stored is not None and stored.updates >= 1
