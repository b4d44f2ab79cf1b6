"""The servers under comparison: install, start on loopback, measure, stop.

Each server runs as a real process of its own on ``127.0.0.1``; the harness only
talks to it over websockets and reads its CPU time and memory from ``/proc``.

- ``ours``: jupyter_server with the jupyter_ysync extension, durable SQLite store ON;
- ``pycrdt-websocket``: ``ASGIServer(WebsocketServer())`` under uvicorn, rooms in memory;
- ``y-websocket``: the JavaScript reference ``y-websocket@1.5.4`` ``bin/server.js``, in memory;
- ``jupyter-collaboration``: jupyter_server with jupyter-collaboration, in a venv of its own
  (it registers its own server extension and pins pycrdt), on its ad-hoc (transient,
  in-memory) room route ``api/collaboration/room/{room}``.

Installing is idempotent and done on first use, into ``benchmarks/.peers/``.
"""

from __future__ import annotations

import asyncio
import contextlib
import importlib.metadata
import importlib.util
import os
import secrets
import shutil
import signal
import socket
import subprocess
import sys
import time
import urllib.request
from abc import ABC, abstractmethod
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import ClassVar

from .proc import CPU_RESOLUTION_S, cpu_seconds, rss_bytes

BENCH_DIR = Path(__file__).resolve().parent
REPO_DIR = BENCH_DIR.parent
PEERS_DIR = BENCH_DIR / ".peers"
WORK_DIR = BENCH_DIR / ".work"

HOST = "127.0.0.1"
PORT_RANGE = range(19000, 20000)

PYCRDT_WEBSOCKET_VERSION = "0.16.5"
Y_WEBSOCKET_VERSION = "1.5.4"
JUPYTER_COLLABORATION_VERSION = "5.0.4"


class PeerUnavailable(Exception):
    """A server cannot be installed or started here; ``str()`` says why."""


def free_port() -> int:
    """Return a loopback port of 19000-19999 that nobody listens on right now.

    Raises:
        PeerUnavailable: if the whole range is taken.
    """
    start = secrets.randbelow(len(PORT_RANGE))
    for offset in range(len(PORT_RANGE)):
        port = PORT_RANGE[(start + offset) % len(PORT_RANGE)]
        with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as probe:
            try:
                probe.bind((HOST, port))
            except OSError:
                continue
            return port
    raise PeerUnavailable("no free port in 19000-19999 on 127.0.0.1")


def _run_logged(
    argv: Sequence[str], log: Path, cwd: Path | None = None, timeout: float = 900
) -> None:
    """Run an install command, appending its output to ``log``.

    Raises:
        PeerUnavailable: with the last lines of the output if it fails.
    """
    log.parent.mkdir(parents=True, exist_ok=True)
    with log.open("a") as out:
        out.write(f"$ {' '.join(argv)}\n")
        out.flush()
        try:
            completed = subprocess.run(
                argv, cwd=cwd, stdout=out, stderr=subprocess.STDOUT, timeout=timeout, check=False
            )
        except (OSError, subprocess.TimeoutExpired) as exc:
            raise PeerUnavailable(f"{argv[0]} failed: {exc}") from exc
    if completed.returncode != 0:
        tail = " | ".join(log.read_text().strip().splitlines()[-3:])
        raise PeerUnavailable(f"`{' '.join(argv[:4])} ...` exited {completed.returncode}: {tail}")


