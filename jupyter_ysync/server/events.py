"""jupyter_events events: rooms loaded, unloaded and deleted, peers joining and leaving,
versions saved and restored.

Their schemas ship in ``jupyter_ysync/events/*.yaml`` and are registered on the server's
``event_logger`` when the extension starts (:meth:`RoomEvents.register`). Listen to them as
to jupyter_server's own::

    serverapp.event_logger.add_listener(schema_id=PEER_EVENT, listener=on_peer)

Emitting costs nothing while no handler or listener wants the events; an event that cannot
be emitted is logged, never raised into the room that caused it.
"""

from __future__ import annotations

import logging
from pathlib import Path
from typing import TYPE_CHECKING, Any, Literal

if TYPE_CHECKING:
    from jupyter_events import EventLogger

__all__ = [
    "NO_EVENTS",
    "PEER_EVENT",
    "ROOM_EVENT",
    "SCHEMAS",
    "VERSION_EVENT",
    "RoomEvents",
    "emit_version_event",
    "peer_identity",
]

ROOM_EVENT = "https://events.jupyter.org/jupyter_ysync/room/v1"
"""A room was loaded, unloaded or deleted (``events/room.yaml``)."""
PEER_EVENT = "https://events.jupyter.org/jupyter_ysync/peer/v1"
"""A peer joined or left a room, with its user (``events/peer.yaml``)."""
VERSION_EVENT = "https://events.jupyter.org/jupyter_ysync/version/v1"
"""A version was saved or restored (``events/version.yaml``)."""

SCHEMAS = Path(__file__).resolve().parent.parent / "events"
"""The folder of the schema files, shipped in the package."""

_SCHEMA_FILES = {ROOM_EVENT: "room.yaml", PEER_EVENT: "peer.yaml", VERSION_EVENT: "version.yaml"}


def peer_identity(peer: Any) -> tuple[str, str | None]:
    """The username and display name a peer authenticated as.

    A websocket peer carries Jupyter's ``current_user``; any peer may carry a ``user``;
    otherwise its name, ``user@address...``, tells the username.
    """
    user = getattr(peer, "user", None) or getattr(peer, "current_user", None)
    username = getattr(user, "username", None)
    if username:
        display = getattr(user, "display_name", None) or getattr(user, "name", None)
        return str(username), str(display) if display else None
    name = str(getattr(peer, "name", "") or "")
    return name.partition("@")[0] or "unknown", None


def transport_of(peer: Any) -> Literal["websocket", "http"]:
    """How ``peer`` is connected: ``http`` for an HTTP session, else ``websocket``."""
    from .http_sync import HttpPeer  # imported late: it imports the room and the handlers

    return "http" if isinstance(peer, HttpPeer) else "websocket"


class RoomEvents:
    """Emits jupyter_ysync's events on a jupyter_events ``EventLogger``.

    The room manager and its rooms hold one (:data:`NO_EVENTS` until the extension gives
    them the server's).

    Example::

        events = RoomEvents.register(serverapp.event_logger, log)
        events.room_loaded("notes", updates=12, duration=0.004)
    """

    logger: EventLogger | None
    log: logging.Logger

    def __init__(self, logger: EventLogger | None = None, log: logging.Logger | None = None):
        """
        Args:
            logger: Where the events go; None emits nothing.
            log: Logger for events that could not be emitted.
        """
        self.logger = logger
        self.log = log or logging.getLogger(__name__)

    @classmethod
    def register(cls, logger: EventLogger | None, log: logging.Logger | None = None) -> RoomEvents:
        """Register the schemas on ``logger`` (once) and return the events it will carry."""
        if logger is not None:
            for schema_id, filename in _SCHEMA_FILES.items():
                if schema_id not in logger.schemas:
                    logger.register_event_schema(SCHEMAS / filename)
        return cls(logger, log)

    def room_loaded(self, room: str, *, updates: int, duration: float) -> None:
        """A room was loaded from ``updates`` stored updates in ``duration`` seconds."""
        self._emit(
            ROOM_EVENT,
            {"action": "loaded", "room": room, "updates": updates, "duration": max(duration, 0)},
        )

    def room_unloaded(self, room: str) -> None:
        """A room left memory (idle, or the server stopped); its history stays stored."""
        self._emit(ROOM_EVENT, {"action": "unloaded", "room": room})

    def room_deleted(self, room: str) -> None:
        """A room and its stored history were deleted."""
        self._emit(ROOM_EVENT, {"action": "deleted", "room": room})

    def peer_joined(self, room: str, peer: Any, peers: int) -> None:
        """``peer`` joined ``room``, which now has ``peers`` peers."""
        self._peer("joined", room, peer, peers)

    def peer_left(self, room: str, peer: Any, peers: int) -> None:
        """``peer`` left ``room``, which now has ``peers`` peers."""
        self._peer("left", room, peer, peers)

    def version_saved(
        self,
        room: str,
        version: str | int,
        *,
        name: str | None = None,
        auto: bool = False,
        username: str | None = None,
        size: int | None = None,
    ) -> None:
        """A version of ``room`` was saved (``auto``: recorded by the server)."""
        self._version("saved", room, version, name=name, auto=auto, username=username, size=size)

    def version_restored(
        self, room: str, version: str | int, *, name: str | None = None, username: str | None
    ) -> None:
        """``username`` restored a version of ``room``."""
        self._version("restored", room, version, name=name, username=username)

    def _peer(self, action: str, room: str, peer: Any, peers: int) -> None:
        if self.logger is None:
            return
        username, display = peer_identity(peer)
        data: dict[str, Any] = {
            "action": action,
            "room": room,
            "username": username,
            "transport": transport_of(peer),
            "peers": peers,
        }
        if display:
            data["display_name"] = display
        self._emit(PEER_EVENT, data)

    def _version(self, action: str, room: str, version: str | int, **fields: Any) -> None:
        data = {"action": action, "room": room, "version": version}
        data.update((key, value) for key, value in fields.items() if value is not None)
        self._emit(VERSION_EVENT, data)

    def _emit(self, schema_id: str, data: dict[str, Any]) -> None:
        if self.logger is None:
            return
        try:
            self.logger.emit(schema_id=schema_id, data=data)
        except Exception as error:  # an event is never worth failing the room's work
            self.log.warning(
                "jupyter_ysync: could not emit %s for room %s: %s",
                schema_id,
                data.get("room"),
                error,
            )


NO_EVENTS = RoomEvents()
"""Emits nothing: what rooms and managers hold until the extension gives them the server's."""


def emit_version_event(
    events: RoomEvents,
    action: Literal["saved", "restored"],
    room: str,
    version: str | int,
    *,
    name: str | None = None,
    auto: bool = False,
    username: str | None = None,
    size: int | None = None,
) -> None:
    """Emit a version event: ``events`` is the room manager's (``manager.events``).

    Args:
        action: ``saved`` or ``restored``.
        room: The room's name.
        version: The version's id, as ``GET ysync/rooms/{room}/versions`` lists it.
        name: The version's name, if any.
        auto: Whether the server recorded it by itself (``saved`` only).
        username: Who saved or restored it (None for an automatic version).
        size: Bytes the version takes in the store (``saved`` only).
    """
    if action == "saved":
        events.version_saved(room, version, name=name, auto=auto, username=username, size=size)
    elif action == "restored":
        events.version_restored(room, version, name=name, username=username)
    else:
        raise ValueError(f"action={action!r}: use 'saved' or 'restored'.")
