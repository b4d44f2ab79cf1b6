"""A kernel started through the server's REST API and driven over its websocket.

Starting the kernel through the server (not with a local KernelManager) is the
point: such a kernel inherits the environment the extension prepared for it
(``JUPYTER_YSYNC_URL``, ``JUPYTER_YSYNC_TOKEN``), exactly as in JupyterLab.
"""

from __future__ import annotations

import asyncio
import json
import urllib.request
import uuid
from typing import Any

import websockets
from jupyter_client.jsonutil import json_default
from jupyter_client.session import Session

from tests.servers import ServerProcess


def rest(server: ServerProcess, method: str, path: str, body: Any = None) -> Any:
    """Call the server's REST API with its token; return the decoded JSON body (or None)."""
    data = None if body is None else json.dumps(body).encode()
    request = urllib.request.Request(
        f"{server.http_url}{path}",
        data=data,
        method=method,
        headers={"Authorization": f"token {server.token}", "Content-Type": "application/json"},
    )
    with urllib.request.urlopen(request, timeout=30) as response:
        payload = response.read()
    return json.loads(payload) if payload else None


class ServerKernel:
    """A kernel the server started, with its channels websocket (JSON messages).

    Example::

        async with ServerKernel(server) as kernel:
            msg_id = await kernel.execute("print(1)")
            while True:
                message = await kernel.receive()
                ...
    """

    server: ServerProcess
    kernel_id: str | None
    session: Session
    ws: Any

    def __init__(self, server: ServerProcess, kernel_name: str = "python3") -> None:
        self.server = server
        self.kernel_name = kernel_name
        self.kernel_id = None
        self.session = Session(username="ysync-tests")
        self.ws = None

    async def __aenter__(self) -> ServerKernel:
        model = await asyncio.to_thread(
            rest, self.server, "POST", "api/kernels", {"name": self.kernel_name}
        )
        self.kernel_id = model["id"]
        url = (
            f"{self.server.ws_url}api/kernels/{self.kernel_id}/channels"
            f"?session_id={uuid.uuid4().hex}&token={self.server.token}"
        )
        self.ws = await websockets.connect(url, max_size=None, open_timeout=30)
        await self.wait_ready()
        return self

    async def __aexit__(self, *exc: object) -> None:
        if self.ws is not None:
            await self.ws.close()
        if self.kernel_id is not None:
            await asyncio.to_thread(rest, self.server, "DELETE", f"api/kernels/{self.kernel_id}")

    async def send(self, channel: str, msg_type: str, content: dict[str, Any]) -> str:
        """Send a request on ``channel``; return its msg_id."""
        message = self.session.msg(msg_type, content)
        message["channel"] = channel
        await self.ws.send(json.dumps(message, default=json_default))
        return str(message["header"]["msg_id"])

    async def receive(self) -> dict[str, Any]:
        """The next message from any channel (its ``channel`` key says which)."""
        return dict(json.loads(await self.ws.recv()))

    async def wait_ready(self, timeout: float = 60.0) -> None:
        """Ask for kernel_info until the kernel answers (a new kernel may miss the first ask)."""

        async def ask() -> None:
            while True:
                msg_id = await self.send("shell", "kernel_info_request", {})
                try:
                    await asyncio.wait_for(self._reply_to(msg_id), 2.0)
                    return
                except asyncio.TimeoutError:
                    continue

        await asyncio.wait_for(ask(), timeout)

    async def _reply_to(self, msg_id: str) -> dict[str, Any]:
        while True:
            message = await self.receive()
            if message.get("parent_header", {}).get("msg_id") == msg_id and message[
                "msg_type"
            ].endswith("_reply"):
                return message

    async def execute(self, code: str) -> str:
        """Start running ``code``; return the request's msg_id (replies come via receive)."""
        return await self.send(
            "shell",
            "execute_request",
            {
                "code": code,
                "silent": False,
                "store_history": False,
                "user_expressions": {},
                "allow_stdin": False,
                "stop_on_error": True,
            },
        )
