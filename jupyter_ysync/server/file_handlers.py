"""REST routes of file rooms: map a path to its room, save now, reload from disk.

- ``GET ysync/files/{path}``: opens (imports once) the room of a ``.md``/``.html`` file and
  describes it (:meth:`FileStatus.view`); 403/404/413/415 say why a file cannot open.
- ``POST ysync/rooms/{room}/save``: writes the room to its file now (it is also saved after
  ``YSyncApp.save_delay``).
- ``POST ysync/rooms/{room}/revert``: makes the room equal to the file on disk, as an edit
  every peer sees.

Each needs the ``ysync`` permission and the same permission on the file's contents.
"""

from __future__ import annotations

import json

from jupyter_server.auth.decorator import allow_unauthenticated
from jupyter_server.base.handlers import APIHandler
from tornado import web

from ..errors import FileRefused
from .files import FileRooms
from .handlers import AUTH_RESOURCE, _YSyncAuthMixin, file_error, load_file_room
from .manager import RoomManager


class FileHandler(_YSyncAuthMixin, APIHandler):
    """``GET ysync/files/{path}``: the room of a file, opened if needed."""

    auth_resource = AUTH_RESOURCE

    def initialize(self, manager: RoomManager, kernel_token: str) -> None:
        self.manager = manager
        self.kernel_token = kernel_token

    @allow_unauthenticated
    async def get(self, path: str) -> None:
        await self._require("read")
        path = path.strip("/")
        await self._require_contents("read", path)
        files: FileRooms = self.settings["ysync_files"]
        try:
            status = await files.open(path)
        except FileRefused as error:
            raise file_error(error) from None
        self.finish(json.dumps(status.view()))


class FileActionHandler(_YSyncAuthMixin, APIHandler):
    """``POST ysync/rooms/{room}/save`` and ``POST ysync/rooms/{room}/revert``."""

    auth_resource = AUTH_RESOURCE

    def initialize(self, manager: RoomManager, kernel_token: str) -> None:
        self.manager = manager
        self.kernel_token = kernel_token

    @allow_unauthenticated
    async def post(self, room: str, action: str) -> None:
        name = self._room_name(room)
        await self._require("write")
        if not await self._require_file(name, "write"):
            raise web.HTTPError(
                404,
                reason="Not a file room",
                log_message=f"Room {name!r} is not a file's room: only those can be {action}d.",
            )
        bound = await load_file_room(self.settings["ysync_files"], name)
        try:
            status = await (bound.save() if action == "save" else bound.revert())
        except FileRefused as error:
            raise file_error(error) from None
        self.finish(json.dumps(status.view()))
