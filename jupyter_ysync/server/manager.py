"""The room registry: every loaded room, loaded once from the store and unloaded when idle."""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import Any

from pycrdt import Doc

from .._lifecycle import Lifecycle
from ..errors import RoomNotFound
from ..protocol import CloseCode
from ..updates import replay
from .events import NO_EVENTS, RoomEvents
from .metrics import ROOM_LOAD_SECONDS
from .room import Peer, Room, join_parts
from .store import Store, StoredRoom


@dataclass(frozen=True)
class RoomInfo:
    """What the server knows about one room, loaded or stored."""

    name: str
    loaded: bool
    """Whether its replica is in memory."""
    peers: int
    """Connections open to it."""
    size: int
    """Bytes of stored updates."""
    updates: int
    """Rows in its stored log (1 after a compaction)."""
    last_modified: float | None
    """Unix time of its last change, if any."""


class RoomManager(Lifecycle):
    """Every loaded room, loaded once from the store and unloaded when idle.

    Example::

        manager = RoomManager(store, idle_unload_delay=60)
        manager.start()
        room = await manager.join("notes", peer)
        ...
        await manager.stop()
    """

    rooms: dict[str, Room]
    _loading: dict[str, asyncio.Future[Room]]
    _timers: dict[str, asyncio.TimerHandle]
    events: RoomEvents = NO_EVENTS
    """Where rooms loaded, unloaded and deleted are told (the extension gives the server's)."""

    def __init__(
        self,
        store: Store,
        *,
        idle_unload_delay: float = 60.0,
        compact_after: int = 0,
        frame: Callable[..., bytes] = join_parts,
        log: logging.Logger | None = None,
    ) -> None:
        """
        Args:
            store: Where rooms are loaded from and their updates appended.
            idle_unload_delay: Seconds a room stays loaded after its last peer left.
            compact_after: See :class:`Room`.
            frame: See :class:`Room`.
            log: Logger for loads, unloads and room errors.
        """
        self.store = store
        self.on_load: Callable[[Room, bool], Awaitable[None]] | None = None
        """Awaited for every room loaded, with whether it had stored history, before any peer
        joins it (file rooms bind their file here); what it raises fails the load."""
        self.on_unload: Callable[[Room], None] | None = None
        """Called for every room unloaded or deleted."""
        self.on_delete: Callable[[str], Awaitable[bool]] | None = None
        """Awaited after a room is deleted here, to delete it elsewhere (Redis mode); returns
        whether it existed there."""
        self.idle_unload_delay = idle_unload_delay
        self.compact_after = compact_after
        self._frame = frame
        self._log = log or logging.getLogger(__name__)
        self.rooms = {}
        self._loading = {}
        self._timers = {}

    def start(self) -> None:
        """Start serving rooms (the store must be started, or starting).

        Raises:
            AlreadyRunning: if the manager was started already.
        """
        self._mark_started()

    async def get(self, name: str) -> Room:
        """Return the loaded room, loading it from the store exactly once.

        Raises:
            NotRunning: before :meth:`start` or after :meth:`stop`.
        """
        self._require_running()
        room = self.rooms.get(name)
        if room is not None and room.failed:  # reload what the store really holds
            del self.rooms[name]
            room = None
        if room is not None:
            return room
        loading = self._loading.get(name)
        if loading is not None:
            return await asyncio.shield(loading)
        loading = self._loading[name] = asyncio.get_running_loop().create_future()
        started = time.perf_counter()
        try:
            updates = await self.store.load(name)
            stored = await self.store.room(name) if updates else None
            room = Room(
                name,
                self.store,
                frame=self._frame,
                on_empty=self._idle,
                compact_after=self.compact_after,
                log=self._log,
            )
            room.load(updates, stored.last_modified if stored else 0.0)
            room.events = self.events
            if self.compact_after and len(updates) > self.compact_after:
                await room.compact()  # no peer yet: the replica is exactly the log
            if self.on_load is not None:
                await self.on_load(room, bool(updates))
        except BaseException as error:
            loading.set_exception(error)
            loading.exception()  # retrieved here; joiners that wait re-raise it
            raise
        finally:
            del self._loading[name]
        self.rooms[name] = room
        loading.set_result(room)
        self._log.info("Loaded room %s from %d stored updates", name, len(updates))
        ROOM_LOAD_SECONDS.observe(time.perf_counter() - started)
        self.events.room_loaded(name, updates=len(updates), duration=time.perf_counter() - started)
        return room

    async def join(self, name: str, peer: Peer) -> Room:
        """Load the room if needed and add the peer to it."""
        while True:
            room = await self.get(name)
            if self.rooms.get(name) is room:  # not unloaded while we waited
                break
        timer = self._timers.pop(name, None)
        if timer is not None:
            timer.cancel()
        room.add_peer(peer)
        return room

    def _idle(self, room: Room) -> None:
        timer = self._timers.pop(room.name, None)
        if timer is not None:
            timer.cancel()
        loop = asyncio.get_running_loop()
        self._timers[room.name] = loop.call_later(self.idle_unload_delay, self._unload, room)

    def _unload(self, room: Room) -> None:
        self._timers.pop(room.name, None)
        if room.peers or self.rooms.get(room.name) is not room:
            return
        if room.busy:  # unload once flushed
            self._idle(room)
            return
        del self.rooms[room.name]
        if self.on_unload is not None:
            self.on_unload(room)
        self._log.info("Unloaded idle room %s", room.name)
        self.events.room_unloaded(room.name)

    async def delete(
        self,
        name: str,
        *,
        code: int = CloseCode.ROOM_DELETED,
        reason: str = "",
        local: bool = False,
    ) -> bool:
        """Close the room's peers (``code``, ``reason``) and remove it and its stored history;
        unless ``local``, :attr:`on_delete` then removes it everywhere else too."""
        room = self.rooms.pop(name, None)
        timer = self._timers.pop(name, None)
        if timer is not None:
            timer.cancel()
        if room is not None:
            room.close_peers(code, reason or f"room {name!r} was deleted")
            await room.flushed()
            if self.on_unload is not None:
                self.on_unload(room)
        existed = await self.store.delete(name)
        if existed or room is not None:
            self.events.room_deleted(name)
        if self.on_delete is not None and not local:
            existed = await self.on_delete(name) or existed
        return existed or room is not None

    def _info(self, name: str, stored: StoredRoom | None) -> RoomInfo:
        room = self.rooms.get(name)
        last = max(room.last_modified if room else 0.0, stored.last_modified if stored else 0.0)
        return RoomInfo(
            name=name,
            loaded=room is not None,
            peers=len(room.peers) if room else 0,
            size=stored.size if stored else 0,
            updates=stored.updates if stored else 0,
            last_modified=last or None,
        )

    async def info(self, name: str) -> RoomInfo:
        """Describe one room.

        Raises:
            RoomNotFound: if it is neither loaded nor stored.
        """
        stored = await self.store.room(name)
        if stored is None and name not in self.rooms:
            raise RoomNotFound(f"No room named {name!r}: list rooms with GET ysync/rooms.")
        return self._info(name, stored)

    async def list(self) -> list[RoomInfo]:
        """Describe every stored or loaded room, by name."""
        stored = {room.name: room for room in await self.store.rooms()}
        names = sorted(set(stored) | set(self.rooms))
        return [self._info(name, stored.get(name)) for name in names]

    async def snapshot(self, name: str) -> Doc[Any]:
        """The room's document: the live replica if loaded, else a copy read from the store.

        Raises:
            RoomNotFound: if it is neither loaded nor stored.
        """
        room = self.rooms.get(name)
        if room is not None:
            return room.doc
        updates = await self.store.load(name)
        if not updates:
            raise RoomNotFound(f"No room named {name!r}: list rooms with GET ysync/rooms.")
        doc: Doc[Any] = Doc()
        replay(doc, updates)
        return doc

    async def stop(self) -> None:
        """Close every peer, wait for pending saves, then forget all rooms.

        Raises:
            NotRunning: if the manager is not running.
        """
        self._mark_stopped()
        for timer in self._timers.values():
            timer.cancel()
        self._timers.clear()
        for room in self.rooms.values():
            room.close_peers(CloseCode.GOING_AWAY, "the server is shutting down")
        await asyncio.gather(*(room.flushed() for room in self.rooms.values()))
        for name in self.rooms:
            self.events.room_unloaded(name)
        self.rooms.clear()
