"""The Python peer's document: join a room and edit it live.

``connect(room)`` returns a :class:`SharedDocument`, a full Yjs peer of the room. Local edits
go out at once from a background thread (:mod:`._transport`). Remote edits are applied on the
user's thread only: at every call of this API, so a read is always fresh, and, when
``connect`` ran under an event loop (a notebook kernel), by that loop between cells, where
``on_change`` callbacks fire.
"""

from __future__ import annotations

import asyncio
import contextlib
import random
import threading
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from time import monotonic
from typing import TYPE_CHECKING, Any
from urllib.parse import quote

from pycrdt import Doc, Subscription, Text, TextEvent, TransactionEvent, UndoManager

from ..errors import ConnectionFailed
from ..protocol import EMPTY_UPDATE, KERNEL_KIND, ROOT_TEXT, validate_room_name
from . import _history
from ._discovery import resolve_server
from ._files import open_file
from ._transport import Connect, ConnectionStatus, Transport, websocket_connect

if TYPE_CHECKING:
    from types import TracebackType

    from ..richtext import RichText

LOCAL_ORIGIN = "jupyter_ysync:local"
"""Origin of this peer's own edits made outside an explicit ``transaction(origin=...)``."""
REMOTE_ORIGIN = "jupyter_ysync:remote"
"""Origin of the transactions that apply other peers' edits: never undone, never sent back."""

DEFAULT_PRESENCE = {"name": "Python", "color": "#3572a5"}


@dataclass(frozen=True)
class ChangeEvent:
    """A change of the room's rich text, as passed to ``on_change`` callbacks."""

    delta: list[dict[str, Any]]
    """Quill delta ops of the change (retain, insert, delete, attributes)."""
    origin: Any
    """The origin given to ``transaction(origin=...)``; None for plain and remote edits."""
    remote: bool
    """Whether another peer made the change."""


