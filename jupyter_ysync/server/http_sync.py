"""Rooms over plain HTTP requests, for clients whose websockets a proxy strips (or curl).

Every route goes through Jupyter's auth exactly as the websocket does (resource ``ysync``,
the kernel credential, a file room's contents permissions). Errors are JSON
``{"message": ..., "reason": ...}``.

``GET ysync/rooms/{room}/updates?sv=<base64>&wait=<seconds>``
    ``200 application/octet-stream``: the Yjs update (v1) the caller lacks given its state
    vector ``sv`` (base64 or base64url, padding optional; none: the whole document). Headers:
    ``ETag`` (the room's version), ``X-YSync-State-Vector`` (the server's state vector,
    base64url, as ``sv`` takes it). Send the ETag back in ``If-None-Match`` with ``wait``
    for a long poll: the answer comes as soon as the room changes, or after ``wait`` seconds
    with ``304 Not Modified`` (and the same headers). A version tag is needed, not only the
    state vector: deletions do not advance a state vector. An unchanged room costs no encoding.
``POST ysync/rooms/{room}/updates`` (``Content-Type: application/octet-stream``)
    One Yjs update (v1). It goes through the room's pipeline as a peer's, so websocket peers
    receive it like any other, and the answer comes once it is in the store:
    ``200 {"state_vector", "version", "held": 0}``. An update that builds on content the room
    lacks (a clock gap) is kept until that content arrives when the request names a session
    (``202``, ``held`` > 0); without a session nothing could keep it: ``409``, nothing changed.
``GET ysync/rooms/{room}/awareness?wait=<seconds>``
    Every awareness state in the room: JSON ``{"states": [{"client", "clock", "state"}]}``,
    or with ``Accept: application/octet-stream`` one y-protocols awareness update holding them
    all (a client drops the ids it does not list). ``ETag`` and ``If-None-Match`` as above.
``POST ysync/rooms/{room}/awareness`` (a session is required)
    This peer's state: a y-protocols awareness update (``application/octet-stream``), or JSON
    ``{"client": id, "state": {...} | null, "clock": n}`` (``clock`` optional: the next one),
    or a list of those. Answers like the GET without ``wait``.

A *session* (header ``X-YSync-Session`` or ``?session=``, 8-64 characters of ``A-Z a-z 0-9
_ -`` the client chooses) makes the requests one room peer: its awareness states, its held
updates. It expires ``session_timeout`` seconds after its last request ended; the others
then see its states leave. A session the room closed (a deleted room, a refused update)
answers its next request with ``410`` and the close ``code``.

Statuses: 400 (a bad ``sv``, ``wait``, session, body), 401 (no credential), 403 (not allowed;
a read-only user's POST changes nothing), 409, 410, 413 (a body over ``max_message_size``),
415 (an update not sent as ``application/octet-stream``), 503 (the store failed).
"""

from __future__ import annotations

import asyncio
import base64
import binascii
import json
import logging
import re
import secrets
import time
import weakref
from dataclasses import dataclass, field
from typing import Any

from jupyter_server.auth.decorator import allow_unauthenticated
from jupyter_server.base.handlers import APIHandler
from pycrdt import create_awareness_message, create_update_message
from tornado import web

from ..errors import MalformedMessage
from ..protocol import (
    AwarenessEntry,
    CloseCode,
    encode_awareness,
    parse_awareness,
    parse_state_vector,
)
from .handlers import AUTH_RESOURCE, _YSyncAuthMixin, load_file_room
from .manager import RoomManager
from .metrics import HTTP_RECEIVED_BYTES, HTTP_SENT_BYTES, MALFORMED_MESSAGES
from .room import Room

__all__ = [
    "DEFAULT_MAX_WAIT",
    "DEFAULT_SESSION_TIMEOUT",
    "SESSION_HEADER",
    "STATE_VECTOR_HEADER",
    "AwarenessHandler",
    "HttpPeer",
    "HttpSync",
    "UpdatesHandler",
    "decode_base64",
    "encode_base64",
]

DEFAULT_MAX_WAIT = 30.0
"""Longest ``wait`` a long poll may ask for, in seconds (``YSyncApp.http_max_wait``)."""

