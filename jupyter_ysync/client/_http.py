"""The Python peer's HTTP channel: the y-websocket conversation carried by plain requests.

Where a proxy strips websocket upgrades, :class:`HttpConnection` stands in for the websocket:
it takes and yields y-websocket messages, so the transport's handshake, reconnection, offline
edits and presence run unchanged over it. Underneath it speaks the server's HTTP routes
(``jupyter_ysync.server.http_sync``): a sync step 1 becomes ``GET .../updates?sv=``, an update
a ``POST .../updates`` (answered once stored), an awareness message a ``POST .../awareness``;
two long polls (``GET .../updates?wait=`` and ``GET .../awareness?wait=``) bring what others
send. All requests carry one random session id: the server sees one peer.

:func:`auto_connect` tries the websocket first and falls back to HTTP when the handshake is
refused or stripped (any HTTP answer but 101 other than 401/403, or no answer in time).
"""

from __future__ import annotations

import asyncio
import base64
import contextlib
import json
import logging
import secrets
import ssl
from collections.abc import AsyncIterator, Callable
from contextlib import AbstractAsyncContextManager
from dataclasses import dataclass
from typing import Any
from urllib.parse import parse_qsl, quote, urlencode, urlsplit

import websockets
from pycrdt import YSyncMessageType, create_awareness_message, create_update_message

from ..protocol import (
    EMPTY_UPDATE,
    CloseCode,
    MessageType,
    parse_awareness,
    parse_message,
    permission_denied_message,
    sync_step2_message,
    write_var_uint,
)

log = logging.getLogger("jupyter_ysync")

SESSION_HEADER = "X-YSync-Session"
STATE_VECTOR_HEADER = "x-ysync-state-vector"
OCTET_STREAM = "application/octet-stream"

POLL_WAIT = 25.0
"""Seconds each long poll asks the server to wait (its default maximum is 30)."""

REQUEST_SLACK = 15.0
"""Seconds a request may take beyond what it asked the server to wait."""

POST_TIMEOUT = 120.0
"""Seconds a POST may take: it is answered once the update is stored."""

MAX_RESPONSE = 1 << 31
"""Largest response body read, in bytes."""

_FINAL_STATUS = {
    400: CloseCode.MALFORMED,
    401: CloseCode.NOT_AUTHENTICATED,
    413: CloseCode.TOO_LARGE,
}


class HttpStatusError(Exception):
    """The server answered a request with an HTTP error status.

    Attributes:
        status_code: The HTTP status.
        message: The JSON ``message`` of the answer, if any.
    """

    def __init__(self, status_code: int, message: str = "") -> None:
        super().__init__(f"HTTP {status_code}: {message}" if message else f"HTTP {status_code}")
        self.status_code = status_code
        self.message = message


@dataclass
class Response:
    """One HTTP response."""

    status: int
    headers: dict[str, str]
    """Lower-case names."""
    body: bytes

    def message(self) -> str:
        """The ``message`` of a JSON error answer, or the start of the body."""
        with contextlib.suppress(ValueError, AttributeError):
            return str(json.loads(self.body).get("message", ""))
        return self.body[:200].decode(errors="replace")


