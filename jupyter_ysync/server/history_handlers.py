"""REST routes of versions and authorship: authenticate, validate, delegate to History.

=======  ==========================================================  ======  ==================
Method   Route (under ``ysync/rooms/{room}``)                        Action  Answer
=======  ==========================================================  ======  ==================
GET      ``/versions``                                               read    versions, newest
                                                                             first
POST     ``/versions`` with ``{"name": "..."}``                      write   201, the version
GET      ``/versions/{id}``                                          read    the version
GET      ``/versions/{id}/content?format=text|delta|html|markdown``  read    its content
POST     ``/versions/{id}/restore``                                  write   the edit made
GET      ``/authors``                                                read    client ids and
                                                                             ranges
=======  ==========================================================  ======  ==================

A file's room also needs the matching permission on the file's contents.
"""

from __future__ import annotations

import json
from typing import Any

from jupyter_server.auth.decorator import allow_unauthenticated
from jupyter_server.base.handlers import APIHandler
from pycrdt import Text
from tornado import web

from ..errors import RoomNotFound, VersionNotFound
from ..protocol import ROOT_TEXT
from ..richtext import RichText
from .events import emit_version_event
from .file_room import is_file_room
from .handlers import AUTH_RESOURCE, CONTENT_FORMATS, _YSyncAuthMixin, load_file_room
from .history import History
from .manager import RoomManager
from .system_peer import replace_content

MAX_VERSION_NAME = 200
"""Longest version name accepted, in characters."""


class _HistoryHandler(_YSyncAuthMixin, APIHandler):
    auth_resource = AUTH_RESOURCE
    manager: RoomManager
    history: History

    def initialize(self, manager: RoomManager, kernel_token: str, history: History) -> None:
        self.manager = manager
        self.kernel_token = kernel_token
        self.history = history

    async def _room(self, room: str, action: str) -> str:
        name = self._room_name(room)
        await self._require(action)
        await self._require_file(name, action)
        return name

    def _number(self, version: str) -> int:
        if not version.isdigit() or len(version) > 15:
            raise web.HTTPError(
                400,
                reason="Invalid version",
                log_message=f"version {version!r}: use a version id from GET .../versions.",
            )
        return int(version)

    def _json(self, value: Any, status: int = 200) -> None:
        self.set_status(status)
        self.finish(json.dumps(value))


def _not_found(error: LookupError) -> web.HTTPError:
    reason = "Version not found" if isinstance(error, VersionNotFound) else "Room not found"
    return web.HTTPError(404, reason=reason, log_message=str(error))


class VersionsHandler(_HistoryHandler):
    """``ysync/rooms/{room}/versions``: list the versions (GET), name one now (POST)."""

    @allow_unauthenticated
    async def get(self, room: str) -> None:
        name = await self._room(room, "read")
        try:
            self._json(await self.history.versions(name))
        except RoomNotFound as error:
            raise _not_found(error) from None

    @allow_unauthenticated
    async def post(self, room: str) -> None:
        name = await self._room(room, "write")
        label = self._version_name()
        try:
            self._json(await self.history.save(name, label), 201)
        except RoomNotFound as error:
            raise _not_found(error) from None

    def _version_name(self) -> str:
        try:
            body = json.loads(self.request.body or b"{}")
        except ValueError:
            body = None
        label = body.get("name") if isinstance(body, dict) else None
        if not isinstance(label, str) or not label.strip() or len(label) > MAX_VERSION_NAME:
            raise web.HTTPError(
                400,
                reason="Invalid version name",
                log_message='send {"name": "..."}: a name of 1 to'
                f" {MAX_VERSION_NAME} characters for the version.",
            )
        return label.strip()


class VersionHandler(_HistoryHandler):
    """``ysync/rooms/{room}/versions/{id}``: one version's description."""

    @allow_unauthenticated
    async def get(self, room: str, version: str) -> None:
        name = await self._room(room, "read")
        number = self._number(version)
        try:
            view, _ = await self.history.version(name, number)
        except VersionNotFound as error:
            raise _not_found(error) from None
        self._json(view)