DEFAULT_SESSION_TIMEOUT = 30.0
"""Seconds an HTTP session lives after its last request (``YSyncApp.http_session_timeout``)."""

SESSION_HEADER = "X-YSync-Session"
STATE_VECTOR_HEADER = "X-YSync-State-Vector"
SESSION_PATTERN = re.compile(r"[A-Za-z0-9_-]{8,64}")
MAX_AWARENESS_BODY = 1024 * 1024
"""Largest awareness POST, in bytes: a state is a name, a colour and a caret."""

OCTET_STREAM = "application/octet-stream"

MAX_SHARED_UPDATES = 8
"""Encodings kept per room version for the state vectors most readers ask with."""

_FINAL_CODES = frozenset(
    {CloseCode.MALFORMED, CloseCode.ROOM_DELETED, CloseCode.TOO_LARGE, CloseCode.FORBIDDEN}
)


def encode_base64(data: bytes) -> str:
    """Base64url without padding: what ``sv=`` takes back verbatim in a URL."""
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode()


def decode_base64(text: str) -> bytes:
    """Decode base64 or base64url, padded or not (a ``+`` a query turned into a space too).

    Raises:
        ValueError: if ``text`` is not base64.
    """
    text = text.strip().replace(" ", "+").replace("+", "-").replace("/", "_").rstrip("=")
    try:
        return base64.urlsafe_b64decode(text + "=" * (-len(text) % 4))
    except (binascii.Error, ValueError) as error:
        raise ValueError(str(error)) from None


def _covers(clocks: dict[int, int], server: dict[int, int]) -> bool:
    """Whether a caller with state vector ``clocks`` has every struct the server has."""
    return all(clocks.get(client, 0) >= clock for client, clock in server.items())


@dataclass(eq=False)
class _RoomTags:
    """What answering a room costs once per change, kept per room instance."""

    epoch: str
    version: int = -1
    state: bytes = b""
    clocks: dict[int, int] = field(default_factory=dict)
    updates: dict[bytes, bytes] = field(default_factory=dict)
    """Updates answered at this version, by the state vector asked with: readers that keep
    up ask with the same one, and share one encoding."""
    awareness_version: int = -1
    awareness_json: bytes = b""
    awareness_binary: bytes = b""

    @property
    def etag(self) -> str:
        return f'"{self.epoch}.{self.version}"'

    @property
    def awareness_etag(self) -> str:
        return f'"{self.epoch}.a{self.awareness_version}"'


class HttpPeer:
    """The room peer behind an HTTP session (or one request, without a session).

    Nothing is ever pushed to it: it pulls with ``GET``. It is in the room from its first
    request until ``session_timeout`` seconds after its last one, or until the room closes it.
    """

    name: str
    can_write: bool
    room: Room
    key: tuple[str, str, str] | None
    active: int
    closed: tuple[int, str] | None
    _expiry: asyncio.TimerHandle | None

    def __init__(self, name: str, room: Room, key: tuple[str, str, str] | None, sync: HttpSync):
        self.name = name
        self.identity: dict[str, Any] | None = None  # who writes, for authorship
        self.can_write = False
        self.room = room
        self.key = key
        self.active = 0
        self.closed = None
        self._expiry = None
        self._sync = sync

    def send_frame(self, frame: bytes) -> None:
        """HTTP peers pull what they lack: nothing is queued for them."""

    def close(self, code: int, reason: str) -> None:
        """The room closes this peer (bad input, deletion, shutdown): end its session."""
        if self.closed is None:
            self.closed = (code, reason)
            self._sync.closed(self)