class SharedDocument:
    """A room's document, live: this process is a full peer of the room.

    Example::

        with connect("notes") as doc:
            doc.text.insert(0, "Title\\n", {"header": 1})
            with doc.transaction(origin="report-bot"):
                doc.text.insert(len(doc.text), "Done.")
            doc.undo()              # this peer's own changes only
            print(doc.text.delta)   # what every browser shows
    """

    room: str
    url: str
    _author_cache: dict[int, dict[str, Any]] | None = None
    _author_fetched: float = 0.0

    def __init__(
        self,
        room: str,
        url: str,
        token: str | None = None,
        *,
        presence: dict[str, Any] | None = None,
        connect: Connect = websocket_connect,
        fail_fast: bool = True,
        transport: str = "auto",
    ) -> None:
        """Prefer :func:`connect`, which also finds the server and waits for the first sync.

        Args:
            room: The room name.
            url: The server's websocket base URL (ending with ``/``).
            token: A credential for the server.
            presence: How this peer appears to others.
            connect: Opens the websocket; tests pass an in-process connection.
            fail_fast: A refused first connection fails at once instead of retrying.
            transport: "auto" (the websocket, else HTTP long polls), "websocket" or "http".
        """
        self.room = validate_room_name(room)
        self.url = f"{url}ysync/rooms/{quote(room, safe='')}"
        self._ydoc: Doc[Any] = Doc(client_id=random.getrandbits(32))
        self._ytext = self._ydoc.get(ROOT_TEXT, type=Text)
        self._text: RichText | None = None
        # Each transaction is its own undo step: scripts group edits with `transaction()`.
        self._undo = UndoManager(scopes=[self._ytext], capture_timeout_millis=0)
        self._undo.include_origin(LOCAL_ORIGIN)
        self._origins = {LOCAL_ORIGIN}
        self._depth = 0
        self._callbacks: list[Callable[[ChangeEvent], None]] = []
        self._units = ""  # the text before the next change, kept while callbacks are subscribed
        self._applying_remote = False
        self._apply_lock = threading.RLock()
        self._presence = dict(presence or DEFAULT_PRESENCE)
        self._closed = False
        try:
            self._loop: asyncio.AbstractEventLoop | None = asyncio.get_running_loop()
        except RuntimeError:
            self._loop = None
        self._refresh_scheduled = False
        headers = {"Authorization": f"token {token}"} if token else {}
        self._transport = Transport(
            self.url,
            headers,
            self._ydoc.client_id,
            on_remote=self._schedule_refresh,
            position=_caret_position,
            connect=connect,
            fail_fast=fail_fast,
            channel=transport,
        )
        self._ydoc.observe(self._on_transaction)
        # Observed only while on_change has callbacks: a text event computes its delta.
        self._text_subscription: Subscription | None = None
        self._transport.start()
        self._transport.presence.set_local_state(self._awareness_state())

    # -- the document ----------------------------------------------------------------------

    @property
    def text(self) -> RichText:
        """The room's rich text (root ``Y.Text`` named ``content``), with Quill delta semantics."""
        if self._text is None:
            from ..richtext import RichText

            self._text = RichText(self._ytext, host=self)
        self.refresh()
        return self._text

    @property
    def ydoc(self) -> Doc[Any]:
        """The underlying pycrdt document, for other shared types (refreshed on access)."""
        self.refresh()
        return self._ydoc

    @contextlib.contextmanager
    def transaction(self, origin: Any = None) -> Iterator[SharedDocument]:
        """Group edits into one transaction: one update on the wire, one undo step.

        Args:
            origin: Reported as ``ChangeEvent.origin`` to ``on_change`` callbacks; edits made
                under any origin are this peer's own and ``undo()`` can revert them.
        """
        self.refresh()
        origin = LOCAL_ORIGIN if origin is None else origin
        if origin not in self._origins:
            self._undo.include_origin(origin)
            self._origins.add(origin)
        with self._ydoc.transaction(origin=origin):
            self._depth += 1
            try:
                yield self
            finally:
                self._depth -= 1

    def write_transaction(self) -> contextlib.AbstractContextManager[Any]:
        """The transaction a RichText write opens: the enclosing one, or a local one."""
        if self._depth:
            return self._ydoc.transaction()
        return self._ydoc.transaction(origin=LOCAL_ORIGIN)

    def undo(self) -> bool:
        """Undo this peer's last change (never another peer's); return whether one was undone."""
        self.refresh()
        return bool(self._undo.undo())

    def redo(self) -> bool:
        """Redo the last change undone by :meth:`undo`; return whether one was redone."""
        self.refresh()
        return bool(self._undo.redo())

    def on_change(self, callback: Callable[[ChangeEvent], None]) -> Callable[[], None]:
        """Call ``callback(event)`` after every change of the rich text, local or remote.

        Returns:
            A function that unsubscribes the callback.
        """
        if not self._callbacks:
            from ..richtext import units_of  # the rich-text model loads on first use

            self._units = units_of(self._ytext)
            self._text_subscription = self._ytext.observe(self._on_text)
        self._callbacks.append(callback)

        def unsubscribe() -> None:
            with contextlib.suppress(ValueError):
                self._callbacks.remove(callback)
            if not self._callbacks and self._text_subscription is not None:
                self._ytext.unobserve(self._text_subscription)
                self._text_subscription = None

        return unsubscribe

    # -- versions and authorship (the server's REST API, see _history.py) --------------------

    def save_version(self, name: str) -> dict[str, Any]:
        """Keep the room's current content on the server as a version named ``name``.

        Edits this peer made just before may not be in it yet: they are on their way.

        Returns:
            The version: ``id``, ``created``, ``name``, ``auto``, ``authors``, ``size``.
        """
        return _history.save_version(self.url, self._transport._headers, name)

    def versions(self) -> list[dict[str, Any]]:
        """The room's versions, newest first (automatic ones have ``name`` None)."""
        return _history.versions(self.url, self._transport._headers)

    def version_content(self, version: int, format: str = "delta") -> Any:
        """The room's content at ``version``: Quill ops (``"delta"``), or a ``"text"``,
        ``"html"`` or ``"markdown"`` string.

        Raises:
            VersionNotFound: the room has no such version (any longer).
        """
        return _history.version_content(self.url, self._transport._headers, version, format)

    def restore_version(self, version: int) -> None:
        """Make the content what it was at ``version``, as one change by this peer.

        Other peers see an ordinary edit (their concurrent edits elsewhere survive) and
        :meth:`undo` reverts it.

        Example::

            old = doc.versions()[-1]["id"]
            doc.restore_version(old)
            doc.undo()  # back to what it was before the restore
        """
        ops = self.version_content(version, "delta")
        text = self.text
        with self.transaction():
            text.set_delta(ops)

    def author_identities(self, clients: set[int]) -> dict[int, dict[str, Any]]:
        """Who the server recorded as the writers of ``clients`` (Yjs client ids), cached.

        The map is fetched again when a client id is unknown, at most once a second.
        """
        cache = self._author_cache
        stale = monotonic() - self._author_fetched > 1
        if cache is None or (stale and not clients <= cache.keys()):
            cache = self._author_cache = _history.authors(self.url, self._transport._headers)
            self._author_fetched = monotonic()
        return {client: cache[client] for client in clients if client in cache}

    # -- presence --------------------------------------------------------------------------

    @property
    def presence(self) -> dict[str, Any]:
        """How this peer appears to others (``name``, ``color``), shown with its caret."""
        return dict(self._presence)

    @presence.setter
    def presence(self, value: dict[str, Any]) -> None:
        if not isinstance(value, dict):
            raise TypeError(f"presence must be a dict like {DEFAULT_PRESENCE}, not {value!r}")
        self._presence = dict(value)
        self._transport.presence.set_local_state(self._awareness_state())

    def _awareness_state(self) -> dict[str, Any]:
        # "kind" tells browsers this peer is a program, listed apart from the people.
        return {"user": self._presence, "kind": KERNEL_KIND}

    @property
    def peers(self) -> dict[int, dict[str, Any]]:
        """Awareness states of everyone in the room (this peer included), by client id."""
        return self._transport.presence.peers()

    @property
    def file(self) -> dict[str, Any] | None:
        """For a file's room (``connect(path=...)``): the file as the server reports it live
        (``path``, ``format``, ``dirty``, ``last_saved``, ``state``...); None otherwise."""
        return self._transport.presence.file()

    @property
    def client_id(self) -> int:
        """This peer's Yjs client id (32 bits, as browsers use)."""
        return int(self._ydoc.client_id)

    # -- connection ------------------------------------------------------------------------

    @property
    def status(self) -> ConnectionStatus:
        """Where the connection stands: connecting, connected, synced, disconnected, closed."""
        return self._transport.status

    @property
    def transport(self) -> str | None:
        """The channel the room is reached through: "websocket", or "http" (long polls) where
        the websocket handshake was refused or stripped; None before the first connection."""
        return self._transport.channel

    @property
    def read_only(self) -> bool:
        """Whether the server told this peer that its edits are not accepted."""
        return self._transport.read_only

    def wait_synced(self, timeout: float = 10.0) -> None:
        """Block until the room's content has arrived since the last (re)connect.

        Raises:
            AuthenticationFailed: the server refused the credential.
            ConnectionFailed: not synced within ``timeout`` seconds.
        """
        transport = self._transport
        status = transport.wait_settled(timeout)
        if transport.error is not None:
            raise transport.error
        if status is not ConnectionStatus.SYNCED:
            raise ConnectionFailed(
                f"Room {self.room!r} at {self.url} did not sync within {timeout} s"
                f" (status: {status.value}). Is the Jupyter server running?"
            )
        self.refresh()

    def close(self) -> None:
        """Send pending edits, leave the room and stop the background thread."""
        if self._closed:
            return
        self._closed = True
        self.refresh()
        self._transport.close()

    def __enter__(self) -> SharedDocument:
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        traceback: TracebackType | None,
    ) -> None:
        self.close()

    def __repr__(self) -> str:
        return (
            f"<SharedDocument room={self.room!r} status={self.status.value}"
            f" transport={self.transport}>"
        )

    # -- what RichText needs of its host (richtext.TextHost) --------------------------------

    def refresh(self) -> None:
        """Apply the remote updates received so far, on this thread."""
        transport = self._transport
        if not transport.inbox or self._depth:
            return
        with self._apply_lock:
            updates = transport.take_inbox()
            if not updates:
                return
            self._applying_remote = True
            try:
                with self._ydoc.transaction(origin=REMOTE_ORIGIN):  # one event for all
                    for update in updates:
                        self._ydoc.apply_update(update)
            finally:
                self._applying_remote = False

    def edited(self, index: int) -> None:
        """A local edit ended at ``index``: move this peer's caret there for everyone."""
        self._transport.presence.move_cursor(index)

    # -- internals -------------------------------------------------------------------------

    def _schedule_refresh(self) -> None:
        """Called by the transport thread when remote updates arrive."""
        loop = self._loop
        if loop is None or self._refresh_scheduled or loop.is_closed():
            return
        self._refresh_scheduled = True
        with contextlib.suppress(RuntimeError):
            loop.call_soon_threadsafe(self._scheduled_refresh)

    def _scheduled_refresh(self) -> None:
        self._refresh_scheduled = False
        if not self._closed:
            self.refresh()

    def _on_transaction(self, event: TransactionEvent) -> None:
        if self._applying_remote:
            return
        update = event.update
        if update != EMPTY_UPDATE:
            self._transport.send_update(update)

    def _on_text(self, event: TextEvent) -> None:
        if not self._callbacks:
            return
        origin = event.transaction.origin
        remote = origin == REMOTE_ORIGIN
        from ..richtext import to_units

        delta, self._units = to_units(list(event.delta), self._units)  # type: ignore[attr-defined]
        change = ChangeEvent(
            delta=delta,
            origin=None if remote or origin == LOCAL_ORIGIN else origin,
            remote=remote,
        )
        for callback in list(self._callbacks):
            callback(change)


