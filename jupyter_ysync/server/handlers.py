"""HTTP and websocket handlers: authenticate, validate, delegate, map errors.

Every route goes through Jupyter's IdentityProvider and Authorizer (resource
``ysync``, actions ``read``/``write``). The kernel credential is the one
alternative: a token the extension hands to kernels, accepted on these routes
only and mapped to a dedicated kernel user that still passes the Authorizer.
"""

from __future__ import annotations

import asyncio
import hmac
import json
import time
from typing import Any, cast

from jupyter_server.auth.decorator import allow_unauthenticated
from jupyter_server.auth.identity import User
from jupyter_server.base.handlers import APIHandler, JupyterHandler
from jupyter_server.base.websocket import WebSocketMixin
from pycrdt import Text
from tornado import web
from tornado.iostream import IOStream, StreamBufferFullError, StreamClosedError
from tornado.websocket import WebSocketHandler, WebSocketProtocol, WebSocketProtocol13

from ..errors import FileRefused, InvalidRoomName, MalformedMessage, RoomNotFound
from ..protocol import ROOT_TEXT, CloseCode, validate_room_name
from ..richtext import RichText
from .file_room import FileRoom, is_file_room
from .files import FileRooms
from .framing import RoomProtocol, close_reason
from .manager import RoomInfo, RoomManager
from .metrics import (
    MALFORMED_MESSAGES,
    SLOW_PEERS_DROPPED,
    WEBSOCKET_RECEIVED_BYTES,
    WEBSOCKET_SENT_BYTES,
)
from .room import Room
from .system_peer import ReadStates, content_ops, replace_content

AUTH_RESOURCE = "ysync"

KERNEL_USER = User(username="jupyter-ysync-kernel", name="Python kernel", display_name="Kernel")


class _YSyncAuthMixin:
    """Authentication shared by the websocket and REST handlers."""

    kernel_token: str
    request: Any
    current_user: Any
    authorizer: Any
    log: Any

    def _presented_token(self) -> str:
        token = cast(str, self.get_argument("token", ""))  # type: ignore[attr-defined]
        if not token:
            header = self.request.headers.get("Authorization", "")
            scheme, _, value = header.partition(" ")
            if scheme.lower() in ("token", "bearer"):
                token = value.strip()
        return token

    async def prepare(self, **kwargs: Any) -> None:
        """Recognise the kernel credential, then let Jupyter authenticate as usual.

        Like Jupyter's own token, a credential sent in a header or the query is not
        subject to the XSRF check that protects cookie-authenticated requests.
        """
        token = self._presented_token()
        kernel = bool(self.kernel_token and token) and hmac.compare_digest(token, self.kernel_token)
        if kernel:
            self._token_authenticated = True
        await super().prepare(**kwargs)  # type: ignore[misc]
        if kernel and self.current_user is None:
            self.current_user = KERNEL_USER

    async def _authorize_contents(self, action: str) -> bool:
        result = self.authorizer.is_authorized(self, self.current_user, action, "contents")
        if hasattr(result, "__await__"):
            result = await result
        return bool(result)

    async def _authorize(self, action: str) -> bool:
        result = self.authorizer.is_authorized(self, self.current_user, action, AUTH_RESOURCE)
        if hasattr(result, "__await__"):
            result = await result
        return bool(result)

    async def _require(self, action: str) -> None:
        if self.current_user is None:
            raise web.HTTPError(
                401,
                reason="Not authenticated",
                log_message="ysync: no valid credential. Pass the server token"
                " (?token= or 'Authorization: token ...') or log in.",
            )
        if not await self._authorize(action):
            raise web.HTTPError(
                403, reason="Forbidden", log_message=f"ysync: not allowed to {action} rooms."
            )

    def _room_name(self, name: str) -> str:
        try:
            return validate_room_name(name)
        except InvalidRoomName as error:
            raise web.HTTPError(400, reason="Invalid room name", log_message=str(error)) from error

    async def _require_file(self, room: str, action: str) -> str:
        """For a file's room: the user may ``action`` the file's contents; return its path."""
        if not is_file_room(room):
            return ""
        files: FileRooms = self.settings["ysync_files"]  # type: ignore[attr-defined]
        try:
            path = files.require_path(room)
        except FileRefused as error:
            raise file_error(error) from None
        await self._require_contents(action, path)
        return path

    async def _require_contents(self, action: str, path: str) -> None:
        if not await self._authorize_contents(action):
            raise web.HTTPError(
                403,
                reason="Forbidden",
                log_message=f"ysync: not allowed to {action} {path}, so not its room either.",
            )


