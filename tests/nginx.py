"""Debian's nginx as the test's own reverse proxy: a loopback port, files under a temporary
directory, run in the foreground and stopped by its PID."""

from __future__ import annotations

import os
import shutil
import signal
import socket
import subprocess
import time
from pathlib import Path

from tests.servers import free_port

NGINX = shutil.which("nginx") or "/usr/sbin/nginx"

STRIP_UPGRADE = """
        # What some corporate proxies do: the upgrade never reaches the server.
        proxy_set_header Upgrade "";
        proxy_set_header Connection "";
"""


def nginx_config(root: Path, port: int, upstream: int, location: str) -> str:
    """A foreground nginx on 127.0.0.1:``port`` proxying to 127.0.0.1:``upstream``."""
    user = "user root;" if os.geteuid() == 0 else ""  # workers must reach the temp dirs
    temp = "\n".join(
        f"    {kind}_temp_path {root / kind};"
        for kind in ("client_body", "proxy", "fastcgi", "uwsgi", "scgi")
    )
    return f"""
{user}
daemon off;
worker_processes 1;
pid {root / "nginx.pid"};
error_log {root / "error.log"} info;
events {{ worker_connections 4096; }}
http {{
    access_log {root / "access.log"};
{temp}
    client_max_body_size 0;
    server {{
        listen 127.0.0.1:{port};
        location / {{
            proxy_pass http://127.0.0.1:{upstream};
            proxy_http_version 1.1;
            proxy_set_header Host $host:$server_port;
            proxy_read_timeout 120s;
            proxy_buffering off;
{location}
        }}
    }}
}}
"""


class Nginx:
    """nginx proxying a loopback port to ``upstream`` (``location`` adds directives).

    Example::

        with Nginx(tmp_path / "nginx", upstream=server.port, location=STRIP_UPGRADE) as proxy:
            url = proxy.http_url
    """

    def __init__(self, root: Path, *, upstream: int, location: str = "") -> None:
        self.root = root
        self.port = free_port()
        self.upstream = upstream
        self.location = location
        self.proc: subprocess.Popen[bytes] | None = None

    @property
    def http_url(self) -> str:
        return f"http://127.0.0.1:{self.port}/"

    def start(self, timeout: float = 15.0) -> Nginx:
        self.root.mkdir(parents=True, exist_ok=True)
        config = self.root / "nginx.conf"
        config.write_text(nginx_config(self.root, self.port, self.upstream, self.location))
        command = [
            NGINX,
            "-p",
            str(self.root),
            "-c",
            str(config),
            "-e",
            str(self.root / "error.log"),
        ]
        check = subprocess.run([*command, "-t"], capture_output=True, text=True)
        if check.returncode:
            raise RuntimeError(f"nginx refused its configuration: {check.stderr}")
        self.proc = subprocess.Popen(command, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.proc.poll() is not None:
                raise RuntimeError(f"nginx exited: {self.proc.stderr.read().decode()[-2000:]}")  # type: ignore[union-attr]
            try:
                with socket.create_connection(("127.0.0.1", self.port), timeout=1):
                    return self
            except OSError:
                time.sleep(0.05)
        raise TimeoutError(f"nginx did not listen on {self.port}: {self.log()}")

    def log(self) -> str:
        path = self.root / "error.log"
        return path.read_text()[-3000:] if path.exists() else ""

    def stop(self) -> None:
        """Stop the master by its PID (SIGTERM: it stops its worker and exits)."""
        if self.proc is not None:
            self.proc.send_signal(signal.SIGTERM)
            try:
                self.proc.wait(10)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()
            if self.proc.stderr is not None:
                self.proc.stderr.close()
            self.proc = None

    def __enter__(self) -> Nginx:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()