class HttpSync:
    """The HTTP sessions and per-room answers shared by :class:`UpdatesHandler` and
    :class:`AwarenessHandler`.

    Example::

        sync = HttpSync(manager, session_timeout=30, log=log)
        peer = await sync.acquire("notes", "alice", "0f3c9a1b", "127.0.0.1")
        ...
        sync.release(peer)
        sync.stop()   # every session leaves its room
    """

    sessions: dict[tuple[str, str, str], HttpPeer]
    _gone: dict[tuple[str, str, str], tuple[int, str, float]]
    _tags: weakref.WeakKeyDictionary[Room, _RoomTags]

    def __init__(
        self,
        manager: RoomManager,
        *,
        session_timeout: float = DEFAULT_SESSION_TIMEOUT,
        max_wait: float = DEFAULT_MAX_WAIT,
        log: logging.Logger | None = None,
    ) -> None:
        """
        Args:
            manager: Where rooms are loaded and joined.
            session_timeout: Seconds a session lives after its last request ended.
            max_wait: Longest ``wait`` a long poll may ask for, in seconds.
            log: Logger for sessions and refusals.
        """
        self.manager = manager
        self.session_timeout = session_timeout
        self.max_wait = max_wait
        self.log = log or logging.getLogger(__name__)
        self.sessions = {}
        self._gone = {}
        self._tags = weakref.WeakKeyDictionary()

    # -- sessions --------------------------------------------------------------------------

    async def acquire(
        self, room: str, user: str, session: str | None, remote: str
    ) -> HttpPeer | tuple[int, str]:
        """The session's peer, joining the room on its first request (a new peer for one
        request without a session); or the close code and reason the room ended it with.
        Pair every peer with :meth:`release`."""
        key = (room, user, session) if session else None
        if key is not None:
            gone = self._gone.pop(key, None)
            if gone is not None and gone[2] > time.monotonic():
                return gone[0], gone[1]
            peer = self.sessions.get(key)
            if peer is not None and self.manager.rooms.get(room) is peer.room:
                peer.active += 1
                if peer._expiry is not None:
                    peer._expiry.cancel()
                    peer._expiry = None
                return peer
        label = f"{user}@{remote}/http" + (f":{session[:8]}" if session else "")
        while True:
            live = await self.manager.get(room)
            peer = HttpPeer(label, live, key, self)
            peer.active = 1
            if key is not None:
                stale = self.sessions.get(key)
                if stale is not None and stale.room is not live:
                    self._leave(stale)
                other = self.sessions.get(key)
                if other is not None:  # a concurrent first request joined meanwhile
                    other.active += 1
                    return other
                self.sessions[key] = peer
            joined = await self.manager.join(room, peer)
            if joined is live:
                if key is not None:
                    self.log.debug("ysync: HTTP session %s joined room %s", label, room)
                return peer
            joined.remove_peer(peer)  # unloaded and reloaded meanwhile: join the live one
            if key is not None and self.sessions.get(key) is peer:
                del self.sessions[key]

    def release(self, peer: HttpPeer) -> None:
        """A request of the peer's session ended; the session expires if none follows."""
        peer.active -= 1
        if peer.active > 0 or peer.closed is not None:
            return
        if peer.key is None:  # no session: the peer was for this request only
            self._leave(peer)
            return
        peer._expiry = asyncio.get_running_loop().call_later(
            self.session_timeout, self._expire, peer
        )

    def _expire(self, peer: HttpPeer) -> None:
        peer._expiry = None
        if peer.active == 0:
            self.log.debug("ysync: HTTP session %s in room %s expired", peer.name, peer.room.name)
            self._leave(peer)

    def closed(self, peer: HttpPeer) -> None:
        """The room closed ``peer``: its session's next request hears why (410)."""
        code, reason = peer.closed or (CloseCode.NORMAL, "")
        if peer.key is not None and self.sessions.get(peer.key) is peer:
            expires = time.monotonic() + self.session_timeout
            self._gone[peer.key] = (code, reason, expires)
        # Not from inside the room's transaction that refused it: on the next loop iteration.
        asyncio.get_running_loop().call_soon(self._leave, peer)

    def forget_close(self, peer: HttpPeer) -> None:
        """The request that caused the close reported it: the session need not hear it again."""
        if peer.key is not None:
            self._gone.pop(peer.key, None)

    def _leave(self, peer: HttpPeer) -> None:
        if peer._expiry is not None:
            peer._expiry.cancel()
            peer._expiry = None
        if peer.key is not None and self.sessions.get(peer.key) is peer:
            del self.sessions[peer.key]
        peer.room.remove_peer(peer)

    def stop(self) -> None:
        """Every session leaves its room (their states leave with them)."""
        for peer in list(self.sessions.values()):
            self._leave(peer)
        self._gone.clear()

    # -- answers, computed once per change -------------------------------------------------

    def tags(self, room: Room) -> _RoomTags:
        """The room's version tags, state vector and awareness encodings, refreshed when they
        changed. Call it while the room is not busy (after ``await room.flushed()``)."""
        tags = self._tags.get(room)
        if tags is None:
            tags = self._tags[room] = _RoomTags(epoch=secrets.token_hex(4))
        if tags.version != room.version:
            tags.state = room.doc.get_state()
            tags.clocks = parse_state_vector(tags.state)
            tags.updates = {}
            tags.version = room.version
        if tags.awareness_version != room.awareness_version:
            awareness = room.awareness
            clients = list(awareness.states)
            tags.awareness_binary = awareness.encode_awareness_update(clients)
            states = [
                {"client": client, "clock": awareness.meta[client]["clock"], "state": state}
                for client, state in awareness.states.items()
            ]
            tags.awareness_json = json.dumps({"room": room.name, "states": states}).encode()
            tags.awareness_version = room.awareness_version
        return tags