def _caret_position(doc: Doc[Any], index: int) -> dict[str, Any]:
    """A Yjs ``RelativePosition`` (as JSON) for a RichText ``index`` of ``doc``'s text."""
    from ..richtext import RichText

    return RichText(doc.get(ROOT_TEXT, type=Text)).relative_position(index)


def connect(
    room: str | None = None,
    url: str | None = None,
    token: str | None = None,
    *,
    path: str | None = None,
    timeout: float = 10.0,
    presence: dict[str, Any] | None = None,
    transport: str = "auto",
) -> SharedDocument:
    """Join a room on a Jupyter server and return its live document, once synced.

    Args:
        room: The room name (1-128 characters of ``A-Z a-z 0-9 . _ - ~ :``).
        path: Instead of ``room``: a ``.md`` or ``.html`` file (relative to the server's root)
            to edit as a shared document. Its room is named by its file id, so it follows
            renames; the server saves the room to the file and merges outside edits.
        url: The Jupyter server's URL (``http(s)://`` or ``ws(s)://``, base URL included), or
            a page's URL as the browser shows it (``http://127.0.0.1:8888/lab?token=...``).
            Default: ``$JUPYTER_YSYNC_URL``, else the first running Jupyter server.
        token: A credential for the server. Default: the ``token`` in ``url``'s query,
            ``$JUPYTER_YSYNC_TOKEN`` or the running server's token.
        timeout: Seconds to wait for the first sync; 0 returns at once and syncs in the
            background (edits made meanwhile are merged when the connection comes up).
        presence: How this peer appears to others, e.g. ``{"name": "Bot", "color": "#e67e22"}``.
        transport: How to reach the room: ``"auto"`` (default) uses the websocket and falls
            back to HTTP long polls where the handshake is refused or stripped (a proxy);
            ``"websocket"`` or ``"http"`` forces one. ``doc.transport`` tells which is used.

    Raises:
        InvalidRoomName: the name breaks the rule above.
        FileRefused: ``path`` is missing, not a UTF-8 ``.md``/``.html`` file, too large, or
            not readable by this user.
        ServerNotFound: no URL given and none found.
        AuthenticationFailed: the server refused the credential.
        ConnectionFailed: nothing listens at the address (at once), or the room did not
            sync within ``timeout``.

    Example::

        doc = connect("notes")
        doc.text.insert(0, "Hello from Python\\n")
        report = connect(path="notes/report.md")
    """
    if (room is None) == (path is None):
        raise TypeError("connect() takes a room name or path=..., not both (nor neither)")
    if room is not None:
        validate_room_name(room)
    base, token = resolve_server(url, token)
    if path is not None:
        room = validate_room_name(str(open_file(base, token, path, timeout)["room"]))
    assert room is not None
    doc = SharedDocument(
        room, base, token, presence=presence, fail_fast=bool(timeout), transport=transport
    )
    if timeout:
        try:
            doc.wait_synced(timeout)
        except Exception:
            doc.close()
            raise
    return doc