class RoomSocket(WebSocketMixin, WebSocketHandler, _YSyncAuthMixin, JupyterHandler):
    """``ysync/rooms/{room}``: a websocket upgrade joins the room as a peer (y-websocket
    protocol v1); a plain ``GET`` describes the room and ``DELETE`` removes it."""

    auth_resource = AUTH_RESOURCE
    manager: RoomManager
    room: Room | None = None
    can_write: bool = False
    name: str = ""
    _max_message_size: int
    _max_send_buffer: int
    _send_timeout: float
    _refused: bool = False
    _stall: asyncio.TimerHandle | None = None
    _sent_mark: int = 0
    identity: dict[str, Any] | None = None
    """Who this connection is, for the room's authorship map (see history.py)."""

    def initialize(
        self,
        manager: RoomManager,
        kernel_token: str,
        max_message_size: int,
        max_send_buffer: int,
        send_timeout: float,
    ) -> None:
        self.manager = manager
        self.kernel_token = kernel_token
        self._max_message_size = max_message_size
        self._max_send_buffer = max_send_buffer
        self._send_timeout = send_timeout

    @property
    def max_message_size(self) -> int:
        return self._max_message_size

    def get_websocket_protocol(self) -> WebSocketProtocol | None:
        protocol = super().get_websocket_protocol()
        if isinstance(protocol, WebSocketProtocol13):
            protocol.__class__ = RoomProtocol
            cast(RoomProtocol, protocol).max_message_size = self._max_message_size
            # jupyter_server's WebSocketMixin gives its ping settings in milliseconds, which
            # tornado reads as seconds (a 30,000 s interval, and a warning that the 90,000 s
            # timeout is longer). Ping in seconds with tornado's own keep-alive instead.
            interval = self.ping_interval / 1000
            protocol.params.ping_interval = interval
            protocol.params.ping_timeout = interval
        return protocol

    def get_compression_options(self) -> dict[str, Any] | None:
        return None  # frames are encoded once for all peers, uncompressed

    @allow_unauthenticated
    async def get(self, *args: Any, **kwargs: Any) -> None:
        """Authenticate, authorize and validate before upgrading the connection."""
        room = self._room_name(args[0] if args else kwargs["room"])
        await self._require("read")
        if self.request.headers.get("Upgrade", "").lower() != "websocket":
            try:
                info = await self.manager.info(room)
            except RoomNotFound as error:
                raise web.HTTPError(404, reason="Room not found", log_message=str(error)) from error
            self.set_header("Content-Type", "application/json")
            self.finish(json.dumps(room_view(info)))
            return
        path = await self._require_file(room, "read")
        self.can_write = await self._authorize("write")
        if path:  # a file's room follows the file's permissions
            bound = await load_file_room(self.settings["ysync_files"], room)
            self.can_write = (
                self.can_write and await self._authorize_contents("write") and bound.writable
            )
        user = self.current_user
        self.name = f"{getattr(user, 'username', user)}@{self.request.remote_ip}"
        history = self.settings.get("ysync_history")
        if history is not None:
            self.identity = history.identity_of(
                str(getattr(user, "username", user)), getattr(user, "display_name", None)
            )
        self.log.debug("ysync: %s connecting to room %s", self.name, room)
        await super().get(*args, **kwargs)

    async def open(self, *args: Any, **kwargs: Any) -> None:
        """Join the room (loading it once if needed).

        Keep-alive pings are tornado's (see :meth:`get_websocket_protocol`), not the
        WebSocketMixin's: its ``open`` is not called.
        """
        name = args[0] if args else kwargs["room"]
        stream = self.ws_connection.stream if self.ws_connection else None
        if stream is not None:
            stream.max_write_buffer_size = self._max_send_buffer
        # Updates are small and latency-bound: no Nagle delay (up to 200 ms with delayed ACKs).
        self.set_nodelay(True)
        try:
            self.room = await self.manager.join(name, self)
        except Exception:
            self.log.exception("ysync: room %s could not be loaded for %s", name, self.name)
            self.close(1011, "the room could not be loaded; try again later")

    def on_message(self, message: str | bytes) -> None:
        WEBSOCKET_RECEIVED_BYTES.inc(len(message))
        room = self.room
        if room is None or self._refused:  # a peer closed for bad input is not heard again
            return
        if isinstance(message, str):
            self._refuse("text frames are not y-websocket messages: send binary")
            return
        try:
            room.receive(self, message)
        except MalformedMessage as error:
            self.log.warning(
                "ysync: malformed message from %s in room %s: %s", self.name, room.name, error
            )
            self._refuse(f"malformed message: {error}")

    def _refuse(self, reason: str) -> None:
        MALFORMED_MESSAGES.labels("websocket").inc()
        self._refused = True
        self.close(CloseCode.MALFORMED, reason)

    def on_close(self) -> None:
        self._refused = True
        if self._stall is not None:
            self._stall.cancel()
            self._stall = None
        room, self.room = self.room, None
        if room is not None:
            room.remove_peer(self)

    def send_frame(self, frame: bytes) -> None:
        """Write a framed message, closing the peer if it cannot keep up."""
        connection = self.ws_connection
        if connection is None or connection.is_closing():
            return
        WEBSOCKET_SENT_BYTES.inc(len(frame))
        stream = cast(IOStream, connection.stream)
        rest: bytes | memoryview = frame
        try:
            if type(stream) is IOStream and not stream.writing() and not stream.closed():
                # Nothing queued: hand the frame straight to the kernel. IOStream.write costs
                # ~11 µs of Python (a Future per call) for what is one send() here, and a
                # room pays it once per peer per update. What send() leaves is queued below.
                try:
                    sent = stream.socket.send(frame)
                except (BlockingIOError, InterruptedError):
                    sent = 0
                if sent == len(frame):
                    return
                rest = memoryview(frame)[sent:]
            self._queue(stream, rest)
        except StreamBufferFullError:
            self.log.warning(
                "ysync: peer %s in room %s fell more than %d bytes behind; disconnected so it"
                " resyncs on reconnect",
                self.name,
                self.room.name if self.room else "?",
                self._max_send_buffer,
            )
            SLOW_PEERS_DROPPED.labels("buffer").inc()
            # The close frame could not get through a full buffer: drop the connection.
            stream.close()
        except StreamClosedError:
            pass
        except OSError as error:  # reset by the peer: tornado reports the close
            stream.close(exc_info=error)

    def _queue(self, stream: IOStream, data: bytes | memoryview) -> None:
        """Queue bytes the socket did not take; watch that the peer keeps reading them."""
        stream.write(data)
        if self._stall is None and self._send_timeout > 0:
            self._watch(stream)

    def _watch(self, stream: IOStream) -> None:
        self._sent_mark = _bytes_sent(stream)
        self._stall = asyncio.get_running_loop().call_later(
            self._send_timeout, self._check_stall, stream
        )

    def _check_stall(self, stream: IOStream) -> None:
        """Drop a peer that read nothing for ``send_timeout`` seconds while data waited."""
        self._stall = None
        if not stream.writing() or stream.closed():
            return  # all sent: the next backlog starts a new watch
        if _bytes_sent(stream) != self._sent_mark:  # it read some: watch the next period
            self._watch(stream)
            return
        self.log.warning(
            "ysync: peer %s in room %s read nothing for %.0f s while %d bytes waited for it;"
            " disconnected so it resyncs on reconnect (YSyncApp.send_timeout)",
            self.name,
            self.room.name if self.room else "?",
            self._send_timeout,
            len(stream._write_buffer),
        )
        SLOW_PEERS_DROPPED.labels("stalled").inc()
        stream.close()  # a close frame could not get through either

    def close(self, code: int | None = None, reason: str | None = None) -> None:
        super().close(code, close_reason(reason) if reason else reason)

    @allow_unauthenticated
    async def delete(self, room: str) -> None:
        """Remove the room and its stored history; its peers are closed with 4404."""
        name = self._room_name(room)
        await self._require("write")
        if not await self.manager.delete(name):
            raise web.HTTPError(
                404,
                reason="Room not found",
                log_message=f"No room named {name!r}: list rooms with GET ysync/rooms.",
            )
        self.set_status(204)
        self.finish()

    def check_xsrf_cookie(self) -> None:
        """Upgrades are GETs whose origin ``check_origin`` checks; DELETE needs the XSRF token."""
        if self.request.method not in ("GET", "HEAD", "OPTIONS"):
            super().check_xsrf_cookie()

    def write_error(self, status_code: int, **kwargs: Any) -> None:
        """Refused upgrades get a JSON body saying what was wrong."""
        error = kwargs.get("exc_info", (None, None))[1]
        message = getattr(error, "log_message", None) or self._reason
        self.set_header("Content-Type", "application/json")
        self.finish(json.dumps({"message": message, "reason": self._reason}))


