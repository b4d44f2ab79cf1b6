"""A jupyter_server with the extension running as a real process, to kill and restart."""

from __future__ import annotations

import contextlib
import json
import os
import signal
import socket
import subprocess
import sys
import time
import urllib.error
import urllib.request
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

TOKEN = "ysync-process-token"


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


class ServerProcess:
    """``jupyter server`` with jupyter_ysync, on a loopback port, in its own process."""

    def __init__(
        self,
        root: Path,
        *,
        store_path: Path | None = None,
        notebook_dir: Path | None = None,
        extra: tuple[str, ...] = (),
    ) -> None:
        self.root = root
        self.notebook_dir = notebook_dir or root / "notebooks"
        self.port = free_port()
        self.token = TOKEN
        self.store_path = store_path or root / "store" / "rooms.sqlite"
        self.extra = list(extra)
        self.proc: subprocess.Popen[bytes] | None = None
        self.log_path = root / "server.log"
        self.notebook_dir.mkdir(parents=True, exist_ok=True)
        (root / "data").mkdir(parents=True, exist_ok=True)

    @property
    def http_url(self) -> str:
        return f"http://127.0.0.1:{self.port}/"

    @property
    def ws_url(self) -> str:
        return f"ws://127.0.0.1:{self.port}/"

    def room_url(self, room: str) -> str:
        return f"ws://127.0.0.1:{self.port}/ysync/rooms/{room}?token={self.token}"

    def start(self, timeout: float = 60.0) -> ServerProcess:
        env = dict(
            os.environ,
            JUPYTER_RUNTIME_DIR=str(self.root / "runtime"),
            JUPYTER_DATA_DIR=str(self.root / "data"),
        )
        env.pop("JUPYTER_YSYNC_URL", None)
        env.pop("JUPYTER_YSYNC_TOKEN", None)
        cmd = [
            sys.executable,
            "-m",
            "jupyter_server",
            "--ServerApp.ip=127.0.0.1",
            f"--ServerApp.port={self.port}",
            "--ServerApp.port_retries=0",
            "--ServerApp.open_browser=False",
            "--allow-root",
            f"--IdentityProvider.token={self.token}",
            f"--ServerApp.root_dir={self.notebook_dir}",
            # Only what the tests need: the server starts in half the time.
            "--ServerApp.jpserver_extensions={'jupyter_ysync': True, 'jupyter_server_fileid': True,"
            " 'jupyterlab': False,"
            " 'jupyter_lsp': False, 'jupyter_server_terminals': False, 'notebook_shim': False}",
            f"--YSyncApp.store_path={self.store_path}",
            *self.extra,
        ]
        with open(self.log_path, "ab") as log:  # the child keeps its own descriptor
            self.proc = subprocess.Popen(cmd, stdout=log, stderr=subprocess.STDOUT, env=env)
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.proc.poll() is not None:
                raise RuntimeError(f"server exited: {self.log_path.read_text()[-3000:]}")
            try:
                status = f"{self.http_url}api/status?token={self.token}"
                with urllib.request.urlopen(status, timeout=1):
                    return self
            except OSError:
                time.sleep(0.1)
        raise TimeoutError(f"server did not start: {self.log_path.read_text()[-3000:]}")

    def kill(self) -> None:
        """``kill -9``: no shutdown hook runs."""
        if self.proc is not None:
            self.proc.send_signal(signal.SIGKILL)
            self.proc.wait()
            self.proc = None

    def stop(self) -> None:
        if self.proc is not None:
            self.proc.send_signal(signal.SIGTERM)
            try:
                self.proc.wait(10)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()
            self.proc = None


def room_info(server: ServerProcess, room: str) -> dict[str, Any] | None:
    """``GET ysync/rooms/{room}`` (name, loaded, peers, size, updates...), or None when the
    server knows no such room."""
    request = urllib.request.Request(
        f"{server.http_url}ysync/rooms/{room}",
        headers={"Authorization": f"token {server.token}"},
    )
    try:
        with urllib.request.urlopen(request, timeout=10) as response:
            return dict(json.load(response))
    except urllib.error.HTTPError as error:
        with error:  # its response, closed
            if error.code == 404:
                return None
        raise


REDIS_MODE_ENV = "YSYNC_TEST_REDIS"
"""Set to 1 to run every ``ysync_process`` test in Redis mode (a redis-server of its own)."""


@pytest.fixture
def ysync_process(tmp_path: Path) -> Iterator[ServerProcess]:
    """A started server process; the test may kill and restart it.

    With ``YSYNC_TEST_REDIS=1`` it shares its rooms through a redis-server of its own, so the
    guarantee scenarios also run in Redis mode.
    """
    with contextlib.ExitStack() as stack:
        extra: tuple[str, ...] = ()
        if os.environ.get(REDIS_MODE_ENV) == "1":
            from tests.redis_server import running_redis

            redis = stack.enter_context(running_redis(tmp_path / "redis"))
            extra = (f"--YSyncApp.redis_url={redis.url}",)
        server = ServerProcess(tmp_path, extra=extra)
        server.start()
        stack.callback(server.stop)
        yield server
