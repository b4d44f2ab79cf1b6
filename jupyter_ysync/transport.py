"""The Python peer's websocket transport, in a background thread.

The transport owns everything that must keep moving while the user's thread
is busy (a cell looping with ``time.sleep``): the websocket, reconnection with
backoff, the sync handshake, awareness renewal. It never touches the user's
document. Instead it keeps a *mirror*: a replica fed with every local update
it sends and every remote update it receives, from which it answers the
server's sync step 1 and builds its own; remote updates are also queued in
:attr:`Transport.inbox` for the user's thread to apply.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import random
import threading
from collections import deque
from collections.abc import Callable
from enum import Enum
from typing import Any

import websockets
from pycrdt import (
    Awareness,
    Doc,
    Text,
    YSyncMessageType,
    create_awareness_message,
    create_sync_message,
    create_update_message,
    read_message,
)

from .errors import AuthenticationFailed, ConnectionFailed, YSyncError
from .protocol import EMPTY_UPDATE, ROOT_TEXT, CloseCode, MessageType, sync_step2_message
from .updates import replay

log = logging.getLogger("jupyter_ysync")

TEXT_NAME = ROOT_TEXT
AWARENESS_RENEW_SECONDS = 15.0
CURSOR_THROTTLE_SECONDS = 0.05


class ConnectionStatus(str, Enum):
    """Where the Python peer's connection stands."""

    CONNECTING = "connecting"
    CONNECTED = "connected"
    """The websocket is open; the initial sync is under way."""
    SYNCED = "synced"
    """The server's document has been received since the last (re)connect."""
    DISCONNECTED = "disconnected"
    """Waiting to reconnect; local edits are kept and sent on reconnect."""
    CLOSED = "closed"
    FAILED = "failed"
    """The server refused this peer for good (credential, deleted room, oversized state)."""


_FINAL_CLOSE_CODES: dict[int, type[YSyncError]] = {
    CloseCode.NOT_AUTHENTICATED: AuthenticationFailed,
    CloseCode.FORBIDDEN: AuthenticationFailed,
    CloseCode.TOO_LARGE: ConnectionFailed,
    CloseCode.ROOM_DELETED: ConnectionFailed,
    CloseCode.MALFORMED: ConnectionFailed,
}