def file_error(error: FileRefused) -> web.HTTPError:
    """The HTTP error for a file that cannot be a shared document."""
    reasons = {403: "Forbidden", 404: "File not found", 413: "File too large"}
    return web.HTTPError(
        error.status,
        reason=reasons.get(error.status, "Unsupported file"),
        log_message=str(error),
    )


async def load_file_room(files: FileRooms, room: str) -> FileRoom:
    """Load a file's room, mapping what is wrong with its file to an HTTP error."""
    try:
        return await files.load(room)
    except FileRefused as error:
        raise file_error(error) from None


def room_view(info: RoomInfo) -> dict[str, Any]:
    """A room's REST representation."""
    last = info.last_modified
    return {
        "name": info.name,
        "loaded": info.loaded,
        "peers": info.peers,
        "size": info.size,
        "updates": info.updates,
        "last_modified": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime(last)) if last else None,
    }


def _bytes_sent(stream: IOStream) -> int:
    """Bytes the socket has taken from the stream so far (tornado keeps the count)."""
    return int(getattr(stream, "_total_write_done_index", 0))


class RoomsHandler(_YSyncAuthMixin, APIHandler):
    """``GET ysync/rooms``: every stored or loaded room."""

    auth_resource = AUTH_RESOURCE

    def initialize(self, manager: RoomManager, kernel_token: str) -> None:
        self.manager = manager
        self.kernel_token = kernel_token

    @allow_unauthenticated
    async def get(self) -> None:
        await self._require("read")
        self.finish(json.dumps([room_view(info) for info in await self.manager.list()]))