class Lane:
    """One keep-alive HTTP/1.1 connection carrying one request at a time.

    Example::

        lane = Lane("http", "127.0.0.1", 8888)
        response = await lane.request("GET", "/api/status", {}, timeout=10)
        lane.close()
    """

    _reader: asyncio.StreamReader | None
    _writer: asyncio.StreamWriter | None

    def __init__(self, scheme: str, host: str, port: int) -> None:
        self._scheme = scheme
        self._host = host
        self._port = port
        self._reader = None
        self._writer = None

    async def request(
        self,
        method: str,
        target: str,
        headers: dict[str, str],
        body: bytes = b"",
        *,
        timeout: float,
    ) -> Response:
        """Send a request and read its response.

        Raises:
            OSError, asyncio.IncompleteReadError, TimeoutError: the connection failed.
        """
        for attempt in (0, 1):
            reused = self._writer is not None
            try:
                return await asyncio.wait_for(
                    self._exchange(method, target, headers, body), timeout
                )
            except (ConnectionError, asyncio.IncompleteReadError):
                self.close()
                if not reused or attempt:  # a kept-alive connection the server closed: retry
                    raise
            except (ValueError, asyncio.LimitOverrunError) as error:
                self.close()
                raise ConnectionError(f"not an HTTP/1.1 response: {error}") from None
            except BaseException:
                self.close()
                raise
        raise AssertionError("unreachable")

    async def _exchange(
        self, method: str, target: str, headers: dict[str, str], body: bytes
    ) -> Response:
        if self._writer is None:
            context = ssl.create_default_context() if self._scheme == "https" else None
            self._reader, self._writer = await asyncio.open_connection(
                self._host, self._port, ssl=context
            )
        reader, writer = self._reader, self._writer
        assert reader is not None
        host = self._host if ":" not in self._host else f"[{self._host}]"
        lines = [f"{method} {target} HTTP/1.1", f"Host: {host}:{self._port}"]
        lines += [f"{name}: {value}" for name, value in headers.items()]
        if body or method == "POST":
            lines.append(f"Content-Length: {len(body)}")
        writer.write(("\r\n".join(lines) + "\r\n\r\n").encode("latin-1") + body)
        await writer.drain()
        status_line = await reader.readuntil(b"\r\n")
        parts = status_line.decode("latin-1").split(" ", 2)
        if len(parts) < 2 or not parts[1].isdigit():
            raise ConnectionError(f"not an HTTP response: {status_line[:80]!r}")
        status = int(parts[1])
        received: dict[str, str] = {}
        while True:
            line = await reader.readuntil(b"\r\n")
            if line == b"\r\n":
                break
            name, _, value = line.decode("latin-1").partition(":")
            received[name.strip().lower()] = value.strip()
        data = await self._body(reader, method, status, received)
        if received.get("connection", "").lower() == "close":
            self.close()
        return Response(status, received, data)

    async def _body(
        self, reader: asyncio.StreamReader, method: str, status: int, headers: dict[str, str]
    ) -> bytes:
        if method == "HEAD" or status in (204, 304) or 100 <= status < 200:
            return b""
        if headers.get("transfer-encoding", "").lower() == "chunked":
            chunks: list[bytes] = []
            while True:
                size = int((await reader.readuntil(b"\r\n")).split(b";")[0], 16)
                if size > MAX_RESPONSE:
                    raise ConnectionError(f"a chunk of {size} bytes")
                if size == 0:
                    while await reader.readuntil(b"\r\n") != b"\r\n":
                        pass  # trailers
                    return b"".join(chunks)
                chunks.append(await reader.readexactly(size))
                await reader.readexactly(2)
        length = headers.get("content-length")
        if length is not None:
            if not length.isdigit() or int(length) > MAX_RESPONSE:
                raise ConnectionError(f"Content-Length {length!r}")
            return await reader.readexactly(int(length))
        data = await reader.read()  # until the server closes
        self.close()
        return data

    def close(self) -> None:
        """Close the connection (the next request opens another)."""
        writer, self._writer, self._reader = self._writer, None, None
        if writer is not None:
            writer.close()


def http_url(url: str) -> tuple[str, str, int, str, list[tuple[str, str]]]:
    """Split a room's ``ws(s)://`` or ``http(s)://`` URL into scheme, host, port, path, query."""
    parts = urlsplit(url)
    scheme = "https" if parts.scheme in ("wss", "https") else "http"
    port = parts.port or (443 if scheme == "https" else 80)
    return scheme, parts.hostname or "127.0.0.1", port, parts.path, parse_qsl(parts.query)


def _sync_step1(state: bytes) -> bytes:
    return (
        bytes((MessageType.SYNC, YSyncMessageType.SYNC_STEP1)) + write_var_uint(len(state)) + state
    )


