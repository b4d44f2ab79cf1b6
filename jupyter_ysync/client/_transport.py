"""The Python peer's connection to one room, kept alive in a background thread.

The transport owns everything that must keep moving while the user's thread is busy: the
websocket, reconnection with backoff, the sync handshake and presence. It never touches the
user's document. It keeps a *mirror* instead: a replica fed with every local update it sends
and every remote update it receives, from which it answers the server's sync step 1 and
builds its own; remote updates are also queued in :attr:`Transport.inbox` for the user's
thread to apply.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import random
import threading
from collections import deque
from collections.abc import AsyncIterator, Callable
from contextlib import AbstractAsyncContextManager
from enum import Enum
from typing import Any, Protocol
from urllib.parse import urlsplit

import websockets
from pycrdt import Doc, YSyncMessageType, create_sync_message, create_update_message

from .._lifecycle import Lifecycle
from ..errors import AuthenticationFailed, ConnectionFailed, MalformedMessage, YSyncError
from ..protocol import (
    EMPTY_UPDATE,
    TOKEN_ENV,
    CloseCode,
    MessageType,
    parse_message,
    sync_step2_message,
)
from ..updates import replay
from ._http import HttpStatusError, auto_connect, http_connect, new_session
from ._loop import BackgroundLoop
from ._presence import Presence

log = logging.getLogger("jupyter_ysync")


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


_NEXT: dict[ConnectionStatus, frozenset[ConnectionStatus]] = {
    ConnectionStatus.CONNECTING: frozenset(
        {ConnectionStatus.CONNECTED, ConnectionStatus.DISCONNECTED}
    ),
    ConnectionStatus.CONNECTED: frozenset({ConnectionStatus.SYNCED, ConnectionStatus.DISCONNECTED}),
    ConnectionStatus.SYNCED: frozenset({ConnectionStatus.DISCONNECTED}),
    ConnectionStatus.DISCONNECTED: frozenset({ConnectionStatus.CONNECTING}),
    ConnectionStatus.CLOSED: frozenset(),
    ConnectionStatus.FAILED: frozenset(),
}
"""Allowed transitions; any open state may also end as CLOSED or FAILED."""

_ENDS = frozenset({ConnectionStatus.CLOSED, ConnectionStatus.FAILED})
_SETTLED = frozenset({ConnectionStatus.SYNCED, *_ENDS})

_FINAL_CLOSE_CODES: dict[int, type[YSyncError]] = {
    CloseCode.NOT_AUTHENTICATED: AuthenticationFailed,
    CloseCode.FORBIDDEN: AuthenticationFailed,
    CloseCode.TOO_LARGE: ConnectionFailed,
    CloseCode.ROOM_DELETED: ConnectionFailed,
    CloseCode.MALFORMED: ConnectionFailed,
}


class Connection(Protocol):
    """What the transport needs of a websocket (``websockets``' client connection)."""

    close_code: int | None
    close_reason: str | None

    async def send(self, message: bytes) -> None:
        """Send one binary message."""

    async def close(self) -> None:
        """Close the connection."""

    def __aiter__(self) -> AsyncIterator[bytes | str]:
        """The messages received, until the connection closes."""


Connect = Callable[[str, dict[str, str]], AbstractAsyncContextManager[Connection]]
"""Opens a connection to a URL with headers: :func:`websocket_connect` or a test double."""


def websocket_connect(url: str, headers: dict[str, str]) -> AbstractAsyncContextManager[Any]:
    """A real websocket to ``url`` (the default :data:`Connect`)."""
    return websockets.connect(
        url,
        additional_headers=headers,
        max_size=None,
        open_timeout=10,
        ping_interval=20,
        ping_timeout=20,
        compression=None,
    )


CHANNELS = ("auto", "websocket", "http")
"""How the Python peer reaches a room: the websocket, HTTP long polls, or the websocket with
HTTP as the fallback when a proxy refuses or strips the upgrade."""


class Transport(Lifecycle):
    """A connection to one room, kept alive in a background thread.

    Example::

        transport = Transport(url, headers, client_id, on_remote=notify, position=caret_of)
        transport.start()
        transport.send_update(update)      # from any thread
        updates = transport.take_inbox()   # remote updates, for the user's thread
        transport.close()
    """

    url: str
    status: ConnectionStatus
    channel: str | None
    """The channel of the current (or last) connection: "websocket" or "http"."""
    error: YSyncError | None
    read_only: bool
    inbox: deque[bytes]
    synced: threading.Event
    """Set while the status is SYNCED."""
    settled: threading.Event
    """Set once the status was SYNCED, CLOSED or FAILED."""
    presence: Presence

    def __init__(
        self,
        url: str,
        headers: dict[str, str],
        client_id: int,
        *,
        on_remote: Callable[[], None],
        position: Callable[[Any, int], dict[str, Any]],
        on_status: Callable[[ConnectionStatus], None] | None = None,
        backoff: tuple[float, float] = (0.1, 2.5),
        connect: Connect = websocket_connect,
        fail_fast: bool = True,
        channel: str = "websocket",
    ) -> None:
        """
        Args:
            url: The room's websocket URL.
            headers: Sent with every connection attempt (the credential).
            client_id: This peer's Yjs client id.
            on_remote: Called (on the transport's thread) when remote updates arrive.
            position: ``position(text, index)``: a caret index in the mirror's text as a Yjs
                RelativePosition.
            on_status: Called (on the transport's thread) at each status change.
            backoff: Reconnection delays: first, and cap, in seconds (full jitter).
            connect: Opens a connection; a test may pass an in-process one.
            fail_fast: A refused first connection fails at once instead of retrying.
            channel: "websocket" (through ``connect``), "http" (long polls), or "auto": the
                websocket, and HTTP when its handshake is refused or stripped.

        Raises:
            ValueError: for another ``channel``.
        """
        if channel not in CHANNELS:
            raise ValueError(f"transport={channel!r}: use one of {', '.join(CHANNELS)}.")
        self.url = url
        self._headers = headers
        self._on_remote = on_remote
        self._on_status = on_status
        self._backoff = backoff
        self._connect = self._connector(channel, connect)
        self.channel = None
        self._fail_fast = fail_fast
        self.status = ConnectionStatus.CONNECTING
        self.error = None
        self.read_only = False
        self.inbox = deque()
        self.synced = threading.Event()
        self.settled = threading.Event()
        self._changed = threading.Condition()
        self._outbox: deque[bytes] = deque()
        self._mirror: Doc[Any] = Doc(client_id=client_id)
        self._loop = BackgroundLoop("ysync-transport")
        self.presence = Presence(
            self._mirror,
            self._loop,
            self._send_soon,
            position=lambda index: position(self._mirror, index),
            before_caret=self._send_outbox_now,
        )
        self._wake: asyncio.Event | None = None
        self._stop: asyncio.Event | None = None
        self._wake_pending = False
        self._connection: Connection | None = None
        self._closing = False
        self._ever_connected = False

    def _connector(self, channel: str, websocket: Connect) -> Connect:
        if channel == "websocket":
            return websocket

        session = new_session()  # one server peer across reconnects: no stale presence

        def http(url: str, headers: dict[str, str]) -> AbstractAsyncContextManager[Any]:
            # Each long poll sends the mirror's state vector: on the loop, like every use of it.
            return http_connect(url, headers, state=self._mirror.get_state, session=session)

        if channel == "http":
            return http
        return lambda url, headers: auto_connect(url, headers, websocket=websocket, http=http)

    # -- called from the user's thread -----------------------------------------------------

    def start(self) -> None:
        """Start the background thread; it connects and keeps reconnecting until closed.

        Raises:
            AlreadyRunning: if the transport was started already.
        """
        self._mark_started()
        self._loop.start(self._main)

    def send_update(self, update: bytes) -> None:
        """Queue a local update; it goes out at once, even while the caller sleeps."""
        self._outbox.append(update)
        if not self._wake_pending:
            self._wake_pending = True
            self._loop.call_soon(self._set_wake)

    def take_inbox(self) -> list[bytes]:
        """Remove and return the remote updates received so far."""
        inbox = self.inbox
        updates = []
        while inbox:
            updates.append(inbox.popleft())
        return updates

    def wait_settled(self, timeout: float) -> ConnectionStatus:
        """Wait until the status is SYNCED, CLOSED or FAILED, or ``timeout`` passes;
        return the status then."""
        with self._changed:
            self._changed.wait_for(lambda: self.status in _SETTLED, timeout)
            return self.status

    def close(self, timeout: float = 5.0) -> None:
        """Send what is queued, say goodbye, and stop the thread.

        Raises:
            NotRunning: if the transport was not started, or was closed already.
        """
        self._mark_stopped()
        self._loop.call_soon(self._begin_close)
        self._loop.join(timeout)

    # -- the connection state --------------------------------------------------------------

    def _transition(self, status: ConnectionStatus) -> None:
        """Move to ``status``, keeping ``synced`` and ``settled`` in step with it.

        Raises:
            RuntimeError: on a transition the connection cannot make (a bug, not bad input).
        """
        current = self.status
        if status is current:
            return
        if current in _ENDS or (status not in _ENDS and status not in _NEXT[current]):
            raise RuntimeError(
                f"connection status cannot go from {current.value} to {status.value}"
            )
        with self._changed:
            self.status = status
            if status is ConnectionStatus.SYNCED:
                self.synced.set()
            else:
                self.synced.clear()
            if status in _SETTLED:
                self.settled.set()
            self._changed.notify_all()
        log.debug("ysync %s: %s", self._public_url(), status.value)
        if self._on_status is not None:
            self._on_status(status)

    def _fail(self, error: YSyncError) -> None:
        self.error = error
        log.warning("ysync %s: %s", self._public_url(), error)
        self._transition(ConnectionStatus.FAILED)

    # -- the transport thread --------------------------------------------------------------

    async def _main(self) -> None:
        self._wake = asyncio.Event()
        self._stop = asyncio.Event()
        attempt = 0
        sender = asyncio.create_task(self._send_loop())
        try:
            while not self._closing:
                if self.status is ConnectionStatus.DISCONNECTED:
                    self._transition(ConnectionStatus.CONNECTING)
                try:
                    await self._session()
                    attempt = 0
                except YSyncError as error:
                    self._fail(error)
                except websockets.InvalidStatus as error:
                    self._refused(error.response.status_code)
                except HttpStatusError as error:
                    self._refused(error.status_code)
                except ConnectionRefusedError as error:
                    if self._fail_fast and not self._ever_connected:
                        host = urlsplit(self.url).netloc
                        self._fail(
                            ConnectionFailed(
                                f"Nothing accepts connections at {host} (connection refused):"
                                " is the Jupyter server running, and is that its address?"
                            )
                        )
                    log.debug("ysync %s: %s", self._public_url(), error)
                except (
                    OSError,
                    EOFError,  # an HTTP response cut short
                    asyncio.TimeoutError,
                    TimeoutError,
                    websockets.WebSocketException,
                ) as error:
                    log.debug("ysync %s: %s", self._public_url(), error)
                if self.error is not None or self._closing:
                    return
                self._transition(ConnectionStatus.DISCONNECTED)
                base, cap = self._backoff
                delay = random.uniform(base / 2, min(cap, base * 2**attempt))  # full jitter
                attempt += 1
                with contextlib.suppress(asyncio.TimeoutError):
                    await asyncio.wait_for(self._stop.wait(), delay)
        finally:
            sender.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await sender
            if self.status not in _ENDS:
                self._transition(ConnectionStatus.CLOSED)

    def _refused(self, status: int) -> None:
        """The server answered the upgrade with an HTTP error."""
        if status in (401, 403):
            self._fail(
                AuthenticationFailed(
                    f"The server refused the credential for {self._public_url()}"
                    f" (HTTP {status}): pass token=... or set {TOKEN_ENV}."
                )
            )
        elif status in (400, 404):
            self._fail(
                ConnectionFailed(
                    f"{self._public_url()} is not a room (HTTP {status}): check the"
                    " room name and that jupyter_ysync is enabled on the server."
                )
            )
        else:
            log.info("ysync %s: HTTP %s, retrying", self._public_url(), status)

    async def _session(self) -> None:
        async with self._connect(self.url, self._headers) as connection:
            self._connection = connection
            self._ever_connected = True
            self.channel = getattr(connection, "channel", "websocket")
            self._transition(ConnectionStatus.CONNECTED)
            renew = asyncio.create_task(self.presence.renew_forever())
            try:
                self._drain_outbox()  # anything queued offline goes into the mirror first
                await connection.send(create_sync_message(self._mirror))
                await connection.send(self.presence.announcement())
                # websockets ends the iteration with ConnectionClosedError for any close code
                # but 1000/1001: the code, read below, decides whether to reconnect.
                with contextlib.suppress(websockets.ConnectionClosed):
                    async for message in connection:
                        if isinstance(message, bytes):
                            await self._handle(connection, message)
            finally:
                self._connection = None
                renew.cancel()
            code = connection.close_code
            if code in _FINAL_CLOSE_CODES and not self._closing:
                raise _FINAL_CLOSE_CODES[code](
                    f"The server closed {self._public_url()} with code {code}:"
                    f" {connection.close_reason or 'no reason given'}"
                )

    async def _handle(self, connection: Connection, message: bytes) -> None:
        try:
            kind, subtype, payload = parse_message(message)
        except MalformedMessage as error:  # the server is ours: reconnecting resyncs
            log.warning("ysync %s: dropped a malformed message: %s", self._public_url(), error)
            await connection.close()
            return
        if kind == MessageType.SYNC:
            if subtype == YSyncMessageType.SYNC_STEP1:
                self._drain_outbox()
                await connection.send(sync_step2_message(self._mirror.get_update(payload)))
                return
            if payload != EMPTY_UPDATE:
                self.inbox.append(payload)
                self._mirror.apply_update(payload)
            if subtype == YSyncMessageType.SYNC_STEP2:
                self._transition(ConnectionStatus.SYNCED)
            if payload != EMPTY_UPDATE or subtype == YSyncMessageType.SYNC_STEP2:
                self._on_remote()
        elif kind == MessageType.AWARENESS:
            self.presence.apply_remote(payload)
        elif kind == MessageType.QUERY_AWARENESS:
            await connection.send(self.presence.announcement())
        elif kind == MessageType.AUTH and not self.read_only:
            self.read_only = True
            log.warning("ysync %s: %s", self._public_url(), payload.decode(errors="replace"))

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
            connection = self._connection
            if update is not None and connection is not None:
                # If the socket drops now, the mirror still holds the update and
                # the next handshake pushes it.
                with contextlib.suppress(websockets.ConnectionClosed):
                    await connection.send(create_update_message(update))

    def _send_outbox_now(self) -> None:
        """Send queued local updates now (before a caret that may point into them)."""
        update = self._drain_outbox()
        if update is not None:  # offline, the mirror holds it and the handshake pushes it
            self._send_soon(create_update_message(update))

    def _send_soon(self, message: bytes) -> None:
        """Send ``message`` if connected; never raises (on the loop's thread)."""
        connection = self._connection
        if connection is not None:
            self._loop.spawn(_send_quietly(connection, message))

    # -- closing ---------------------------------------------------------------------------

    def _begin_close(self) -> None:
        self._closing = True
        if self._stop is not None:
            self._stop.set()
        self._loop.spawn(self._goodbye())

    async def _goodbye(self) -> None:
        connection = self._connection
        if connection is None:
            return
        update = self._drain_outbox()
        gone = self.presence.goodbye()
        with contextlib.suppress(websockets.ConnectionClosed):
            if update is not None:
                await connection.send(create_update_message(update))
            await connection.send(gone)
            await connection.close()

    def _public_url(self) -> str:
        return self.url.split("?", 1)[0]


async def _send_quietly(connection: Connection, message: bytes) -> None:
    with contextlib.suppress(websockets.ConnectionClosed):
        await connection.send(message)