CONTENT_FORMATS = ("text", "delta", "html", "markdown")


class RoomContentHandler(_YSyncAuthMixin, APIHandler):
    """``ysync/rooms/{room}/content?format=text|delta|html|markdown``: the rich text.

    ``GET`` returns it as JSON (``{"room": ..., "<format>": ...}``). ``PUT`` replaces it the
    way an old tool expects (the body is the new content; for ``delta``, a JSON list of ops or
    ``{"ops": [...]}``), applied by the system peer as minimal edits; a file's room then saves it
    to its file. Send ``If-Match`` with the ``ETag`` of the ``GET`` the content was read with:
    the change is then merged three ways, and what others typed since survives.
    """

    auth_resource = AUTH_RESOURCE

    def initialize(self, manager: RoomManager, kernel_token: str) -> None:
        self.manager = manager
        self.kernel_token = kernel_token

    def _format(self) -> str:
        kind = self.get_argument("format", "text")
        if kind not in CONTENT_FORMATS:
            raise web.HTTPError(
                400,
                reason="Unknown format",
                log_message=f"format={kind!r}: use one of {', '.join(CONTENT_FORMATS)}.",
            )
        return kind

    @allow_unauthenticated
    async def get(self, room: str) -> None:
        name = self._room_name(room)
        await self._require("read")
        kind = self._format()
        if await self._require_file(name, "read"):
            (await load_file_room(self.settings["ysync_files"], name)).import_now()
            await self.manager.rooms[name].flushed()
        try:
            doc = await self.manager.snapshot(name)
        except RoomNotFound as error:
            raise web.HTTPError(404, reason="Room not found", log_message=str(error)) from error
        text = RichText(doc.get(ROOT_TEXT, type=Text))
        states: ReadStates = self.settings["ysync_read_states"]
        self.set_header("ETag", f'"{states.remember(name, doc.get_update())}"')
        if kind == "delta":
            self.finish(json.dumps({"room": name, "delta": text.delta}))
            return
        if kind == "html":
            content = text.to_html()
        elif kind == "markdown":
            content = text.to_markdown()
        else:
            content = str(text)
        self.finish(json.dumps({"room": name, kind: content}))

    @allow_unauthenticated
    async def put(self, room: str) -> None:
        name = self._room_name(room)
        await self._require("write")
        kind = self._format()
        try:
            target = content_ops(kind, self.request.body)
        except ValueError as error:
            raise web.HTTPError(
                400, reason="Invalid content", log_message=f"format={kind}: {error}"
            ) from None
        bound = None
        if await self._require_file(name, "write"):
            bound = await load_file_room(self.settings["ysync_files"], name)
            if not bound.writable:
                raise web.HTTPError(
                    403,
                    reason="Forbidden",
                    log_message=f"{bound.path} is read-only on disk, so is its room.",
                )
            bound.import_now()
        base = None
        etag = self.request.headers.get("If-Match")
        if etag:
            base = self.settings["ysync_read_states"].get(name, etag)
            if base is None:
                raise web.HTTPError(
                    412,
                    reason="Precondition Failed",
                    log_message=f"If-Match {etag}: that read of room {name!r} is no longer"
                    " kept (or never was); GET the content again and send its ETag.",
                )
        live = await self.manager.get(name)
        await live.flushed()
        changed = replace_content(live, target, base)
        await live.flushed()
        if bound is not None and changed:
            bound.mark_unsaved()
        self.finish(json.dumps({"room": name, "changed": changed}))
