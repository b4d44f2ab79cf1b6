"""A room served in-process, and connections to it for the Python peer: no server, no sockets.

:class:`RoomThread` runs a real :class:`Room` with a real store on an event loop in its own
thread, as the server would; :meth:`RoomThread.connect` is a ``Connect`` for the peer's
transport, the way httpx's ``MockTransport`` stands in for the network.
"""

from __future__ import annotations

import asyncio
import contextlib
import threading
from collections.abc import AsyncIterator, Iterator
from pathlib import Path
from typing import Any

from jupyter_ysync.errors import MalformedMessage
from jupyter_ysync.protocol import CloseCode
from jupyter_ysync.server.room import Room
from jupyter_ysync.server.store import SQLiteStore

_CLOSED = object()


class _RoomSide:
    """The connection as the room sees it: a :class:`Peer`."""

    def __init__(self, connection: InProcessConnection, *, can_write: bool) -> None:
        self.name = "in-process"
        self.can_write = can_write
        self._connection = connection

    def send_frame(self, frame: bytes) -> None:
        self._connection.received(frame)

    def close(self, code: int, reason: str) -> None:
        self._connection.closed(code, reason)


class InProcessConnection:
    """One peer's connection to the room: what the transport sees as its websocket."""

    close_code: int | None
    close_reason: str | None

    def __init__(self, server: RoomThread, *, can_write: bool = True) -> None:
        self.close_code = None
        self.close_reason = None
        self.peer = _RoomSide(self, can_write=can_write)
        self._server = server
        self._loop = asyncio.get_running_loop()
        self._inbox: asyncio.Queue[Any] = asyncio.Queue()

    def received(self, frame: bytes) -> None:
        """From the room's thread: a message for the transport."""
        self._loop.call_soon_threadsafe(self._inbox.put_nowait, frame)

    def closed(self, code: int, reason: str) -> None:
        """From either side: the connection ends with ``code``."""

        def end() -> None:
            if self.close_code is None:
                self.close_code, self.close_reason = code, reason
                self._inbox.put_nowait(_CLOSED)

        self._loop.call_soon_threadsafe(end)
        self._server.call(self._server.room.remove_peer, self.peer)

    async def send(self, message: bytes) -> None:
        if self.close_code is not None:
            raise ConnectionResetError("the in-process connection is closed")
        self._server.call(self._server.deliver, self.peer, message)

    async def close(self) -> None:
        self.closed(1000, "")

    def __aiter__(self) -> AsyncIterator[bytes | str]:
        return self._messages()

    async def _messages(self) -> AsyncIterator[bytes | str]:
        while True:
            item = await self._inbox.get()
            if item is _CLOSED:
                return
            yield item


class RoomThread:
    """A room on its own event loop and thread, with a real SQLite store."""

    room: Room

    def __init__(self, path: Path, name: str = "notes") -> None:
        self.loop = asyncio.new_event_loop()
        self.refuse_with: int | None = None
        """A close code every new connection gets at once (e.g. 4403), to test refusals."""
        self.connections: list[InProcessConnection] = []
        self._thread = threading.Thread(target=self.loop.run_forever, daemon=True)
        self._thread.start()
        self.store = SQLiteStore(path)
        self.run(self.store.start())
        self.room = self.run(self._make_room(name))

    async def _make_room(self, name: str) -> Room:
        return Room(name, self.store)

    def run(self, coroutine: Any) -> Any:
        """Run a coroutine on the room's loop and return its result."""
        return asyncio.run_coroutine_threadsafe(coroutine, self.loop).result(10)

    def call(self, callback: Any, *args: Any) -> None:
        self.loop.call_soon_threadsafe(callback, *args)

    def deliver(self, peer: _RoomSide, message: bytes) -> None:
        try:
            self.room.receive(peer, message)
        except MalformedMessage as error:
            peer.close(CloseCode.MALFORMED, str(error))

    @contextlib.asynccontextmanager
    async def connect(self, url: str, headers: dict[str, str]) -> AsyncIterator[Any]:
        """A ``Connect`` for the transport: joins the room for the life of the context."""
        connection = InProcessConnection(self)
        self.connections.append(connection)
        if self.refuse_with is not None:
            connection.closed(self.refuse_with, "refused by the test")
        else:
            self.call(self.room.add_peer, connection.peer)
        try:
            yield connection
        finally:
            self.call(self.room.remove_peer, connection.peer)

    def drop_all(self) -> None:
        """Close every connection as a network failure would (code 1006)."""
        for connection in self.connections:
            connection.closed(1006, "dropped by the test")

    def stop(self) -> None:
        self.run(self.room.flushed())
        self.run(self.store.stop())
        self.loop.call_soon_threadsafe(self.loop.stop)
        self._thread.join(5)
        self.loop.close()


@contextlib.contextmanager
def room_thread(path: Path) -> Iterator[RoomThread]:
    server = RoomThread(path)
    try:
        yield server
    finally:
        server.stop()