def _b64(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode()


def _unb64(text: str) -> bytes:
    text = text.strip().rstrip("=")
    return base64.urlsafe_b64decode(text + "=" * (-len(text) % 4))


class HttpConnection:
    """A room's y-websocket conversation over HTTP requests (see the module docstring).

    Example::

        async with http_connect(url, headers, state=mirror.get_state) as connection:
            await connection.send(create_sync_message(mirror))
            async for message in connection:
                ...
    """

    channel = "http"
    close_code: int | None
    close_reason: str | None

    def __init__(
        self,
        url: str,
        headers: dict[str, str],
        state: Callable[[], bytes],
        *,
        session: str | None = None,
        wait: float = POLL_WAIT,
    ) -> None:
        """
        Args:
            url: The room's URL (``ws(s)://`` or ``http(s)://``, a ``token`` query kept).
            headers: Sent with every request (the credential).
            state: This peer's state vector now (the transport's mirror's), for each poll.
            session: The session id (default: a new random one). Reuse it across reconnects:
                the server then still knows this peer (its presence, its held updates).
            wait: Seconds each long poll asks the server to wait.
        """
        scheme, host, port, path, query = http_url(url)
        self._lanes = [Lane(scheme, host, port) for _ in range(3)]
        self._post, self._updates_lane, self._awareness_lane = self._lanes
        self._path = path.rstrip("/")
        self._query = query
        self._headers = {**headers, SESSION_HEADER: session or new_session()}
        self._state = state
        self._wait = wait
        self._incoming: asyncio.Queue[bytes | None] = asyncio.Queue()
        self._post_lock = asyncio.Lock()
        self._polls: list[asyncio.Task[None]] = []
        self._updates_tag: str | None = None
        self._awareness_tag: str | None = None
        self._listed: dict[int, int] = {}
        self._ended = False
        self.close_code = None
        self.close_reason = None

    def _target(self, route: str, **params: str) -> str:
        query = urlencode([*self._query, *params.items()])
        return f"{quote(self._path)}/{route}" + (f"?{query}" if query else "")

    # -- what the transport calls ----------------------------------------------------------

    async def open(self) -> None:
        """Join: read everyone's presence (which also checks the credential and the route).

        Raises:
            HttpStatusError: the server refused the request.
            OSError, TimeoutError: the server could not be reached.
        """
        response = await self._awareness_lane.request(
            "GET",
            self._target("awareness"),
            {**self._headers, "Accept": OCTET_STREAM},
            timeout=REQUEST_SLACK,
        )
        if response.status != 200:
            raise HttpStatusError(response.status, response.message())
        self._awareness_tag = response.headers.get("etag")
        self._deliver_awareness(response.body)

    async def send(self, message: bytes) -> None:
        """Carry one y-websocket message; never raises (a failure ends the connection)."""
        if self._ended:
            return  # the mirror keeps the update: the next handshake pushes it
        kind, subtype, payload = parse_message(message)
        try:
            if kind == MessageType.SYNC and subtype == YSyncMessageType.SYNC_STEP1:
                await self._sync(payload)
            elif kind == MessageType.SYNC:
                if payload != EMPTY_UPDATE:
                    await self._post_update(payload)
            elif kind == MessageType.AWARENESS:
                await self._post_awareness(payload)
        except (OSError, asyncio.IncompleteReadError, asyncio.TimeoutError) as error:
            self._end(None, f"request failed: {error}")

    def __aiter__(self) -> AsyncIterator[bytes]:
        return self._messages()

    async def _messages(self) -> AsyncIterator[bytes]:
        while True:
            message = await self._incoming.get()
            if message is None:
                return
            yield message
            self._incoming.task_done()  # handled: the next poll sends a fresh state vector

    async def close(self) -> None:
        """End the conversation (the server's session expires on its own)."""
        self._end(CloseCode.NORMAL, "closed")

    async def aclose(self) -> None:
        """Stop the polls and close every connection."""
        self._end(self.close_code or CloseCode.NORMAL, self.close_reason or "closed")
        polls, self._polls = self._polls, []
        for task in polls:
            task.cancel()
        for task in polls:
            with contextlib.suppress(asyncio.CancelledError, Exception):
                await task
        for lane in self._lanes:
            lane.close()

    # -- requests --------------------------------------------------------------------------

    async def _sync(self, state: bytes) -> None:
        """Sync step 1: fetch what this peer lacks, and learn what the server lacks."""
        response = await self._updates_lane.request(
            "GET", self._target("updates", sv=_b64(state)), self._headers, timeout=REQUEST_SLACK
        )
        if response.status != 200:
            self._failed(response)
            return
        self._updates_tag = response.headers.get("etag")
        server = _unb64(response.headers.get(STATE_VECTOR_HEADER, ""))
        self._incoming.put_nowait(_sync_step1(server))  # answered with what the server lacks
        self._incoming.put_nowait(sync_step2_message(response.body))
        if not self._polls:
            loop = asyncio.get_running_loop()
            self._polls = [
                loop.create_task(self._poll(self._poll_updates)),
                loop.create_task(self._poll(self._poll_awareness)),
            ]

    async def _post_update(self, update: bytes) -> None:
        async with self._post_lock:
            response = await self._post.request(
                "POST",
                self._target("updates"),
                {**self._headers, "Content-Type": OCTET_STREAM},
                update,
                timeout=POST_TIMEOUT,
            )
        if response.status == 202:  # held for content the server lacks: send it
            with contextlib.suppress(ValueError, KeyError, TypeError):
                server = _unb64(json.loads(response.body)["state_vector"])
                self._incoming.put_nowait(_sync_step1(server))
        elif response.status == 403:  # read-only: say so as the websocket does
            self._incoming.put_nowait(permission_denied_message(response.message()))
        elif response.status != 200:
            self._failed(response)

    async def _post_awareness(self, update: bytes) -> None:
        async with self._post_lock:
            response = await self._post.request(
                "POST",
                self._target("awareness"),
                {**self._headers, "Content-Type": OCTET_STREAM, "Accept": OCTET_STREAM},
                update,
                timeout=REQUEST_SLACK,
            )
        if response.status != 200:
            self._failed(response)

    async def _poll(self, poll: Callable[[], Any]) -> None:
        try:
            while not self._ended:
                await poll()
        except (OSError, asyncio.IncompleteReadError, asyncio.TimeoutError) as error:
            self._end(None, f"long poll failed: {error}")

    async def _poll_updates(self) -> None:
        headers = dict(self._headers)
        if self._updates_tag:
            headers["If-None-Match"] = self._updates_tag
        target = self._target("updates", sv=_b64(self._state()), wait=f"{self._wait:g}")
        response = await self._updates_lane.request(
            "GET", target, headers, timeout=self._wait + REQUEST_SLACK
        )
        if response.status == 304:
            return
        if response.status != 200:
            self._failed(response)
            return
        self._updates_tag = response.headers.get("etag")
        if response.body != EMPTY_UPDATE:
            self._incoming.put_nowait(create_update_message(response.body))
            await self._incoming.join()  # applied to the mirror before the next poll

    async def _poll_awareness(self) -> None:
        headers = {**self._headers, "Accept": OCTET_STREAM}
        if self._awareness_tag:
            headers["If-None-Match"] = self._awareness_tag
        target = self._target("awareness", wait=f"{self._wait:g}")
        response = await self._awareness_lane.request(
            "GET", target, headers, timeout=self._wait + REQUEST_SLACK
        )
        if response.status == 304:
            return
        if response.status != 200:
            self._failed(response)
            return
        self._awareness_tag = response.headers.get("etag")
        self._deliver_awareness(response.body)

    def _deliver_awareness(self, update: bytes) -> None:
        """Everyone's states: applied as one update, with the clients no longer listed gone."""
        entries = parse_awareness(update)
        listed = {entry.client: entry.clock for entry in entries}
        gone = [(client, clock) for client, clock in self._listed.items() if client not in listed]
        self._listed = listed
        if gone:  # a null state at the clock last seen removes it (y-protocols' rule)
            parts = [write_var_uint(len(entries) + len(gone))]
            for entry in entries:
                data = entry.state.encode()
                parts += [write_var_uint(entry.client), write_var_uint(entry.clock)]
                parts += [write_var_uint(len(data)), data]
            for client, clock in gone:
                parts += [write_var_uint(client), write_var_uint(clock), write_var_uint(4), b"null"]
            update = b"".join(parts)
        self._incoming.put_nowait(create_awareness_message(update))

    def _failed(self, response: Response) -> None:
        """An error answer: end the connection, for good where the websocket would."""
        message = response.message()
        code: int | None = _FINAL_STATUS.get(response.status)
        if response.status == 410:  # the room closed this session: with its close code
            with contextlib.suppress(ValueError, AttributeError, TypeError):
                code = int(json.loads(response.body).get("code"))
        log.debug("ysync %s: HTTP %s: %s", self._path, response.status, message)
        self._end(code, f"HTTP {response.status}: {message}")

    def _end(self, code: int | None, reason: str) -> None:
        if self._ended:
            return
        self._ended = True
        self.close_code = code
        self.close_reason = reason
        self._incoming.put_nowait(None)


def new_session() -> str:
    """A random session id (22 characters of base64url)."""
    return secrets.token_urlsafe(16)


@contextlib.asynccontextmanager
async def http_connect(
    url: str,
    headers: dict[str, str],
    *,
    state: Callable[[], bytes],
    session: str | None = None,
    wait: float = POLL_WAIT,
) -> AsyncIterator[HttpConnection]:
    """An :class:`HttpConnection` to ``url``, open for the ``async with`` block.

    Raises:
        HttpStatusError: the server refused the first request.
    """
    connection = HttpConnection(url, headers, state, session=session, wait=wait)
    try:
        await connection.open()
        yield connection
    finally:
        await connection.aclose()


Connector = Callable[[str, dict[str, str]], AbstractAsyncContextManager[Any]]


@contextlib.asynccontextmanager
async def auto_connect(
    url: str, headers: dict[str, str], *, websocket: Connector, http: Connector
) -> AsyncIterator[Any]:
    """The websocket if its handshake goes through; else the HTTP channel.

    A refused credential (401/403) is not a reason to fall back: it raises as it would.
    """
    async with contextlib.AsyncExitStack() as stack:
        try:
            connection = await stack.enter_async_context(websocket(url, headers))
        except (websockets.InvalidHandshake, asyncio.TimeoutError, TimeoutError) as error:
            status = getattr(getattr(error, "response", None), "status_code", None)
            if status in (401, 403):
                raise
            why = f"HTTP {status} without an upgrade" if status else type(error).__name__
            log.info(
                "ysync %s: the websocket handshake failed (%s); using HTTP long polls",
                url.split("?", 1)[0],
                why,
            )
            connection = await stack.enter_async_context(http(url, headers))
        yield connection