def _etag(value: str | None) -> str | None:
    if not value:
        return None
    value = value.strip()
    return value[2:] if value.startswith("W/") else value


@web.stream_request_body
class _HttpSyncHandler(_YSyncAuthMixin, APIHandler):
    """Authentication before the body is read, a bounded body, JSON errors."""

    auth_resource = AUTH_RESOURCE
    sync: HttpSync
    room_name: str = ""
    _limit: int = 0
    _chunks: list[bytes]
    _size: int = 0
    _too_large: bool = False
    _gone: bool = False

    def initialize(
        self, manager: RoomManager, kernel_token: str, sync: HttpSync, max_message_size: int
    ) -> None:
        self.manager = manager
        self.kernel_token = kernel_token
        self.sync = sync
        self._max_message_size = max_message_size
        self._chunks = []

    def _body_limit(self) -> int:
        return self._max_message_size

    async def prepare(self, **kwargs: Any) -> None:
        """Authenticate, authorize and check the declared size before reading any body."""
        await super().prepare(**kwargs)
        self.room_name = self._room_name(self.path_kwargs["room"])
        self.set_header("Cache-Control", "no-store")
        if self.request.method == "POST":
            self._limit = self._body_limit()
            declared = self.request.headers.get("Content-Length")
            if declared is not None and declared.isdigit() and int(declared) > self._limit:
                raise self._too_large_error()
            # Tornado drops a connection whose body (chunked) grows past this.
            self.request.connection.set_max_body_size(self._limit)

    def check_xsrf_cookie(self) -> None:
        """Nobody authenticated, nothing to forge: such a request is answered 401 instead."""
        if getattr(self, "_jupyter_current_user", None) is not None:
            super().check_xsrf_cookie()

    def data_received(self, chunk: bytes) -> None:
        self._size += len(chunk)
        if self._size > self._limit:
            self._too_large = True
            self._chunks = []
        elif not self._too_large:
            self._chunks.append(chunk)

    def _body(self) -> bytes:
        if self._too_large:
            raise self._too_large_error()
        return b"".join(self._chunks)

    def _too_large_error(self) -> web.HTTPError:
        return web.HTTPError(
            413,
            reason="Request Entity Too Large",
            log_message=f"the body is larger than {self._limit} bytes"
            " (YSyncApp.max_message_size): send smaller updates.",
        )

    def on_connection_close(self) -> None:
        self._gone = True  # a long poll ends at its next wake-up rather than answer no one

    def _session(self) -> str | None:
        session = self.request.headers.get(SESSION_HEADER) or self.get_argument("session", "")
        if not session:
            return None
        if not SESSION_PATTERN.fullmatch(session):
            raise web.HTTPError(
                400,
                reason="Invalid session",
                log_message=f"session {session[:80]!r}: use 8-64 characters of A-Z a-z 0-9 _ -,"
                " random per client (e.g. 16 random bytes in base64url).",
            )
        return session

    def _wait(self) -> float:
        raw = self.get_argument("wait", "0")
        try:
            wait = float(raw)
        except ValueError:
            wait = -1.0
        if not 0 <= wait <= self.sync.max_wait:  # also refuses nan
            raise web.HTTPError(
                400,
                reason="Invalid wait",
                log_message=f"wait={raw[:40]!r}: give seconds from 0 to {self.sync.max_wait:g}"
                " (YSyncApp.http_max_wait), and poll again.",
            )
        return wait

    async def _check_file(self, action: str) -> None:
        """A file's room follows the file's permissions, and is bound to its file first."""
        if await self._require_file(self.room_name, action):
            bound = await load_file_room(self.settings["ysync_files"], self.room_name)
            if action == "write" and not bound.writable:
                raise web.HTTPError(
                    403,
                    reason="Forbidden",
                    log_message=f"{bound.path} is read-only on disk, so is its room.",
                )

    def _user(self) -> str:
        user = self.current_user
        return str(getattr(user, "username", user))

    async def _acquire(self, session: str | None) -> HttpPeer:
        peer = await self.sync.acquire(
            self.room_name, self._user(), session, self.request.remote_ip or "?"
        )
        if not isinstance(peer, tuple) and peer.identity is None:
            history = self.settings.get("ysync_history")
            user = self.current_user
            if history is not None:
                peer.identity = history.identity_of(
                    str(getattr(user, "username", user)), getattr(user, "display_name", None)
                )
        if isinstance(peer, tuple):
            code, reason = peer
            self.set_status(410, "Session closed")
            self.finish(
                json.dumps(
                    {
                        "message": f"the room closed this session (code {code}): {reason}"
                        + ("" if code in _FINAL_CODES else "; start a new session"),
                        "reason": "Session closed",
                        "code": code,
                    }
                )
            )
            raise web.Finish()
        return peer

    async def _wait_changed(self, room: Room, deadline: float, changed: Any) -> _RoomTags | None:
        """Wait until ``changed(tags)`` holds or ``deadline`` passes (then None)."""
        loop = asyncio.get_running_loop()
        while True:
            await room.flushed()  # answer only what is stored: the invariant of the room
            tags = self.sync.tags(room)
            if changed(tags):
                return tags
            remaining = deadline - loop.time()
            if remaining <= 0 or self._gone:
                return None
            await room.wait_changed(tags.version, tags.awareness_version, remaining)

    def _not_modified(self, etag: str, tags: _RoomTags) -> None:
        self.set_status(304)
        self.set_header("ETag", etag)
        self.set_header(STATE_VECTOR_HEADER, encode_base64(tags.state))
        self.finish(set_content_type=OCTET_STREAM)


