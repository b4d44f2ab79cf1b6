"""REST routes for operations (``jupyter ysync``): compacting a room's stored log."""

from __future__ import annotations

import json

from jupyter_server.auth.decorator import allow_unauthenticated
from jupyter_server.base.handlers import APIHandler
from tornado import web

from .handlers import AUTH_RESOURCE, _YSyncAuthMixin
from .manager import RoomManager


class RoomCompactHandler(_YSyncAuthMixin, APIHandler):
    """``POST ysync/rooms/{room}/compact``: merge the room's stored log into one update.

    A loaded room compacts from its live replica between two batches of updates; a room
    that is only stored is merged by the store. Answers ``{"room", "updates", "size"}``
    after (rows and bytes left in the log), 404 for an unknown room.
    """

    auth_resource = AUTH_RESOURCE

    def initialize(self, manager: RoomManager, kernel_token: str) -> None:
        self.manager = manager
        self.kernel_token = kernel_token

    @allow_unauthenticated
    async def post(self, room: str) -> None:
        name = self._room_name(room)
        await self._require("write")
        await self._require_file(name, "write")
        live = self.manager.rooms.get(name)
        if live is not None:
            # Between two batches the replica holds exactly what the store holds.
            await live.flushed()
            await live.compact()
        stored = await self.manager.store.room(name)
        if stored is None:
            if live is None:
                raise web.HTTPError(
                    404,
                    reason="Room not found",
                    log_message=f"No room named {name!r}: list rooms with GET ysync/rooms.",
                )
        elif live is None:
            await self.manager.store.compact(name)
            stored = await self.manager.store.room(name)
        self.finish(
            json.dumps(
                {
                    "room": name,
                    "updates": stored.updates if stored else 0,
                    "size": stored.size if stored else 0,
                }
            )
        )
