"""A real ``redis-server`` on a free loopback port, as the test's own process: to stop,
kill, pause and restart on the same port and data directory."""

from __future__ import annotations

import contextlib
import shutil
import signal
import socket
import subprocess
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.servers import free_port


class RedisProcess:
    """``redis-server`` with its append-only file on, fsynced at every write.

    ``appendfsync always``: an entry Redis acknowledged is on disk, so Redis alone keeps every
    update a peer saw through a crash of Redis itself (``kill -9``), even when the server that
    made it dies too. ``everysec`` would lose up to a second on such a double failure (servers
    still alive repair it when they reconcile), for fewer fsyncs under load.

    Example::

        redis = RedisProcess(tmp_path / "redis").start()
        redis.url            # redis://127.0.0.1:<port>/0
        redis.kill(); redis.start()    # same port, same data
    """

    def __init__(self, root: Path, *, appendfsync: str = "always") -> None:
        self.root = root
        self.port = free_port()
        self.appendfsync = appendfsync
        self.proc: subprocess.Popen[bytes] | None = None
        self.log_path = root / "redis.log"
        root.mkdir(parents=True, exist_ok=True)

    @property
    def url(self) -> str:
        return f"redis://127.0.0.1:{self.port}/0"

    def start(self, timeout: float = 15.0) -> RedisProcess:
        binary = shutil.which("redis-server")
        if binary is None:
            pytest.fail("redis-server is needed for the Redis tests: apt-get install redis-server")
        command = [
            binary,
            "--port",
            str(self.port),
            "--bind",
            "127.0.0.1",
            "--dir",
            str(self.root),
            "--appendonly",
            "yes",
            "--appendfsync",
            self.appendfsync,
            "--save",
            "",
            "--daemonize",
            "no",
            "--protected-mode",
            "yes",
        ]
        with open(self.log_path, "ab") as log:
            self.proc = subprocess.Popen(command, stdout=log, stderr=subprocess.STDOUT)
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.proc.poll() is not None:
                raise RuntimeError(f"redis-server exited: {self.log_path.read_text()[-3000:]}")
            if self.ping():
                return self
            time.sleep(0.02)
        raise TimeoutError(f"redis-server did not start: {self.log_path.read_text()[-3000:]}")

    def ping(self) -> bool:
        """Whether it answers ``PING`` (and has loaded its data: it answers LOADING before)."""
        try:
            with socket.create_connection(("127.0.0.1", self.port), timeout=0.5) as sock:
                sock.sendall(b"PING\r\n")
                return sock.recv(64).startswith(b"+PONG")
        except OSError:
            return False

    def kill(self) -> None:
        """``kill -9``: what was not fsynced is lost."""
        if self.proc is not None:
            self.proc.send_signal(signal.SIGKILL)
            self.proc.wait()
            self.proc = None

    def pause(self) -> None:
        """``SIGSTOP``: connections stay open and nothing answers, as in a network partition."""
        assert self.proc is not None
        self.proc.send_signal(signal.SIGSTOP)

    def resume(self) -> None:
        assert self.proc is not None
        self.proc.send_signal(signal.SIGCONT)

    def stop(self) -> None:
        if self.proc is not None:
            self.proc.send_signal(signal.SIGCONT)  # a paused server cannot shut down
            self.proc.send_signal(signal.SIGTERM)
            try:
                self.proc.wait(10)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()
            self.proc = None


@pytest.fixture
def ysync_redis(tmp_path: Path) -> Iterator[RedisProcess]:
    """A started redis-server in ``tmp_path``; the test may kill, pause and restart it."""
    redis = RedisProcess(tmp_path / "redis").start()
    yield redis
    redis.stop()


@contextlib.contextmanager
def running_redis(root: Path, *, appendfsync: str = "always") -> Iterator[RedisProcess]:
    """A started redis-server in ``root``, stopped however the block ends."""
    redis = RedisProcess(root, appendfsync=appendfsync).start()
    try:
        yield redis
    finally:
        redis.stop()
