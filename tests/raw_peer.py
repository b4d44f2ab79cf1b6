"""A bare y-websocket peer (pycrdt + websockets) to drive the server byte by byte in tests."""

from __future__ import annotations

import asyncio
import contextlib
from typing import Any

import websockets
from pycrdt import (
    Awareness,
    Doc,
    Text,
    YMessageType,
    YSyncMessageType,
    create_awareness_message,
    create_sync_message,
    create_update_message,
    handle_sync_message,
    read_message,
)


class RawPeer:
    """One websocket connection holding its own replica of the room."""

    def __init__(self, url: str, *, headers: dict[str, str] | None = None) -> None:
        self.url = url
        self.headers = headers or {}
        self.doc: Doc[Any] = Doc()
        self.text = self.doc.get("content", type=Text)
        self.awareness = Awareness(self.doc)
        self.received: list[bytes] = []
        self.changed = asyncio.Event()
        self.synced = asyncio.Event()
        self.ws: Any = None
        self._reader: asyncio.Task[None] | None = None
        self.close_code: int | None = None
        self.close_reason: str = ""
        self.closed = asyncio.Event()
        self._remote = False  # applying the server's updates: not to be sent back
        self._sending: set[asyncio.Task[None]] = set()
        self.doc.observe(self._on_change)

    def _on_change(self, event: Any) -> None:
        if self._remote or self.ws is None:
            return
        task = asyncio.get_running_loop().create_task(
            self._send(create_update_message(event.update))
        )
        self._sending.add(task)
        task.add_done_callback(self._sending.discard)

    async def _send(self, message: bytes) -> None:
        with contextlib.suppress(websockets.ConnectionClosed):
            await self.ws.send(message)

    async def connect(self, *, sync: bool = True) -> RawPeer:
        self.ws = await websockets.connect(
            self.url, additional_headers=self.headers, max_size=None, open_timeout=10
        )
        self._reader = asyncio.create_task(self._read())
        if sync:
            await self.ws.send(create_sync_message(self.doc))
        return self

    async def _read(self) -> None:
        try:
            async for message in self.ws:
                self.received.append(message)
                if message[0] == YMessageType.SYNC:
                    self._remote = True
                    try:
                        reply = handle_sync_message(message[1:], self.doc)
                    finally:
                        self._remote = False
                    if reply is not None:
                        await self.ws.send(reply)
                    if message[1] == YSyncMessageType.SYNC_STEP2:
                        self.synced.set()
                elif message[0] == YMessageType.AWARENESS:
                    self.awareness.apply_awareness_update(read_message(message[1:]), "remote")
                self.changed.set()
        except websockets.ConnectionClosed:
            pass
        finally:
            if self.ws.close_code is not None:
                self.close_code = self.ws.close_code
                self.close_reason = self.ws.close_reason or ""
            self.closed.set()
            self.changed.set()

    async def send_awareness(self, state: dict[str, Any] | None) -> None:
        self.awareness.set_local_state(state)
        update = self.awareness.encode_awareness_update([self.awareness.client_id])
        await self.ws.send(create_awareness_message(update))

    async def wait_for(self, predicate: Any, timeout: float = 10.0) -> None:
        """Wait until ``predicate()`` holds, re-checking on every message received."""

        async def check() -> None:
            while not predicate():
                self.changed.clear()
                await self.changed.wait()

        await asyncio.wait_for(check(), timeout)

    async def close(self) -> None:
        """Send the edits still on their way, then close the connection."""
        await asyncio.gather(*self._sending)
        if self.ws is not None:
            await self.ws.close()
        if self._reader is not None:
            await self._reader