class UpdatesHandler(_HttpSyncHandler):
    """``ysync/rooms/{room}/updates``: pull what you lack (a long poll), push an update."""

    @allow_unauthenticated
    async def get(self, room: str) -> None:
        """The update the caller lacks, as soon as there is one (see the module docstring)."""
        await self._require("read")
        await self._check_file("read")
        raw = self.get_argument("sv", "")
        try:
            state = decode_base64(raw) if raw else b"\x00"
            clocks = parse_state_vector(state)
        except (ValueError, MalformedMessage) as error:
            raise web.HTTPError(
                400,
                reason="Invalid state vector",
                log_message=f"sv={raw[:40]!r} is not a base64 Yjs state vector ({error}): send"
                " the base64url of Y.encodeStateVector(doc), or nothing for the whole document.",
            ) from None
        wait = self._wait()
        session = self._session()
        known = _etag(self.request.headers.get("If-None-Match"))
        self._track_activity = False  # a poll is not a user's activity
        loop = asyncio.get_running_loop()
        deadline = loop.time() + wait
        if session is None:
            await self._get_updates(
                await self.manager.get(self.room_name), None, state, clocks, known, deadline
            )
            return
        peer = await self._acquire(session)
        try:
            await self._get_updates(peer.room, peer, state, clocks, known, deadline)
        finally:
            self.sync.release(peer)

    async def _get_updates(
        self,
        room: Room,
        peer: HttpPeer | None,
        state: bytes,
        clocks: dict[int, int],
        known: str | None,
        deadline: float,
    ) -> None:
        if known is None and peer is not None and room.on_state_vector is not None:
            room.on_state_vector(peer, clocks)  # a file's room imports its file on a first sync
        tags = await self._wait_changed(
            room, deadline, lambda t: t.etag != known or not _covers(clocks, t.clocks)
        )
        if tags is None:
            self._not_modified(known or "", self.sync.tags(room))
            return
        update = tags.updates.get(state)
        if update is None:
            try:
                update = room.doc.get_update(state)
            except Exception as error:  # Yrs refused a state vector the parser accepted
                raise web.HTTPError(
                    400, reason="Invalid state vector", log_message=f"sv refused: {error}"
                ) from None
            if len(tags.updates) < MAX_SHARED_UPDATES:
                tags.updates[state] = update
        self.set_header("ETag", tags.etag)
        self.set_header(STATE_VECTOR_HEADER, encode_base64(tags.state))
        HTTP_SENT_BYTES.inc(len(update))
        self.finish(update, set_content_type=OCTET_STREAM)

    @allow_unauthenticated
    async def post(self, room: str) -> None:
        """Commit one update; answer once it is stored (see the module docstring)."""
        await self._require("write")
        await self._check_file("write")
        body = self._body()
        kind = self.request.headers.get("Content-Type", "").split(";")[0].strip().lower()
        if kind != OCTET_STREAM:
            raise web.HTTPError(
                415,
                reason="Unsupported Media Type",
                log_message=f"Content-Type {kind or 'none'!r}: send the update's bytes as"
                f" {OCTET_STREAM} (curl: --data-binary @update.bin -H 'Content-Type:"
                f" {OCTET_STREAM}').",
            )
        if not body:
            raise web.HTTPError(
                400,
                reason="Malformed update",
                log_message="empty body: send one Yjs update (v1 encoding), e.g."
                " Y.encodeStateAsUpdate(doc).",
            )
        session = self._session()
        peer = await self._acquire(session)
        try:
            await self._post_update(peer, body, session is not None)
        finally:
            self.sync.release(peer)

    async def _post_update(self, peer: HttpPeer, body: bytes, kept: bool) -> None:
        room = peer.room
        peer.can_write = True  # authorized above, for this request
        HTTP_RECEIVED_BYTES.inc(len(body))
        try:
            room.receive(peer, create_update_message(body))
        except MalformedMessage as error:
            MALFORMED_MESSAGES.labels("http").inc()
            raise web.HTTPError(
                400,
                reason="Malformed update",
                log_message=f"not a Yjs update (v1 encoding): {error}",
            ) from None
        finally:
            peer.can_write = False
        await room.flushed()
        if peer.closed is not None:
            self.sync.forget_close(peer)
            raise web.HTTPError(400, reason="Malformed update", log_message=peer.closed[1])
        if room.failed:
            raise web.HTTPError(
                503,
                reason="Not saved",
                log_message=f"the server could not save room {room.name!r}; try again later.",
            )
        held = room.held(peer)
        tags = self.sync.tags(room)
        reply = {"state_vector": encode_base64(tags.state), "version": tags.etag, "held": held}
        if held and not kept:
            raise web.HTTPError(
                409,
                reason="Missing content",
                log_message=f"the update builds on content room {room.name!r} does not have"
                f" (its state vector: {reply['state_vector']}): send that content first, or"
                f" send a {SESSION_HEADER} header so the server keeps the update until it"
                " arrives. Nothing was stored.",
            )
        if held:
            self.set_status(202)
        self.finish(json.dumps(reply))


