"""Presence: this peer's awareness state (who it is, where its caret is) and everyone else's."""

from __future__ import annotations

import asyncio
import threading
from collections.abc import Callable
from typing import Any

from pycrdt import Awareness, Doc, create_awareness_message

from ..protocol import FILE_KIND
from ._loop import BackgroundLoop

AWARENESS_RENEW_SECONDS = 15.0
"""How often this peer's state is re-sent: Yjs peers drop a state not renewed for 30 s."""

CURSOR_THROTTLE_SECONDS = 0.05
"""At most one caret update per this many seconds, however fast the edits come."""


class Presence:
    """The awareness of one peer's connection, safe to use from the user's thread.

    The state lives on the transport's loop; the user's thread changes it through
    :meth:`set_local_state` and :meth:`move_cursor`, and reads :meth:`peers`.
    """

    _awareness: Awareness
    _lock: threading.Lock
    _cursor_index: int | None
    _cursor_timer: asyncio.TimerHandle | None
    _cursor_pending: bool

    def __init__(
        self,
        doc: Doc[Any],
        loop: BackgroundLoop,
        send: Callable[[bytes], None],
        *,
        position: Callable[[int], dict[str, Any]],
        before_caret: Callable[[], None],
    ) -> None:
        """
        Args:
            doc: The replica whose client id this peer announces.
            loop: The transport's loop, where every send happens.
            send: Sends a message now, if connected (on the loop).
            position: A caret index as a Yjs RelativePosition, in ``doc``'s text.
            before_caret: Sends local edits not sent yet, so a caret never points past them.
        """
        self._awareness = Awareness(doc)
        self._lock = threading.Lock()
        self._loop = loop
        self._send = send
        self._position = position
        self._before_caret = before_caret
        self._cursor_index = None
        self._cursor_timer = None
        self._cursor_pending = False

    # -- from the user's thread ------------------------------------------------------------

    def set_local_state(self, state: dict[str, Any] | None) -> None:
        """Set this peer's state and broadcast it."""
        self._loop.call_soon(self._apply_local_state, state)

    def move_cursor(self, index: int) -> None:
        """Show this peer's caret at ``index`` (throttled)."""
        self._cursor_index = index
        if not self._cursor_pending:  # one wake-up per throttle period, not one per edit
            self._cursor_pending = True
            self._loop.call_soon(self._schedule_cursor)

    def peers(self) -> dict[int, dict[str, Any]]:
        """A snapshot of every peer's state in the room, this peer's included (not the
        server's own file status: see :meth:`file`)."""
        with self._lock:
            return {
                cid: dict(state)
                for cid, state in self._awareness.states.items()
                if state.get("kind") != FILE_KIND
            }

    def file(self) -> dict[str, Any] | None:
        """The status of the room's file as the server publishes it, or None."""
        with self._lock:
            for state in self._awareness.states.values():
                if state.get("kind") == FILE_KIND and isinstance(state.get("file"), dict):
                    return dict(state["file"])
        return None

    # -- on the loop -----------------------------------------------------------------------

    def announcement(self) -> bytes:
        """This peer's state as an awareness message (sent on connect and when asked)."""
        with self._lock:
            update = self._awareness.encode_awareness_update([self._awareness.client_id])
        return create_awareness_message(update)

    def apply_remote(self, update: bytes) -> None:
        """Apply another peer's awareness update (already checked by the protocol parser)."""
        with self._lock:
            self._awareness.apply_awareness_update(update, "remote")

    def goodbye(self) -> bytes:
        """Clear this peer's state; return the message telling the others."""
        with self._lock:
            self._awareness.set_local_state(None)
        return self.announcement()

    async def renew_forever(self) -> None:
        """Re-send this peer's state before other peers time it out."""
        while True:
            await asyncio.sleep(AWARENESS_RENEW_SECONDS)
            with self._lock:
                self._awareness.set_local_state(self._awareness.get_local_state())
            self._send(self.announcement())

    def _apply_local_state(self, state: dict[str, Any] | None) -> None:
        with self._lock:
            self._awareness.set_local_state(state)
        self._send(self.announcement())

    def _schedule_cursor(self) -> None:
        loop = self._loop.loop
        if self._cursor_timer is None and loop is not None:
            self._cursor_timer = loop.call_later(CURSOR_THROTTLE_SECONDS, self._send_cursor)

    def _send_cursor(self) -> None:
        self._cursor_timer = None
        self._cursor_pending = False
        index = self._cursor_index
        if index is None:
            return
        self._before_caret()
        position = self._position(index)
        with self._lock:
            state = dict(self._awareness.get_local_state() or {})
            state["cursor"] = {"anchor": position, "head": position}
            self._awareness.set_local_state(state)
        self._send(self.announcement())
