"""Versions and authorship of rooms: what a room looked like before, and who wrote what.

A *version* is a room's full encoded state at one moment, kept in the store beside its
update log (compressed with zlib when that is smaller). The server takes one automatically
once a room has been quiet for ``quiet_delay`` seconds after a change, and at least every
``max_interval`` seconds of continuous editing; a peer names one (``POST .../versions``).
Restoring one is a new edit (:func:`~.system_peer.replace_content`), never a rewrite of
history, so no peer can diverge.

*Authorship* is the map from Yjs client id to the identity of the connection that first
wrote structs of that client id: user name, display name, and kind (``browser``, ``kernel``
for the Python peer or a kernel's credential, ``system`` for the server's own edits). The
ranges of the current text by client id come from :func:`~..richtext.authors.author_runs`.

Nothing here knows about tornado: the handlers in ``history_handlers.py`` call
:class:`History`.
"""

from __future__ import annotations

import asyncio
import json
import logging
import time
import zlib
from dataclasses import dataclass, field
from typing import Any, Protocol

from pycrdt import Doc, Text

from ..errors import VersionNotFound
from ..protocol import KERNEL_KIND, ROOT_TEXT
from ..richtext.authors import author_runs
from .events import emit_version_event
from .manager import RoomManager
from .room import REMOTE, SERVER, Peer, Room
from .store import StoredRoom, StoredVersion, VersionPrune

__all__ = [
    "BROWSER_KIND",
    "SYSTEM_IDENTITY",
    "SYSTEM_KIND",
    "History",
    "VersionNotFound",
    "identity",
    "version_view",
]

BROWSER_KIND = "browser"
SYSTEM_KIND = "system"

SYSTEM_IDENTITY: dict[str, Any] = {
    "username": "jupyter-ysync",
    "display_name": "Jupyter server",
    "kind": SYSTEM_KIND,
}
"""Who the server's own edits (file imports and merges, restores) are attributed to."""

COMPRESS_MIN = 256
"""Versions smaller than this many bytes are stored as they are."""

DAY = 24 * 3600.0


def identity(
    username: str, display_name: str | None = None, kind: str = BROWSER_KIND
) -> dict[str, Any]:
    """An identity as the authorship map and the REST API show it."""
    return {"username": username, "display_name": display_name or username, "kind": kind}


class VersionStore(Protocol):
    """What :class:`History` needs of the store (``SQLiteStore`` has it)."""

    async def add_version(self, version: StoredVersion, data: bytes, prune: VersionPrune) -> int:
        """Keep a version; return its id."""

    async def versions(self, room: str) -> list[StoredVersion]:
        """A room's versions, newest first."""

    async def version(self, room: str, version: int) -> tuple[StoredVersion, bytes] | None:
        """One version and its content."""

    async def clients(self, room: str) -> dict[int, str]:
        """Identities (JSON) by client id."""

    async def add_clients(self, room: str, identities: dict[int, str]) -> None:
        """Record identities of client ids (the first one recorded wins)."""

    async def room(self, room: str) -> StoredRoom | None:
        """Describe one stored room, or return None."""


def _iso(created: float) -> str:
    return time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime(created))


def _author(entry: dict[str, Any]) -> dict[str, Any]:
    return {
        "username": str(entry.get("username", "")),
        "display_name": str(entry.get("display_name", "")),
        "kind": str(entry.get("kind", BROWSER_KIND)),
    }


def version_view(version: StoredVersion) -> dict[str, Any]:
    """A version's REST representation."""
    return {
        "id": version.id,
        "created": _iso(version.created),
        "name": version.name,
        "auto": version.name is None,
        "authors": [_author(entry) for entry in json.loads(version.authors)],
        "size": version.size,
    }


def encode_version(state: bytes) -> tuple[str, bytes]:
    """How a version's state is stored: ``("zlib", compressed)`` when that is smaller."""
    if len(state) >= COMPRESS_MIN:
        packed = zlib.compress(state, 6)
        if len(packed) < len(state):
            return "zlib", packed
    return "raw", state


def decode_version(codec: str, data: bytes) -> bytes:
    """The state a version holds, from what is stored."""
    if codec == "zlib":
        return zlib.decompress(data)
    if codec == "raw":
        return data
    raise ValueError(f"unknown version codec {codec!r}")