class AwarenessHandler(_HttpSyncHandler):
    """``ysync/rooms/{room}/awareness``: everyone's presence, and this session's own."""

    def _body_limit(self) -> int:
        return min(self._max_message_size, MAX_AWARENESS_BODY)

    def _binary(self) -> bool:
        return OCTET_STREAM in self.request.headers.get("Accept", "")

    def _states(self, tags: _RoomTags) -> None:
        self.set_header("ETag", tags.awareness_etag)
        if self._binary():
            self.finish(tags.awareness_binary, set_content_type=OCTET_STREAM)
        else:
            self.finish(tags.awareness_json)

    @allow_unauthenticated
    async def get(self, room: str) -> None:
        """Every awareness state, as soon as one changed (see the module docstring)."""
        await self._require("read")
        await self._check_file("read")
        wait = self._wait()
        session = self._session()
        known = _etag(self.request.headers.get("If-None-Match"))
        self._track_activity = False
        deadline = asyncio.get_running_loop().time() + wait
        peer = await self._acquire(session) if session else None
        try:
            live = peer.room if peer else await self.manager.get(self.room_name)
            tags = await self._wait_changed(live, deadline, lambda t: t.awareness_etag != known)
            if tags is None:
                self.set_status(304)
                self.set_header("ETag", known or "")
                self.finish()
                return
            self._states(tags)
        finally:
            if peer is not None:
                self.sync.release(peer)

    @allow_unauthenticated
    async def post(self, room: str) -> None:
        """Set this session's awareness state(s); answer with everyone's."""
        await self._require("read")  # presence is not an edit: read-only users have it too
        await self._check_file("read")
        body = self._body()
        session = self._session()
        if session is None:
            raise web.HTTPError(
                400,
                reason="Session required",
                log_message=f"awareness belongs to a session: send a {SESSION_HEADER} header"
                " (8-64 characters of A-Z a-z 0-9 _ -) with every request of this client.",
            )
        peer = await self._acquire(session)
        try:
            live = peer.room
            try:
                HTTP_RECEIVED_BYTES.inc(len(body))
                update = self._awareness_update(live, body)
                live.receive(peer, create_awareness_message(update))
            except MalformedMessage as error:
                MALFORMED_MESSAGES.labels("http").inc()
                raise web.HTTPError(
                    400, reason="Invalid awareness", log_message=str(error)
                ) from None
            if peer.closed is not None:
                self.sync.forget_close(peer)
                raise web.HTTPError(400, reason="Invalid awareness", log_message=peer.closed[1])
            await live.flushed()
            self._states(self.sync.tags(live))
        finally:
            self.sync.release(peer)

    def _awareness_update(self, room: Room, body: bytes) -> bytes:
        kind = self.request.headers.get("Content-Type", "").split(";")[0].strip().lower()
        if kind != "application/json":
            parse_awareness(body)  # refused here with what was wrong
            return body
        try:
            data = json.loads(body)
        except (ValueError, RecursionError) as error:
            raise MalformedMessage(f"the body is not JSON: {error}") from None
        items = data if isinstance(data, list) else [data]
        entries = []
        for item in items:
            client = item.get("client") if isinstance(item, dict) else None
            if not isinstance(client, int) or isinstance(client, bool) or client < 0:
                raise MalformedMessage(
                    'send {"client": <your Yjs client id>, "state": {...} or null}'
                    ' (optionally "clock"), or a list of those'
                )
            clock = item.get("clock")
            if clock is None:
                clock = room.awareness.meta.get(client, {}).get("clock", 0) + 1
            if not isinstance(clock, int) or isinstance(clock, bool) or clock < 0:
                raise MalformedMessage(f"clock {clock!r} of client {client}: a natural number")
            entries.append(AwarenessEntry(client, clock, json.dumps(item.get("state"))))
        update = encode_awareness(entries)
        parse_awareness(update)  # ids and clocks within 53 bits
        return update


def http_sync_handlers(
    manager: RoomManager,
    kernel_token: str,
    sync: HttpSync,
    *,
    max_message_size: int,
) -> list[tuple[str, type[APIHandler], dict[str, Any]]]:
    """The routes, to register before ``ysync/rooms/{room}`` (see the module docstring)."""
    common = {
        "manager": manager,
        "kernel_token": kernel_token,
        "sync": sync,
        "max_message_size": max_message_size,
    }
    return [
        (r"/ysync/rooms/(?P<room>[^/]+)/updates", UpdatesHandler, common),
        (r"/ysync/rooms/(?P<room>[^/]+)/awareness", AwarenessHandler, common),
    ]
