"""The extension as a server process sees it: configuration and logging."""

from __future__ import annotations

import asyncio
from pathlib import Path

import websockets

from tests.servers import ServerProcess


async def _join_once(server: ServerProcess, room: str) -> None:
    async with websockets.connect(server.room_url(room)) as ws:
        await ws.recv()  # the server's sync step 1: the room is loaded


def test_the_extension_logs_at_the_servers_level(tmp_path: Path):
    """It logged an INFO line per loaded room even with --log-level=WARN."""
    server = ServerProcess(tmp_path, extra=("--log-level=WARN",)).start()
    try:
        asyncio.run(_join_once(server, "quiet"))
    finally:
        server.stop()
    log = server.log_path.read_text()
    assert "Loaded room quiet" not in log
    # (jupyter_server_fileid logs at INFO whatever the level: only our own lines are checked)
    ours = [line for line in log.splitlines() if "YSyncApp]" in line or "jupyter_ysync" in line]
    assert not [line for line in ours if line.startswith("[I ")]


def test_the_extension_log_level_can_still_be_set_on_its_own(tmp_path: Path):
    server = ServerProcess(
        tmp_path, extra=("--log-level=WARN", "--YSyncApp.log_level=DEBUG")
    ).start()
    try:
        asyncio.run(_join_once(server, "chatty"))
    finally:
        server.stop()
    assert "Loaded room chatty" in server.log_path.read_text()