@dataclass
class RunningServer:
    """A started server process: where to reach its rooms and how much it consumes."""

    kind: ServerKind
    process: subprocess.Popen[bytes]
    port: int
    token: str
    workdir: Path
    log_path: Path

    @property
    def pid(self) -> int:
        return self.process.pid

    def room_url(self, room: str) -> str:
        """Websocket URL of ``room`` on this server."""
        return self.kind.room_url(self.port, room, self.token)

    def cpu_seconds(self) -> float:
        """CPU time (user + system, all threads) the server used since it started."""
        return cpu_seconds(self.pid)

    def rss_bytes(self) -> int:
        """The server's resident memory now."""
        return rss_bytes(self.pid)

    def check_alive(self) -> None:
        """Raise ``PeerUnavailable`` with the log's tail if the process has exited."""
        code = self.process.poll()
        if code is not None:
            raise PeerUnavailable(f"{self.kind.key} exited with code {code}: {self.log_tail()}")

    def log_tail(self, lines: int = 5) -> str:
        try:
            text = self.log_path.read_text(errors="replace")
        except OSError:
            return "(no log)"
        return " | ".join(text.strip().splitlines()[-lines:])

    async def wait_idle(self, quiet: float = 0.3, timeout: float = 10.0) -> bool:
        """Wait until the server used at most one clock tick of CPU over ``quiet`` seconds.

        Returns:
            Whether it went idle before ``timeout`` (a background flush or
            compaction of the previous step would otherwise count in the next one).
        """
        deadline = time.monotonic() + timeout
        before = self.cpu_seconds()
        while time.monotonic() < deadline:
            await asyncio.sleep(quiet)
            after = self.cpu_seconds()
            if after - before <= CPU_RESOLUTION_S + 1e-9:
                return True
            before = after
        return False

    def stop(self, timeout: float = 20.0) -> None:
        """Stop the process (SIGTERM, then SIGKILL after ``timeout`` seconds)."""
        if self.process.poll() is not None:
            return
        self.process.send_signal(signal.SIGTERM)
        try:
            self.process.wait(timeout)
        except subprocess.TimeoutExpired:
            self.process.kill()
            self.process.wait(timeout)


@dataclass
class ServerKind(ABC):
    """One server under comparison."""

    key: ClassVar[str]
    title: ClassVar[str]
    storage: ClassVar[str]
    log_dir: Path = field(default=WORK_DIR / "logs")

    @abstractmethod
    def install(self) -> str:
        """Install the server if needed (idempotent); return its version.

        Raises:
            PeerUnavailable: if it cannot be installed here, saying why.
        """

    @abstractmethod
    def command(self, port: int, token: str, workdir: Path) -> tuple[list[str], dict[str, str]]:
        """The argv and extra environment that start the server."""

    @abstractmethod
    def room_url(self, port: int, room: str, token: str) -> str:
        """Websocket URL of ``room``."""

    def ready_url(self, port: int, token: str) -> str | None:
        """An HTTP URL that answers 200 once the server is ready, if any (else TCP connect)."""
        return None

    def start(
        self, workdir: Path, extra_args: Sequence[str] = (), timeout: float = 90.0
    ) -> RunningServer:
        """Start the server on a free loopback port and wait until it accepts connections.

        Raises:
            PeerUnavailable: if it exits or is not ready within ``timeout`` seconds.
        """
        workdir.mkdir(parents=True, exist_ok=True)
        self.log_dir.mkdir(parents=True, exist_ok=True)
        port = free_port()
        token = secrets.token_hex(16)
        argv, extra_env = self.command(port, token, workdir)
        env = {**os.environ, "PYTHONUNBUFFERED": "1", **extra_env}
        log_path = self.log_dir / f"{self.key}-{port}-{int(time.time())}.log"
        with log_path.open("wb") as log:
            process = subprocess.Popen(
                [*argv, *extra_args],
                cwd=workdir,
                env=env,
                stdin=subprocess.DEVNULL,
                stdout=log,
                stderr=subprocess.STDOUT,
            )
        server = RunningServer(self, process, port, token, workdir, log_path)
        try:
            self._wait_ready(server, timeout)
        except BaseException:
            server.stop()
            raise
        return server

    def _wait_ready(self, server: RunningServer, timeout: float) -> None:
        deadline = time.monotonic() + timeout
        url = self.ready_url(server.port, server.token)
        while time.monotonic() < deadline:
            server.check_alive()
            with contextlib.suppress(OSError):
                if url is None:
                    with socket.create_connection((HOST, server.port), timeout=1):
                        return
                else:
                    with urllib.request.urlopen(url, timeout=2) as response:
                        if response.status == 200:
                            return
            time.sleep(0.1)
        raise PeerUnavailable(
            f"{self.key} not ready on port {server.port} after {timeout} s: {server.log_tail()}"
        )


def _jupyter_server_args(port: int, token: str, workdir: Path) -> list[str]:
    return [
        "-m",
        "jupyter_server",
        f"--ServerApp.ip={HOST}",
        f"--ServerApp.port={port}",
        "--ServerApp.port_retries=0",
        f"--IdentityProvider.token={token}",
        "--ServerApp.open_browser=False",
        f"--ServerApp.root_dir={workdir}",
        "--ServerApp.log_level=WARN",
        *(["--allow-root"] if os.geteuid() == 0 else []),
    ]