class VersionContentHandler(_HistoryHandler):
    """``ysync/rooms/{room}/versions/{id}/content?format=text|delta|html|markdown``."""

    @allow_unauthenticated
    async def get(self, room: str, version: str) -> None:
        name = await self._room(room, "read")
        number = self._number(version)
        kind = self.get_argument("format", "text")
        if kind not in CONTENT_FORMATS:
            raise web.HTTPError(
                400,
                reason="Unknown format",
                log_message=f"format={kind!r}: use one of {', '.join(CONTENT_FORMATS)}.",
            )
        try:
            doc = await self.history.version_doc(name, number)
        except VersionNotFound as error:
            raise _not_found(error) from None
        text = RichText(doc.get(ROOT_TEXT, type=Text))
        content: Any
        if kind == "delta":
            content = text.delta
        elif kind == "html":
            content = text.to_html()
        elif kind == "markdown":
            content = text.to_markdown()
        else:
            content = str(text)
        self._json({"room": name, "version": number, kind: content})


class VersionRestoreHandler(_HistoryHandler):
    """``POST ysync/rooms/{room}/versions/{id}/restore``: make the content the version's.

    The server's system peer makes the change as minimal edits of the current content: an
    ordinary edit that every peer sees and that later versions record.
    """

    @allow_unauthenticated
    async def post(self, room: str, version: str) -> None:
        name = await self._room(room, "write")
        number = self._number(version)
        try:
            doc = await self.history.version_doc(name, number)
        except VersionNotFound as error:
            raise _not_found(error) from None
        target = RichText(doc.get(ROOT_TEXT, type=Text)).delta
        bound = None
        if is_file_room(name):
            bound = await load_file_room(self.settings["ysync_files"], name)
            if not bound.writable:
                raise web.HTTPError(
                    403,
                    reason="Forbidden",
                    log_message=f"{bound.path} is read-only on disk, so is its room.",
                )
            bound.import_now()
        live = await self.manager.get(name)
        await live.flushed()
        changed = replace_content(live, target)
        await live.flushed()
        if bound is not None and changed:
            bound.mark_unsaved()
        self.log.info("ysync: room %s restored to version %d by %s", name, number, self._who())
        emit_version_event(self.manager.events, "restored", name, number, username=self._who())
        self._json({"room": name, "version": number, "changed": bool(changed)})

    def _who(self) -> str:
        user = self.current_user
        return str(getattr(user, "username", user))


class AuthorsHandler(_HistoryHandler):
    """``GET ysync/rooms/{room}/authors``: who wrote which ranges of the current text.

    Ranges count Quill units (UTF-16 code units, 1 per embed); ``?ranges=false`` leaves them
    out (the Python peer computes them from its own replica).
    """

    @allow_unauthenticated
    async def get(self, room: str) -> None:
        name = await self._room(room, "read")
        ranges = self.get_argument("ranges", "true") != "false"
        try:
            self._json(await self.history.authors(name, ranges=ranges))
        except RoomNotFound as error:
            raise _not_found(error) from None


def history_handlers(
    manager: RoomManager, kernel_token: str, history: History
) -> list[tuple[str, type[APIHandler], dict[str, Any]]]:
    """The routes of versions and authorship, for the extension's handler list."""
    common = {"manager": manager, "kernel_token": kernel_token, "history": history}
    room = r"/ysync/rooms/(?P<room>[^/]+)"
    version = r"/versions/(?P<version>[^/]+)"
    return [
        (room + r"/versions", VersionsHandler, common),
        (room + version, VersionHandler, common),
        (room + version + r"/content", VersionContentHandler, common),
        (room + version + r"/restore", VersionRestoreHandler, common),
        (room + r"/authors", AuthorsHandler, common),
    ]