@dataclass(eq=False)
class _Tracked:
    """What :class:`History` follows of one loaded room."""

    room: Room
    clients: dict[int, dict[str, Any]]
    """The authorship map: client id -> identity."""
    authors: dict[tuple[str, str], dict[str, Any]] = field(default_factory=dict)
    """Who changed the room since its last version, by (username, kind)."""
    first_change: float | None = None
    """Loop time of the first change since the last version (None: no change since)."""
    last_change: float = 0.0
    timer: asyncio.TimerHandle | None = None
    unsaved: dict[int, str] = field(default_factory=dict)
    """Identities of client ids not written to the store yet."""


class History:
    """Versions and authorship of every room, kept in the store beside its log.

    Example::

        history = History(manager, store, quiet_delay=30, max_interval=600)
        history.install()          # follows every room the manager loads
        version = await history.save("notes", "sent to review")
        doc = await history.version_doc("notes", version["id"])
        await history.stop()
    """

    manager: RoomManager
    store: VersionStore
    owner: dict[str, Any]
    _rooms: dict[str, _Tracked]
    _tasks: set[asyncio.Task[Any]]

    def __init__(
        self,
        manager: RoomManager,
        store: VersionStore,
        *,
        quiet_delay: float = 30.0,
        max_interval: float = 600.0,
        retention: int = 100,
        max_age: float = 30 * DAY,
        owner: str = "",
        kernel_username: str = "",
        log: logging.Logger | None = None,
    ) -> None:
        """
        Args:
            manager: The rooms to follow.
            store: Where versions and the authorship map are kept.
            quiet_delay: Seconds without a change after which a changed room gets a version
                (0: no automatic versions).
            max_interval: Most seconds of continuous editing between two automatic versions.
            retention: Automatic versions kept per room, newest first (0: all).
            max_age: Seconds an automatic version is kept (0: for ever). Named versions stay
                until their room is deleted.
            owner: The user the server runs as: the kernel credential's edits are theirs.
            kernel_username: The user name the kernel credential authenticates as.
            log: Logger for versions taken and failures.
        """
        self.manager = manager
        self.store = store
        self.quiet_delay = quiet_delay
        self.max_interval = max_interval
        self.retention = retention
        self.max_age = max_age
        self.owner = identity(owner or "kernel", owner or "Kernel", KERNEL_KIND)
        self.kernel_username = kernel_username
        self._log = log or logging.getLogger(__name__)
        self._rooms = {}
        self._tasks = set()

    # -- following rooms -------------------------------------------------------------------

    def install(self) -> None:
        """Follow every room the manager loads, besides what already follows them."""
        load, unload = self.manager.on_load, self.manager.on_unload

        async def on_load(room: Room, had_history: bool) -> None:
            if load is not None:
                await load(room, had_history)
            await self.follow(room)

        def on_unload(room: Room) -> None:
            if unload is not None:
                unload(room)
            self.forget(room)

        self.manager.on_load = on_load
        self.manager.on_unload = on_unload

    async def follow(self, room: Room) -> None:
        """Start following a loaded room: its authorship map, its changes."""
        stored = await self.store.clients(room.name)
        clients = {client: json.loads(value) for client, value in stored.items()}
        tracked = self._rooms[room.name] = _Tracked(room, clients)
        room.on_integrated.append(lambda peer, written: self._integrated(tracked, peer, written))

    def forget(self, room: Room) -> None:
        """Stop following a room (unloaded or deleted); a change not in a version gets one."""
        tracked = self._rooms.get(room.name)
        if tracked is None or tracked.room is not room:
            return
        del self._rooms[room.name]
        if tracked.timer is not None:
            tracked.timer.cancel()
            tracked.timer = None
        if tracked.first_change is not None or tracked.unsaved:
            self._spawn(self._save_tracked(tracked, None))

    def _integrated(self, tracked: _Tracked, peer: Peer, written: list[int]) -> None:
        """A peer's updates changed the room (room pipeline: never raises)."""
        try:
            who = self._identity(tracked.room, peer)
            if who is None:
                return  # another server's peer: that server records it
            for client in written:
                owner = tracked.clients.get(client)
                if owner is None:
                    tracked.clients[client] = who
                    tracked.unsaved[client] = json.dumps(who)
                elif (owner["username"], owner["kind"]) != (who["username"], who["kind"]):
                    self._log.info(
                        "Room %s: peer %s wrote client id %d, which %s wrote first; it stays"
                        " attributed to %s",
                        tracked.room.name,
                        peer.name,
                        client,
                        owner["username"],
                        owner["username"],
                    )
            tracked.authors.setdefault((who["username"], who["kind"]), _author(who))
            if tracked.unsaved:
                self._spawn(self._save_clients(tracked))
            self._changed(tracked)
        except Exception:
            self._log.exception("Room %s: could not record who changed it", tracked.room.name)

    def _identity(self, room: Room, peer: Peer) -> dict[str, Any] | None:
        if peer is SERVER:
            return dict(SYSTEM_IDENTITY)
        if peer is REMOTE:
            return None
        who = getattr(peer, "identity", None)
        if who is None:  # a peer that does not say (an HTTP session): its user from its name
            who = self.identity_of(peer.name.rsplit("@", 1)[0])
        who = dict(who)
        if who["kind"] == BROWSER_KIND or "origin" not in who:
            # A Python peer says what it is in its awareness state; a script may add an origin.
            state = room.peers.get(peer)
            for client in state.client_ids if state is not None else ():
                announced = room.awareness.states.get(client) or {}
                if announced.get("kind") == KERNEL_KIND:
                    who["kind"] = KERNEL_KIND
                    origin = announced.get("origin")
                    if isinstance(origin, str) and origin:
                        who["origin"] = origin[:200]
        return who

    def identity_of(self, username: str, display_name: str | None = None) -> dict[str, Any]:
        """The identity of a connection's user; the kernel credential's is the owner's."""
        if self.kernel_username and username == self.kernel_username:
            return dict(self.owner)
        return identity(username, display_name)

    def _changed(self, tracked: _Tracked) -> None:
        if self.quiet_delay <= 0:
            return
        loop = asyncio.get_running_loop()
        now = loop.time()
        if tracked.first_change is None:
            tracked.first_change = now
        tracked.last_change = now
        if tracked.timer is None:
            tracked.timer = loop.call_at(self._due(tracked), self._fire, tracked)

    def _due(self, tracked: _Tracked) -> float:
        quiet = tracked.last_change + self.quiet_delay
        if self.max_interval > 0 and tracked.first_change is not None:
            return min(quiet, tracked.first_change + self.max_interval)
        return quiet

    def _fire(self, tracked: _Tracked) -> None:
        # One timer per room, moved on when it fires early: no cancel per update.
        tracked.timer = None
        if tracked.first_change is None or self._rooms.get(tracked.room.name) is not tracked:
            return
        loop = asyncio.get_running_loop()
        due = self._due(tracked)
        if loop.time() < due:
            tracked.timer = loop.call_at(due, self._fire, tracked)
            return
        self._spawn(self._save_tracked(tracked, None))

    def _spawn(self, coroutine: Any) -> None:
        task = asyncio.get_running_loop().create_task(coroutine)
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)

    async def _save_clients(self, tracked: _Tracked) -> None:
        unsaved, tracked.unsaved = tracked.unsaved, {}
        if not unsaved:
            return
        try:
            await self.store.add_clients(tracked.room.name, unsaved)
        except Exception:
            self._log.exception("Room %s: could not store its authorship map", tracked.room.name)

    async def _save_tracked(self, tracked: _Tracked, name: str | None) -> dict[str, Any] | None:
        room = tracked.room
        try:
            if self.manager.rooms.get(room.name) is not room and not await self.store.room(
                room.name
            ):
                return None  # unloaded because it was deleted: nothing to keep
            await self._save_clients(tracked)
            if tracked.first_change is None and name is None:
                return None
            await room.flushed()
            if room.failed:
                return None
            # Taken and reset with no await between: a change made after belongs to the next.
            state = room.doc.get_update()
            authors = list(tracked.authors.values())
            tracked.authors = {}
            tracked.first_change = None
            return await self._keep(room.name, state, name, authors)
        except Exception:
            self._log.exception("Room %s: could not save a version", room.name)
            if name is not None:
                raise
            return None

    async def _keep(
        self, room: str, state: bytes, name: str | None, authors: list[dict[str, Any]]
    ) -> dict[str, Any]:
        if len(state) > 64 * 1024:  # zlib takes ~12 ms per 125 KB: not on the event loop
            codec, data = await asyncio.to_thread(encode_version, state)
        else:
            codec, data = encode_version(state)
        created = time.time()
        version = StoredVersion(0, room, created, name, json.dumps(authors), len(state), codec)
        prune = VersionPrune(
            keep=self.retention, before=created - self.max_age if self.max_age > 0 else 0.0
        )
        number = await self.store.add_version(version, data, prune)
        emit_version_event(
            self.manager.events, "saved", room, number, name=name, auto=name is None, size=len(data)
        )
        self._log.info(
            "Room %s: version %d saved%s (%d bytes, %d stored)",
            room,
            number,
            f" as {name!r}" if name else "",
            len(state),
            len(data),
        )
        return version_view(
            StoredVersion(number, room, created, name, version.authors, len(state), codec)
        )

    # -- versions --------------------------------------------------------------------------

    async def save(self, room: str, name: str | None = None) -> dict[str, Any]:
        """Keep the room's current content as a version (named, or automatic with None).

        Raises:
            RoomNotFound: no such room, loaded or stored.
        """
        tracked = self._rooms.get(room)
        if tracked is not None and self.manager.rooms.get(room) is tracked.room:
            if tracked.timer is not None and name is None:
                tracked.timer.cancel()
                tracked.timer = None
            saved = await self._save_tracked(tracked, name)
            assert saved is not None
            return saved
        doc = await self.manager.snapshot(room)  # raises RoomNotFound
        return await self._keep(room, doc.get_update(), name, [])

    async def versions(self, room: str) -> list[dict[str, Any]]:
        """The room's versions, newest first.

        Raises:
            RoomNotFound: no such room and no versions.
        """
        stored = await self.store.versions(room)
        if not stored:
            await self.manager.info(room)  # raises RoomNotFound
        return [version_view(version) for version in stored]

    async def version(self, room: str, number: int) -> tuple[dict[str, Any], bytes]:
        """One version of the room: its description and the state it holds.

        Raises:
            VersionNotFound: the room has no such version (never taken or no longer kept).
        """
        found = await self.store.version(room, number)
        if found is None:
            raise VersionNotFound(
                f"Room {room!r} has no version {number}: list them with GET"
                f" ysync/rooms/{room}/versions."
            )
        stored, data = found
        state = await asyncio.to_thread(decode_version, stored.codec, data)
        return version_view(stored), state

    async def version_doc(self, room: str, number: int) -> Doc[Any]:
        """A document holding the room's content at that version (see :meth:`version`)."""
        _, state = await self.version(room, number)
        doc: Doc[Any] = Doc()
        doc.apply_update(state)
        return doc

    # -- authorship ------------------------------------------------------------------------

    async def clients(self, room: str) -> dict[int, dict[str, Any]]:
        """The room's authorship map: client id -> identity."""
        tracked = self._rooms.get(room)
        if tracked is not None:
            return dict(tracked.clients)
        stored = await self.store.clients(room)
        return {client: json.loads(value) for client, value in stored.items()}

    async def authors(self, room: str, *, ranges: bool = True) -> dict[str, Any]:
        """Who wrote what: ``{"clients": {id: identity}, "ranges": [{index, length, client}]}``.

        Ranges cover the current text in Quill units (UTF-16 code units, 1 per embed), as the
        editor counts; without ``ranges``, only the map is read.

        Raises:
            RoomNotFound: no such room, loaded or stored.
        """
        live = self.manager.rooms.get(room)
        if live is not None:
            await live.flushed()
            state = live.doc.get_update()
        else:
            state = (await self.manager.snapshot(room)).get_update()
        runs = await asyncio.to_thread(_runs_of, state) if ranges else []
        clients = await self.clients(room)
        return {
            "clients": {str(client): clients[client] for client in sorted(clients)},
            "ranges": [{"index": i, "length": n, "client": c} for i, n, c in runs],
        }

    async def stop(self) -> None:
        """Save a version of every room changed since its last, then stop following rooms."""
        for tracked in list(self._rooms.values()):
            if tracked.timer is not None:
                tracked.timer.cancel()
                tracked.timer = None
            if tracked.first_change is not None or tracked.unsaved:
                self._spawn(self._save_tracked(tracked, None))
        self._rooms.clear()
        if self._tasks:
            await asyncio.gather(*self._tasks, return_exceptions=True)


def _runs_of(state: bytes) -> list[tuple[int, int, int]]:
    """Author runs of the text in ``state``, on a document of this thread's own."""
    doc: Doc[Any] = Doc()
    doc.apply_update(state)
    return author_runs(doc.get(ROOT_TEXT, type=Text), quill=True)