OTHER_EXTENSIONS = {
    "jupyterlab": False,
    "jupyter_lsp": False,
    "jupyter_server_terminals": False,
    "notebook_shim": False,
}
"""Server extensions both Jupyter servers leave off: only the rooms are measured (and they start
faster)."""


def _extensions_arg(enabled: dict[str, bool]) -> str:
    return f"--ServerApp.jpserver_extensions={ {**OTHER_EXTENSIONS, **enabled}!r}"


def _jupyter_env(workdir: Path) -> dict[str, str]:
    """Keep each Jupyter server's user config, data and runtime files in its work dir."""
    env = {"JUPYTER_PLATFORM_DIRS": "1"}
    for kind in ("config", "data", "runtime"):
        folder = workdir / ".jupyter" / kind
        folder.mkdir(parents=True, exist_ok=True)
        env[f"JUPYTER_{kind.upper()}_DIR"] = str(folder)
    return env


@dataclass
class Ours(ServerKind):
    """jupyter_server + jupyter_ysync, with its durable SQLite store."""

    key: ClassVar[str] = "ours"
    title: ClassVar[str] = "ours (jupyter-ysync)"
    storage: ClassVar[str] = "durable SQLite store ON"

    def install(self) -> str:
        if importlib.util.find_spec("jupyter_ysync") is None or not (
            importlib.util.find_spec("jupyter_ysync.server.app")
        ):
            raise PeerUnavailable(
                "jupyter_ysync.server is not importable: run `pip install -e .` in the repo"
            )
        from jupyter_ysync import __version__

        return str(__version__)

    def store_path(self, workdir: Path) -> Path:
        return workdir / "ysync.sqlite"

    def command(self, port: int, token: str, workdir: Path) -> tuple[list[str], dict[str, str]]:
        argv = [
            sys.executable,
            *_jupyter_server_args(port, token, workdir),
            # jupyter-server-fileid, as in JupyterLab: file rooms are named by its ids.
            _extensions_arg({"jupyter_ysync": True, "jupyter_server_fileid": True}),
            f"--YSyncApp.store_path={self.store_path(workdir)}",
        ]
        env = _jupyter_env(workdir)
        env["PYTHONPATH"] = os.pathsep.join(
            p for p in (str(REPO_DIR), os.environ.get("PYTHONPATH", "")) if p
        )
        return argv, env

    def room_url(self, port: int, room: str, token: str) -> str:
        return f"ws://{HOST}:{port}/ysync/rooms/{room}?token={token}"

    def ready_url(self, port: int, token: str) -> str | None:
        return f"http://{HOST}:{port}/api/status?token={token}"


@dataclass
class PycrdtWebsocket(ServerKind):
    """pycrdt-websocket's ASGI server under uvicorn (the main venv's ``bench`` extra)."""

    key: ClassVar[str] = "pycrdt-websocket"
    title: ClassVar[str] = f"pycrdt-websocket {PYCRDT_WEBSOCKET_VERSION}"
    storage: ClassVar[str] = "memory only"

    def install(self) -> str:
        if not _installed("pycrdt-websocket", PYCRDT_WEBSOCKET_VERSION) or not _installed(
            "uvicorn"
        ):
            _run_logged(
                [
                    sys.executable,
                    "-m",
                    "pip",
                    "install",
                    "--quiet",
                    f"pycrdt-websocket=={PYCRDT_WEBSOCKET_VERSION}",
                    "uvicorn>=0.30",
                ],
                PEERS_DIR / "pycrdt-websocket-install.log",
            )
        return importlib.metadata.version("pycrdt-websocket")

    def command(self, port: int, token: str, workdir: Path) -> tuple[list[str], dict[str, str]]:
        argv = [sys.executable, "-m", "benchmarks.pycrdt_websocket_server", "--port", str(port)]
        env = {
            "PYTHONPATH": os.pathsep.join(
                p for p in (str(REPO_DIR), os.environ.get("PYTHONPATH", "")) if p
            )
        }
        return argv, env

    def room_url(self, port: int, room: str, token: str) -> str:
        return f"ws://{HOST}:{port}/{room}"


