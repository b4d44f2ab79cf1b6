"""File rooms follow the file's contents permissions: who may not read a file may not open its
room; who may not write it gets a read-only room."""

from __future__ import annotations

import asyncio
import json
from pathlib import Path
from typing import Any

import pytest
from tornado.httpclient import HTTPClientError
from traitlets.config import Config

from jupyter_ysync.protocol import CloseCode
from tests.raw_peer import RawPeer

WRITER = {"Authorization": "token writer-token"}
VIEWER = {"Authorization": "token viewer-token"}
NOFILES = {"Authorization": "token nofiles-token"}


@pytest.fixture
def jp_server_config(jp_server_config: Config) -> Config:
    jp_server_config.ServerApp.identity_provider_class = (
        "tests.auth_providers.TokenUsersIdentityProvider"
    )
    jp_server_config.ServerApp.authorizer_class = "tests.auth_providers.ReaderAuthorizer"
    return jp_server_config


async def open_plan(jp_fetch: Any, jp_root_dir: Path) -> str:
    (jp_root_dir / "plan.md").write_text("# Plan\n")
    response = await jp_fetch("ysync", "files", "plan.md", headers=WRITER)
    return str(json.loads(response.body)["room"])


async def test_who_may_not_read_the_file_may_not_open_its_room(jp_fetch, jp_root_dir, ysync_ws_url):
    room = await open_plan(jp_fetch, jp_root_dir)
    with pytest.raises(HTTPClientError) as caught:
        await jp_fetch("ysync", "files", "plan.md", headers=NOFILES)
    assert caught.value.code == 403
    peer = RawPeer(ysync_ws_url(room, token=None), headers=NOFILES)
    with pytest.raises(Exception, match="403"):
        await peer.connect()
    with pytest.raises(HTTPClientError) as caught:
        await jp_fetch("ysync", "rooms", room, "content", headers=NOFILES)
    assert caught.value.code == 403


async def test_who_may_only_read_the_file_gets_a_read_only_room(
    jp_fetch, ysync_ws_url, jp_root_dir
):
    room = await open_plan(jp_fetch, jp_root_dir)
    viewer = await RawPeer(ysync_ws_url(room, token=None), headers=VIEWER).connect()
    await asyncio.wait_for(viewer.synced.wait(), 10)
    assert str(viewer.text) == "Plan\n"
    viewer.text.insert(0, "Sneaky ")  # sent, and dropped by the server
    await asyncio.sleep(0.5)
    assert (jp_root_dir / "plan.md").read_text() == "# Plan\n"
    for action in ("save", "revert"):
        with pytest.raises(HTTPClientError) as caught:
            await jp_fetch("ysync", "rooms", room, action, method="POST", body=b"", headers=VIEWER)
        assert caught.value.code == 403
    with pytest.raises(HTTPClientError) as caught:
        await jp_fetch("ysync", "rooms", room, "content", method="PUT", body=b"x", headers=VIEWER)
    assert caught.value.code == 403
    assert viewer.close_code in (None, CloseCode.NORMAL)