class Transport:
    """A websocket to one room, kept alive in a background thread.

    Example::

        transport = Transport(url, headers, client_id, on_remote=notify)
        transport.start()
        transport.send_update(update)      # from any thread
        updates = transport.take_inbox()   # remote updates, for the user's thread
        transport.close()
    """

    url: str
    status: ConnectionStatus
    error: YSyncError | None
    read_only: bool
    inbox: deque[bytes]
    synced: threading.Event

    def __init__(
        self,
        url: str,
        headers: dict[str, str],
        client_id: int,
        *,
        on_remote: Callable[[], None],
        on_status: Callable[[ConnectionStatus], None] | None = None,
        backoff: tuple[float, float] = (0.1, 2.5),
    ) -> None:
        self.url = url
        self._headers = headers
        self._on_remote = on_remote
        self._on_status = on_status
        self._backoff = backoff
        self.status = ConnectionStatus.CONNECTING
        self.error = None
        self.read_only = False
        self.inbox = deque()
        self.synced = threading.Event()
        self.settled = threading.Event()
        """Set once the first attempt synced or failed for good."""
        self._outbox: deque[bytes] = deque()
        self._mirror: Doc[Any] = Doc(client_id=client_id)
        self._mirror_text = self._mirror.get(TEXT_NAME, type=Text)
        self._awareness = Awareness(self._mirror)
        self._awareness_lock = threading.Lock()
        self._cursor_index: int | None = None
        self._cursor_timer: asyncio.TimerHandle | None = None
        self._cursor_pending = False
        self._loop: asyncio.AbstractEventLoop | None = None
        self._wake: asyncio.Event | None = None
        self._closed: asyncio.Event | None = None
        self._tasks: set[asyncio.Task[None]] = set()
        self._wake_pending = False
        self._ws: Any = None
        self._closing = False
        self._thread = threading.Thread(target=self._run, name="ysync-transport", daemon=True)
        self._started = threading.Event()

    # -- called from the user's thread -----------------------------------------------------

    def start(self) -> None:
        self._thread.start()
        self._started.wait()

    def send_update(self, update: bytes) -> None:
        """Queue a local update; it goes out at once, even while the caller sleeps."""
        self._outbox.append(update)
        if not self._wake_pending:
            self._wake_pending = True
            self._call_soon(self._set_wake)

    def take_inbox(self) -> list[bytes]:
        """Remove and return the remote updates received so far."""
        inbox = self.inbox
        updates = []
        while inbox:
            updates.append(inbox.popleft())
        return updates

    def set_local_state(self, state: dict[str, Any] | None) -> None:
        """Set this peer's awareness state (presence) and broadcast it."""
        self._call_soon(self._apply_local_state, state)

    def move_cursor(self, index: int) -> None:
        """Show this peer's caret at ``index`` (throttled)."""
        self._cursor_index = index
        if not self._cursor_pending:  # one wake-up per throttle period, not one per edit
            self._cursor_pending = True
            self._call_soon(self._schedule_cursor)

    def peers(self) -> dict[int, dict[str, Any]]:
        """A snapshot of every awareness state in the room, this peer's included."""
        with self._awareness_lock:
            return {cid: dict(state) for cid, state in self._awareness.states.items()}

    def close(self, timeout: float = 5.0) -> None:
        """Send what is queued, say goodbye, and stop the thread."""
        if self._loop is None or self._closing:
            return
        self._call_soon(self._begin_close)
        self._thread.join(timeout)

    def _call_soon(self, callback: Callable[..., Any], *args: Any) -> None:
        loop = self._loop
        if loop is not None and not loop.is_closed():
            with contextlib.suppress(RuntimeError):  # the loop closed meanwhile
                loop.call_soon_threadsafe(callback, *args)

    # -- the transport thread --------------------------------------------------------------

    def _run(self) -> None:
        loop = self._loop = asyncio.new_event_loop()
        self._wake = asyncio.Event()
        self._closed = asyncio.Event()
        self._started.set()
        try:
            loop.run_until_complete(self._main())
        finally:
            loop.close()

    def _set_status(self, status: ConnectionStatus) -> None:
        if status != self.status:
            self.status = status
            log.debug("ysync %s: %s", self.url, status.value)
            if self._on_status is not None:
                self._on_status(status)

    async def _main(self) -> None:
        attempt = 0
        sender = asyncio.create_task(self._send_loop())
        try:
            while not self._closing:
                self._set_status(ConnectionStatus.CONNECTING)
                try:
                    await self._session()
                    attempt = 0
                except websockets.InvalidStatus as error:
                    status = error.response.status_code
                    if status in (401, 403):
                        self._fail(
                            AuthenticationFailed(
                                f"The server refused the credential for {self._public_url()}"
                                f" (HTTP {status}): pass token=... or set JUPYTER_YSYNC_TOKEN."
                            )
                        )
                        return
                    if status in (400, 404):
                        self._fail(
                            ConnectionFailed(
                                f"{self._public_url()} is not a room (HTTP {status}): check the"
                                " room name and that jupyter_ysync is enabled on the server."
                            )
                        )
                        return
                    log.info("ysync %s: HTTP %s, retrying", self._public_url(), status)
                except (OSError, TimeoutError, websockets.WebSocketException) as error:
                    log.debug("ysync %s: %s", self._public_url(), error)
                if self.error is not None or self._closing:
                    return
                self.synced.clear()
                self._set_status(ConnectionStatus.DISCONNECTED)
                base, cap = self._backoff
                delay = random.uniform(base / 2, min(cap, base * 2**attempt))  # full jitter
                attempt += 1
                assert self._closed is not None
                with contextlib.suppress(asyncio.TimeoutError):
                    await asyncio.wait_for(self._closed.wait(), delay)
        finally:
            sender.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await sender
            if self.error is None:
                self._set_status(ConnectionStatus.CLOSED)
            self.settled.set()

    async def _session(self) -> None:
        async with websockets.connect(
            self.url,
            additional_headers=self._headers,
            max_size=None,
            open_timeout=10,
            ping_interval=20,
            ping_timeout=20,
            compression=None,
        ) as ws:
            self._ws = ws
            self._set_status(ConnectionStatus.CONNECTED)
            renew = asyncio.create_task(self._renew_awareness())
            try:
                self._drain_outbox()  # anything queued offline goes into the mirror first
                await ws.send(create_sync_message(self._mirror))
                with self._awareness_lock:
                    state = self._awareness.encode_awareness_update([self._awareness.client_id])
                await ws.send(create_awareness_message(state))
                async for message in ws:
                    if isinstance(message, bytes):
                        await self._handle(ws, message)
            finally:
                self._ws = None
                renew.cancel()
            code = ws.close_code
            if code in _FINAL_CLOSE_CODES and not self._closing:
                error_class = _FINAL_CLOSE_CODES[code]
                self._fail(
                    error_class(
                        f"The server closed {self._public_url()} with code {code}:"
                        f" {ws.close_reason or 'no reason given'}"
                    )
                )

    async def _handle(self, ws: Any, message: bytes) -> None:
        kind = message[0]
        if kind == MessageType.SYNC:
            subtype = message[1]
            payload = read_message(message[2:])
            if subtype == YSyncMessageType.SYNC_STEP1:
                self._drain_outbox()
                await ws.send(sync_step2_message(self._mirror.get_update(payload)))
                return
            if payload != EMPTY_UPDATE:
                self.inbox.append(payload)
                self._mirror.apply_update(payload)
            if subtype == YSyncMessageType.SYNC_STEP2:
                self.synced.set()
                self._set_status(ConnectionStatus.SYNCED)
                self.settled.set()
            if payload != EMPTY_UPDATE or subtype == YSyncMessageType.SYNC_STEP2:
                self._on_remote()
        elif kind == MessageType.AWARENESS:
            with self._awareness_lock:
                self._awareness.apply_awareness_update(read_message(message[1:]), "remote")
        elif kind == MessageType.QUERY_AWARENESS:
            with self._awareness_lock:
                state = self._awareness.encode_awareness_update([self._awareness.client_id])
            await ws.send(create_awareness_message(state))
        elif kind == MessageType.AUTH and not self.read_only:
            self.read_only = True
            reason = read_message(message[2:]).decode(errors="replace")
            log.warning("ysync %s: %s", self._public_url(), reason)

    def _fail(self, error: YSyncError) -> None:
        self.error = error
        log.error("%s", error)
        self._set_status(ConnectionStatus.FAILED)
        self.settled.set()

    # -- local updates and the mirror ------------------------------------------------------

    def _set_wake(self) -> None:
        self._wake_pending = False
        if self._wake is not None:
            self._wake.set()

    def _drain_outbox(self) -> bytes | None:
        """Move queued local updates into the mirror; return them as one update."""
        outbox = self._outbox
        if not outbox:
            return None
        updates = []
        while outbox:
            updates.append(outbox.popleft())
        mirror = self._mirror
        if len(updates) == 1:
            mirror.apply_update(updates[0])
            return updates[0]
        # The mirror's diff is their merge, in linear time (merge_updates() is quadratic).
        state = mirror.get_state()
        replay(mirror, updates)
        return mirror.get_update(state)

    async def _send_loop(self) -> None:
        assert self._wake is not None
        while True:
            await self._wake.wait()
            self._wake.clear()
            update = self._drain_outbox()
            ws = self._ws
            if update is not None and ws is not None:
                # If the socket drops now, the mirror still holds the update and
                # the next handshake pushes it.
                with contextlib.suppress(websockets.ConnectionClosed):
                    await ws.send(create_update_message(update))

    # -- awareness -------------------------------------------------------------------------

    def _apply_local_state(self, state: dict[str, Any] | None) -> None:
        with self._awareness_lock:
            self._awareness.set_local_state(state)
        self._send_local_awareness()

    def _send_local_awareness(self) -> None:
        ws = self._ws
        if ws is None:
            return
        with self._awareness_lock:
            update = self._awareness.encode_awareness_update([self._awareness.client_id])
        self._spawn(self._send_quietly(ws, create_awareness_message(update)))

    def _spawn(self, coroutine: Any) -> None:
        task = asyncio.ensure_future(coroutine)
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)

    @staticmethod
    async def _send_quietly(ws: Any, message: bytes) -> None:
        with contextlib.suppress(websockets.ConnectionClosed):
            await ws.send(message)

    def _schedule_cursor(self) -> None:
        if self._cursor_timer is None and self._loop is not None:
            self._cursor_timer = self._loop.call_later(CURSOR_THROTTLE_SECONDS, self._send_cursor)

    def _send_cursor(self) -> None:
        self._cursor_timer = None
        self._cursor_pending = False
        index = self._cursor_index
        if index is None:
            return
        update = self._drain_outbox()  # the caret may sit in text not sent yet
        ws = self._ws
        if update is not None and ws is not None:
            # Drained here, the send loop will not see it: send it now (offline, the
            # mirror holds it and the next handshake pushes it).
            self._spawn(self._send_quietly(ws, create_update_message(update)))
        position = relative_position(self._mirror_text, index)
        with self._awareness_lock:
            state = dict(self._awareness.get_local_state() or {})
            state["cursor"] = {"anchor": position, "head": position}
            self._awareness.set_local_state(state)
        self._send_local_awareness()

    async def _renew_awareness(self) -> None:
        while True:
            await asyncio.sleep(AWARENESS_RENEW_SECONDS)
            with self._awareness_lock:
                self._awareness.set_local_state(self._awareness.get_local_state())
            self._send_local_awareness()

    def _begin_close(self) -> None:
        self._closing = True
        if self._closed is not None:
            self._closed.set()
        self._spawn(self._goodbye())

    async def _goodbye(self) -> None:
        ws = self._ws
        if ws is None:
            return
        update = self._drain_outbox()
        with self._awareness_lock:
            self._awareness.set_local_state(None)
            gone = self._awareness.encode_awareness_update([self._awareness.client_id])
        with contextlib.suppress(websockets.ConnectionClosed):
            if update is not None:
                await ws.send(create_update_message(update))
            await ws.send(create_awareness_message(gone))
            await ws.close()

    def _public_url(self) -> str:
        return self.url.split("?", 1)[0]


def relative_position(text: Text, index: int) -> dict[str, Any]:
    """A Yjs ``RelativePosition`` (as JSON) for a RichText ``index``, as y-quill reads it."""
    from .richtext import RichText

    rich = RichText(text)
    if 0 <= index < len(rich):
        item = rich.sticky_index(index).to_json().get("item")
        if item is not None:
            return {"type": None, "tname": TEXT_NAME, "item": item, "assoc": 0}
    # The end of the text: Yjs names the root type and no item.
    return {"type": None, "tname": TEXT_NAME, "item": None, "assoc": 0}