@dataclass
class YWebsocketJS(ServerKind):
    """The JavaScript reference server, ``y-websocket@1.5.4``'s ``bin/server.js`` on node."""

    key: ClassVar[str] = "y-websocket"
    title: ClassVar[str] = f"y-websocket {Y_WEBSOCKET_VERSION} (JS)"
    storage: ClassVar[str] = "memory only"
    prefix: Path = field(default=PEERS_DIR / "y-websocket")

    @property
    def server_js(self) -> Path:
        return self.prefix / "node_modules" / "y-websocket" / "bin" / "server.js"

    def install(self) -> str:
        for tool in ("node", "npm"):
            if shutil.which(tool) is None:
                raise PeerUnavailable(f"`{tool}` is not on PATH: install Node.js 18+")
        if not self.server_js.exists():
            self.prefix.mkdir(parents=True, exist_ok=True)
            (self.prefix / "package.json").write_text(
                '{"name": "ysync-bench-y-websocket", "private": true}\n'
            )
            _run_logged(
                [
                    "npm",
                    "install",
                    "--no-audit",
                    "--no-fund",
                    "--ignore-scripts",  # leveldown's build step: only used with YPERSISTENCE
                    f"y-websocket@{Y_WEBSOCKET_VERSION}",
                ],
                self.prefix / "install.log",
                cwd=self.prefix,
            )
        return Y_WEBSOCKET_VERSION

    def command(self, port: int, token: str, workdir: Path) -> tuple[list[str], dict[str, str]]:
        node = shutil.which("node") or "node"
        return [node, str(self.server_js)], {"HOST": HOST, "PORT": str(port)}

    def room_url(self, port: int, room: str, token: str) -> str:
        return f"ws://{HOST}:{port}/{room}"


@dataclass
class JupyterCollaboration(ServerKind):
    """jupyter_server + jupyter-collaboration, in ``benchmarks/.peers/jupyter-collaboration``."""

    key: ClassVar[str] = "jupyter-collaboration"
    title: ClassVar[str] = f"jupyter-collaboration {JUPYTER_COLLABORATION_VERSION}"
    storage: ClassVar[str] = "memory only (ad-hoc room)"
    prefix: Path = field(default=PEERS_DIR / "jupyter-collaboration")

    @property
    def python(self) -> Path:
        return self.prefix / "venv" / "bin" / "python"

    @property
    def marker(self) -> Path:
        return self.prefix / "installed.txt"

    def install(self) -> str:
        wanted = f"jupyter-collaboration=={JUPYTER_COLLABORATION_VERSION}"
        if self.marker.exists() and self.python.exists() and self.marker.read_text() == wanted:
            return JUPYTER_COLLABORATION_VERSION
        log = self.prefix / "install.log"
        if not self.python.exists():
            _run_logged([sys.executable, "-m", "venv", str(self.prefix / "venv")], log)
        _run_logged([str(self.python), "-m", "pip", "install", "--quiet", wanted], log)
        self.marker.write_text(wanted)
        return JUPYTER_COLLABORATION_VERSION

    def command(self, port: int, token: str, workdir: Path) -> tuple[list[str], dict[str, str]]:
        argv = [
            str(self.python),
            *_jupyter_server_args(port, token, workdir),
            _extensions_arg({"jupyter_server_ydoc": True, "jupyter_server_fileid": True}),
        ]
        env = _jupyter_env(workdir)
        env["PYTHONPATH"] = ""  # nothing of the main venv or of this repo
        return argv, env

    def room_url(self, port: int, room: str, token: str) -> str:
        # A room id with fewer than two ':' is an ad-hoc TransientRoom (no file, no store).
        return f"ws://{HOST}:{port}/api/collaboration/room/{room}?token={token}"

    def ready_url(self, port: int, token: str) -> str | None:
        return f"http://{HOST}:{port}/api/status?token={token}"


def _installed(distribution: str, version: str | None = None) -> bool:
    try:
        found = importlib.metadata.version(distribution)
    except importlib.metadata.PackageNotFoundError:
        return False
    return version is None or found == version


SERVER_KINDS: dict[str, type[ServerKind]] = {
    kind.key: kind for kind in (Ours, PycrdtWebsocket, YWebsocketJS, JupyterCollaboration)
}
"""Every server, in the order of the table's columns."""
