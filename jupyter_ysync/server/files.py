"""Files as shared documents: a ``.md`` or ``.html`` file bound to a room named by its file id.

How a file room keeps every side's edits (README, "Files"):

- **Import once, deterministically.** A room with no history imports its file when its first
  peer syncs. The import is made by the *system peer*: a client id derived from the file id and
  the content (:func:`system_client_id`), applied to an empty document, so the same content
  always gives byte-identical updates, on any server, before or after a restart.
- **Adopt a reconnecting peer's history.** If that first peer already holds history (the store
  was lost while it stayed open), nothing is imported: its history is taken as the room's, and
  if its content differs from the file, the file's additions are merged in (never a deletion,
  so nothing the peer typed offline is lost).
- **Three-way merge of outside edits.** The room keeps its *base*: the file's text as last saved
  or imported, and the CRDT state that had exactly that content. An outside change (another
  editor, a script, ``git checkout``, ``PUT /api/contents``) is diffed against the base and
  applied by the system peer on a copy of the base state; the resulting update merges with
  whatever people typed since, as any concurrent Yjs edit would. Its client id is derived from
  the file id, the base and the new content: two servers that reconcile the same change produce
  the same bytes.
- **Save** writes the room back through the ContentsManager, debounced, only when the text
  changed; unchanged blocks keep their exact source (:mod:`..richtext.lossless`).
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import os
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import PurePosixPath
from typing import Any, Literal

from jupyter_core.utils import ensure_async
from pycrdt import Doc, Text
from tornado import web

from ..errors import FileRefused
from ..protocol import FILE_KIND, ROOT_TEXT, CloseCode, parse_state_vector
from ..richtext import RichText
from ..richtext.lossless import Parsed, parse, render
from .embedded_state import embed_state, split_state
from .manager import RoomManager
from .room import SERVER, Peer, Room
from .store import Store
from .system_peer import room_clients, system_client_id, system_update

__all__ = [
    "FILE_FORMATS",
    "FILE_ROOM_PREFIX",
    "FileRoom",
    "FileRooms",
    "FileStatus",
    "is_file_room",
]

FileFormat = Literal["markdown", "html"]

FILE_ROOM_PREFIX = "file:"
"""A file's room is ``file:<file id>``: a rename keeps it."""

FILE_FORMATS: dict[str, FileFormat] = {
    ".md": "markdown",
    ".markdown": "markdown",
    ".html": "html",
    ".htm": "html",
}
"""File name suffixes that open as shared documents, and how their content is read."""

ADOPT_TIMEOUT = 10.0
"""Seconds a room waits for a reconnecting peer's history before importing the file."""

SERVER_STATE_INTERVAL = 15.0
"""Seconds between renewals of the server's awareness state (Yjs drops it after 30 s)."""

_BASE_STATE = "file.base_state"
_BASE_TEXT = "file.base_text"


def is_file_room(name: str) -> bool:
    """Whether a room name is a file's room."""
    return name.startswith(FILE_ROOM_PREFIX)


def file_format(path: str) -> FileFormat:
    """The format a path opens in.

    Raises:
        FileRefused: (415) for a suffix other than ``.md``/``.markdown``/``.html``/``.htm``.
    """
    suffix = PurePosixPath(path).suffix.lower()
    try:
        return FILE_FORMATS[suffix]
    except KeyError:
        raise FileRefused(
            f"{path!r} is not a Markdown or HTML file: only {', '.join(FILE_FORMATS)} files"
            " open as shared documents.",
            415,
        ) from None


@dataclass(frozen=True)
class FileStatus:
    """A file room's file, as REST and the server's awareness state show it."""

    room: str
    file_id: str
    path: str
    format: FileFormat
    writable: bool
    dirty: bool
    last_saved: float | None
    state: Literal["saved", "unsaved", "deleted", "invalid"]

    def view(self) -> dict[str, Any]:
        """The JSON form."""
        saved = self.last_saved
        return {
            "room": self.room,
            "file_id": self.file_id,
            "path": self.path,
            "format": self.format,
            "writable": self.writable,
            "dirty": self.dirty,
            "last_saved": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime(saved))
            if saved
            else None,
            "state": self.state,
        }


class FileRoom:
    """One loaded file room: imports, saves, reconciles its file (see the module docstring)."""

    def __init__(self, files: FileRooms, room: Room, file_id: str, path: str) -> None:
        self.files = files
        self.room = room
        self.file_id = file_id
        self.path = path
        self.format = file_format(path)
        self.writable = True
        self.disk_text = ""
        self.last_saved: float | None = None
        self.state: Literal["saved", "unsaved", "deleted", "invalid"] = "saved"
        self.base: Parsed | None = None
        self.base_state = b""
        self.closed = False
        self._pending_import = False
        self._adopting: Peer | None = None
        self._adopt_timer: asyncio.TimerHandle | None = None
        self._save_timer: asyncio.TimerHandle | None = None
        self._first_unsaved = 0.0
        self._lock = asyncio.Lock()
        self._tasks: set[asyncio.Task[Any]] = set()
        self._heartbeat: asyncio.TimerHandle | None = None
        self._published: dict[str, Any] | None = None

    @property
    def log(self) -> logging.Logger:
        return self.files.log

    @property
    def dirty(self) -> bool:
        return self.state == "unsaved"

    def status(self) -> FileStatus:
        """What REST and the awareness state say of the file."""
        return FileStatus(
            self.room.name,
            self.file_id,
            self.path,
            self.format,
            self.writable,
            self.dirty,
            self.last_saved,
            self.state,
        )

    # -- binding ---------------------------------------------------------------------------

    async def bind(self, had_history: bool) -> None:
        """Read the file, restore or plan its import, and merge what changed while unloaded."""
        text, model = await self.files.read(self.path)
        self.writable = bool(model.get("writable", True))
        self.disk_text = text
        self.last_saved = _timestamp(model.get("last_modified"))
        room = self.room
        room.on_state_vector = self._on_state_vector
        room.on_applied = self._on_applied
        if not had_history:
            self._pending_import = True  # on the first peer's sync step 1
            return
        store = self.files.store
        state = await store.get_meta(room.name, _BASE_STATE)
        base_text = await store.get_meta(room.name, _BASE_TEXT)
        if state is None or base_text is None:  # history without a base: the room is the base
            self.base_state = room.doc.get_update()
            current = self._ops()
            self.base = await asyncio.to_thread(parse, render(current, self.format), self.format)
        else:
            self.base_state = state
            self.base = await asyncio.to_thread(parse, base_text.decode(), self.format)
        visible, _ = self._split(text)
        if visible != self.base.text:
            self.log.info("ysync: %s changed while its room was unloaded; merging", self.path)
            await self._reconcile(text)
        elif await self._render() != visible:
            self.mark_unsaved()

    def _split(self, text: str) -> tuple[str, bytes | None]:
        """The file's visible content, and the history it carries (``embed_state``), if valid."""
        found = split_state(text)
        if found.problem:
            self.log.warning(
                "ysync: ignored the ysync comment at the end of %s (%s); its visible content"
                " is used",
                self.path,
                found.problem,
            )
        return found.visible, found.state

    def _adoptable(self, state: bytes) -> bool:
        """Whether an embedded history belongs with the room's: the room is empty, or they
        share a client (a copy of this document's history, not another document's)."""
        ours = room_clients(self.room)
        if not ours:
            return True
        theirs = set(parse_state_vector(_state_vector(state)))
        if ours & theirs:
            return True
        self.log.warning(
            "ysync: the history embedded in %s is another document's; only its visible"
            " content is merged",
            self.path,
        )
        return False

    def _ops(self) -> list[dict[str, Any]]:
        return RichText(self.room.doc.get(ROOT_TEXT, type=Text)).delta

    async def _render(self) -> str:
        ops = self._ops()
        return await asyncio.to_thread(render, ops, self.format, self.base)

    def import_now(self) -> None:
        """Import the file into the (empty) room, as the system peer, if still pending."""
        if not self._pending_import:
            return
        self._pending_import = False
        self._cancel_adoption()
        visible, embedded = self._split(self.disk_text)
        base = parse(visible, self.format)
        start = b""
        if embedded is not None:  # its history travelled with it: start from that
            self.room.submit(embedded)
            start = embedded
        client = system_client_id(self.room.name, start, base.text)
        edit = system_update(start, base.ops, client)
        self.room.submit(edit.update)
        self.base, self.base_state = base, edit.state
        self._persist_base()
        self.log.info(
            "ysync: imported %s into room %s%s",
            self.path,
            self.room.name,
            " with the history it carries" if embedded is not None else "",
        )

    def _on_state_vector(self, peer: Peer, state: dict[int, int]) -> None:
        if not self._pending_import or self._adopting is not None:
            return
        if not state:
            try:
                self.import_now()  # enqueued before this peer's step 1: answered with it
            except Exception as error:
                self.log.exception("ysync: %s could not be imported", self.path)
                self.room.close_peers(
                    CloseCode.INTERNAL_ERROR, f"{self.path} could not be imported: {error}"
                )
            return
        # A peer that holds history: the server's step 1 asks it for all of it. Take that
        # history as the room's instead of importing the file beside it.
        self._adopting = peer
        self._adopt_timer = asyncio.get_running_loop().call_later(
            ADOPT_TIMEOUT, self._adoption_timed_out
        )

    def _adoption_timed_out(self) -> None:
        self._adopt_timer = None
        self._adopting = None
        self.log.warning(
            "ysync: no history came from the reconnecting peer; importing %s", self.path
        )
        self.import_now()

    def _cancel_adoption(self) -> None:
        if self._adopt_timer is not None:
            self._adopt_timer.cancel()
            self._adopt_timer = None
        self._adopting = None

    def _on_applied(self, authors: list[Peer]) -> None:
        if self.closed:
            return
        if self._adopting is not None and self._adopting in authors:
            self._pending_import = False
            self._cancel_adoption()
            self._spawn(self._adopt())
            return
        if any(author is not SERVER for author in authors):
            self.mark_unsaved()

    async def _adopt(self) -> None:
        """Take a reconnecting peer's history as the room's; merge in what only the file has."""
        async with self._lock:
            visible, _ = self._split(self.disk_text)
            disk = await asyncio.to_thread(parse, visible, self.format)
            state = self.room.doc.get_update()
            rendered = await asyncio.to_thread(render, self._ops(), self.format, disk)
            if rendered == visible:
                self.base, self.base_state = disk, state
                self._persist_base()
                self.log.info(
                    "ysync: room %s adopted a reconnecting peer's history", self.room.name
                )
                return
            client = system_client_id(self.room.name, state, visible, self._clients(state))
            edit = system_update(state, disk.ops, client, inserts_only=True)
            self.room.submit(edit.update)
            await self.room.flushed()
            self.base_state = edit.state
            self.base = await asyncio.to_thread(
                parse, render(self._ops(), self.format, disk), self.format
            )
            self._persist_base()
            self.log.info(
                "ysync: room %s adopted a reconnecting peer's history and merged what only %s held",
                self.room.name,
                self.path,
            )
            self.mark_unsaved()

    def _clients(self, state: bytes) -> set[int]:
        return room_clients(self.room)

    # -- outside edits ---------------------------------------------------------------------

    async def check(self) -> None:
        """Look at the file: merge an outside change, or close the room if it is gone."""
        if self.closed:
            return
        async with self._lock:
            path = self.files.path_of(self.file_id)
            if path is None or not await self.files.exists(path):
                await asyncio.sleep(self.files.delete_grace)  # an atomic replace, not a delete?
                path = self.files.path_of(self.file_id)
                if path is None or not await self.files.exists(path):
                    await self._gone()
                    return
            if path != self.path:
                self.path = path
                self.files._refresh_watch()
                self.publish()
            try:
                text, model = await self.files.read(path)
            except FileRefused as error:
                if self.state != "invalid":
                    self.log.warning("ysync: %s; room %s left as it was", error, self.room.name)
                self.state = "invalid"
                self.publish()
                return
            self.writable = bool(model.get("writable", True))
            if text == self.disk_text:
                if self.state == "invalid":
                    self.state = "unsaved" if self._first_unsaved else "saved"
                    self.publish()
                return
            if self._pending_import:
                self.disk_text = text
                return
            await self._reconcile(text)

    async def _reconcile(self, text: str) -> None:
        """Merge the file's new ``text`` into the room: a three-way merge against the base."""
        assert self.base is not None
        started = time.perf_counter()
        visible, embedded = self._split(text)
        if embedded is not None and self._adoptable(embedded):
            # The file carries history (saved elsewhere, pulled with git): merge it, and take
            # its content as the base of the visible part's merge.
            self.room.submit(embedded)
            await self.room.flushed()
            carried: Doc[Any] = Doc()
            carried.apply_update(embedded)
            ops = RichText(carried.get(ROOT_TEXT, type=Text)).delta
            self.base_state = embedded
            self.base = await asyncio.to_thread(parse, render(ops, self.format), self.format)
        new = await asyncio.to_thread(parse, visible, self.format)
        client = system_client_id(
            self.room.name, self.base_state, visible, self._clients(self.base_state)
        )
        edit = system_update(self.base_state, new.ops, client, base_ops=self.base.ops)
        self.room.submit(edit.update)
        await self.room.flushed()
        self.base, self.base_state, self.disk_text = new, edit.state, text
        self._persist_base()
        self.log.info(
            "ysync: merged an outside edit of %s into room %s (%d bytes, %.1f ms)",
            self.path,
            self.room.name,
            len(edit.update),
            (time.perf_counter() - started) * 1000,
        )
        if await self._render() != visible:
            self.mark_unsaved()  # people typed since the last save: write the merge back
        elif self.state != "saved":
            self._mark_saved()

    async def _gone(self) -> None:
        self.closed = True
        self.state = "deleted"
        self._stop_timers()
        self.log.info("ysync: %s was deleted; closing room %s", self.path, self.room.name)
        self.room.close_peers(
            CloseCode.FILE_GONE,
            f"{self.path} was deleted or moved outside Jupyter; reopen the file to continue",
        )

    # -- saving ----------------------------------------------------------------------------

    def mark_unsaved(self) -> None:
        """The room changed: save it after ``save_delay`` (or ``max_save_delay`` at the latest)."""
        now = time.monotonic()
        if self.state != "unsaved":
            self.state = "unsaved"
            self._first_unsaved = now
            self.publish()
        if self._save_timer is not None:
            self._save_timer.cancel()
        delay = self.files.save_delay
        if now - self._first_unsaved + delay > self.files.max_save_delay:
            delay = max(0.0, self.files.max_save_delay - (now - self._first_unsaved))
        self._save_timer = asyncio.get_running_loop().call_later(
            delay, lambda: self._spawn(self.save())
        )

    def _mark_saved(self) -> None:
        self.state = "saved"
        self._first_unsaved = 0.0
        self.publish()

    async def save(self) -> FileStatus:
        """Write the room's content to the file now, if it differs from what the file holds.

        Raises:
            FileRefused: (403) the file is read-only.
        """
        if self._save_timer is not None:
            self._save_timer.cancel()
            self._save_timer = None
        if self.closed:
            return self.status()
        self.import_now()
        await self.room.flushed()
        async with self._lock:
            # Pull before pushing: an outside change not seen yet is merged first, never
            # overwritten (the watcher may not have reported it).
            with contextlib.suppress(FileRefused):
                on_disk, _ = await self.files.read(self.path)
                if on_disk != self.disk_text:
                    await self._reconcile(on_disk)
            ops = self._ops()
            state = self.room.doc.get_update()
            visible = await asyncio.to_thread(render, ops, self.format, self.base)
            text = embed_state(visible, state) if self.files.embed_state else visible
            if text != self.disk_text:
                if not self.writable:
                    raise FileRefused(
                        f"{self.path} is read-only on disk: its room's changes cannot be saved."
                        " Make the file writable, or copy the content elsewhere.",
                        403,
                    )
                model = await self.files.write(self.path, text)
                self.disk_text = text
                self.last_saved = _timestamp(model.get("last_modified")) or time.time()
                self.base = await asyncio.to_thread(parse, visible, self.format)
                self.base_state = state
                self._persist_base()
                self.log.debug("ysync: saved room %s to %s", self.room.name, self.path)
            if self._save_timer is None:
                self._mark_saved()
        return self.status()

    async def revert(self) -> FileStatus:
        """Make the room's content equal to the file on disk, as the system peer's edit."""
        self.import_now()
        await self.room.flushed()
        async with self._lock:
            text, _ = await self.files.read(self.path)
            target = await asyncio.to_thread(parse, self._split(text)[0], self.format)
            state = self.room.doc.get_update()
            client = system_client_id(self.room.name, state, text, self._clients(state))
            self.room.submit(system_update(state, target.ops, client).update)
            await self.room.flushed()
            self.disk_text = text
            self.base, self.base_state = target, self.room.doc.get_update()
            self._persist_base()
            if self._save_timer is not None:
                self._save_timer.cancel()
                self._save_timer = None
            self._mark_saved()
        return self.status()

    def _persist_base(self) -> None:
        assert self.base is not None
        store, name = self.files.store, self.room.name
        state, text = self.base_state, self.base.text.encode()

        async def persist() -> None:
            await store.set_meta(name, _BASE_STATE, state)
            await store.set_meta(name, _BASE_TEXT, text)

        self._spawn(persist())

    # -- presence --------------------------------------------------------------------------

    def publish(self) -> None:
        """Publish the file's status as the server's awareness state in the room."""
        if self.room.peers or self._published is not None:
            state = {"kind": FILE_KIND, "file": self.status().view()}
            self._published = state
            self.room.set_server_state(state)
        if self._heartbeat is None and self.room.peers:
            self._heartbeat = asyncio.get_running_loop().call_later(
                SERVER_STATE_INTERVAL, self._renew
            )

    def _renew(self) -> None:
        self._heartbeat = None
        if not self.closed:
            self.publish()

    # -- lifecycle -------------------------------------------------------------------------

    def _spawn(self, coro: Any) -> None:
        task = asyncio.get_running_loop().create_task(coro)
        self._tasks.add(task)
        task.add_done_callback(self._done)

    def _done(self, task: asyncio.Task[Any]) -> None:
        self._tasks.discard(task)
        if not task.cancelled() and task.exception() is not None:
            error = task.exception()
            self.log.error("ysync: file room %s: %s", self.room.name, error, exc_info=error)

    def _stop_timers(self) -> None:
        self._cancel_adoption()
        for timer in (self._save_timer, self._heartbeat):
            if timer is not None:
                timer.cancel()
        self._save_timer = self._heartbeat = None

    async def close(self, *, save: bool = True) -> None:
        """Save what is unsaved, then stop watching."""
        if save and self.state == "unsaved" and not self.closed:
            with contextlib.suppress(Exception):
                await self.save()
        self.closed = True
        self._stop_timers()
        if self._tasks:
            await asyncio.gather(*self._tasks, return_exceptions=True)


def _state_vector(update: bytes) -> bytes:
    doc: Doc[Any] = Doc()
    doc.apply_update(update)
    return doc.get_state()


def _timestamp(value: Any) -> float | None:
    if value is None:
        return None
    if isinstance(value, (int, float)):
        return float(value)
    timestamp = getattr(value, "timestamp", None)
    return float(timestamp()) if callable(timestamp) else None


class FileRooms:
    """Every loaded file room, bound to its file through the server's ContentsManager.

    Example::

        files = FileRooms(manager, contents_manager, lambda: file_id_manager, store)
        files.start()
        status = await files.open("notes/report.md")   # -> room "file:<id>"
    """

    def __init__(
        self,
        manager: RoomManager,
        contents: Any,
        file_ids: Callable[[], Any],
        store: Store,
        *,
        save_delay: float = 1.0,
        max_save_delay: float = 10.0,
        max_file_size: int = 16 * 1024 * 1024,
        poll_interval: float = 5.0,
        watch: bool = True,
        delete_grace: float = 0.5,
        embed_state: bool = False,
        log: logging.Logger | None = None,
    ) -> None:
        """
        Args:
            manager: The room registry; file rooms are bound when it loads them.
            contents: The server's ContentsManager: every read and write goes through it.
            file_ids: Returns the jupyter-server-fileid manager (called on first use).
            store: Where each file room's base (last saved state and text) is kept.
            save_delay: Seconds after the last change before the room is saved.
            max_save_delay: Seconds of continuous editing after which it is saved anyway.
            max_file_size: Largest file, in bytes, that opens as a shared document.
            poll_interval: Seconds between checks of each open file's ``last_modified``.
            watch: Also watch local files with inotify (watchfiles) for changes at once.
            delete_grace: Seconds a vanished file has to reappear (an atomic replace) before
                its room is closed.
            embed_state: Save each file with its Yjs history in a trailing comment
                (:mod:`.embedded_state`).
        """
        self.manager = manager
        self.contents = contents
        self._find_file_ids = file_ids
        self._file_ids: Any = None
        self.store = store
        self.save_delay = save_delay
        self.max_save_delay = max_save_delay
        self.max_file_size = max_file_size
        self.poll_interval = poll_interval
        self.watch = watch
        self.delete_grace = delete_grace
        self.embed_state = embed_state
        self.log = log or logging.getLogger(__name__)
        self.rooms: dict[str, FileRoom] = {}
        self._poller: asyncio.Task[None] | None = None
        self._watcher: asyncio.Task[None] | None = None
        self._watch_stop: asyncio.Event | None = None
        self._watched: frozenset[str] = frozenset()
        self._modified: dict[str, Any] = {}

    def start(self) -> None:
        """Bind file rooms as the manager loads them (watching starts with the first one)."""
        self.manager.on_load = self._bind
        self.manager.on_unload = self._unbind

    @property
    def file_ids(self) -> Any:
        """The file id service (resolved on first use: extensions load in any order)."""
        if self._file_ids is None:
            self._file_ids = self._find_file_ids()
        return self._file_ids

    async def stop(self) -> None:
        """Save every unsaved file room and stop watching."""
        for task in (self._poller, self._watcher):
            if task is not None:
                task.cancel()
        if self._watch_stop is not None:
            self._watch_stop.set()
        await asyncio.gather(
            *(t for t in (self._poller, self._watcher) if t is not None), return_exceptions=True
        )
        await asyncio.gather(*(room.close() for room in self.rooms.values()))
        self.rooms.clear()

    # -- paths and ids ---------------------------------------------------------------------

    def room_name(self, path: str) -> str:
        """The room of the file at ``path`` (indexing it in the file id service)."""
        file_id = self.file_ids.index(path)
        if file_id is None:
            raise FileRefused(
                f"No file at {path!r}: check the path (relative to the server root).", 404
            )
        return f"{FILE_ROOM_PREFIX}{file_id}"

    def path_of(self, file_id: str) -> str | None:
        """The file's current path, or None if the id service no longer knows it."""
        path = self.file_ids.get_path(file_id)
        return None if path is None else str(path).lstrip("/")

    def require_path(self, room: str) -> str:
        """The path of a file room's file.

        Raises:
            FileRefused: (404) if the file id is unknown.
        """
        path = self.path_of(room[len(FILE_ROOM_PREFIX) :])
        if path is None:
            raise FileRefused(
                f"Room {room!r} belongs to a file that no longer exists; open the file again.", 404
            )
        return path

    async def exists(self, path: str) -> bool:
        return bool(await ensure_async(self.contents.file_exists(path)))

    # -- reading and writing ---------------------------------------------------------------

    async def read(self, path: str) -> tuple[str, dict[str, Any]]:
        """The file's text and model, checked.

        Raises:
            FileRefused: missing (404), too large (413), not UTF-8 text or unsupported (415).
        """
        file_format(path)
        try:
            model = await ensure_async(self.contents.get(path, content=False, type="file"))
        except web.HTTPError as error:
            raise FileRefused(f"No file at {path!r}: {error.log_message or error}", 404) from None
        size = model.get("size")
        if size is not None and size > self.max_file_size:
            raise FileRefused(
                f"{path} is {size:,} bytes, more than YSyncApp.max_file_size"
                f" ({self.max_file_size:,}); it cannot open as a shared document.",
                413,
            )
        try:
            model = await ensure_async(
                self.contents.get(path, content=True, type="file", format="text")
            )
        except web.HTTPError as error:
            raise FileRefused(
                f"{path} is not UTF-8 text ({error.log_message or error}); only text files open"
                " as shared documents.",
                415,
            ) from None
        text = model.get("content")
        if not isinstance(text, str) or "\0" in text:
            raise FileRefused(f"{path} looks binary (NUL bytes); only text files open.", 415)
        return text.replace("\r\n", "\n"), model

    async def write(self, path: str, text: str) -> dict[str, Any]:
        model = {"type": "file", "format": "text", "content": text}
        saved: dict[str, Any] = await ensure_async(self.contents.save(model, path))
        self._modified[path] = saved.get("last_modified")
        return saved

    # -- binding ---------------------------------------------------------------------------

    async def open(self, path: str) -> FileStatus:
        """Load (once) the room of the file at ``path`` and describe it.

        Raises:
            FileRefused: if the file cannot be a shared document.
        """
        file_format(path)
        await self.read(path)
        name = self.room_name(path)
        await self.manager.get(name)
        return self.rooms[name].status()

    def get(self, room: str) -> FileRoom:
        """The loaded file room ``room``.

        Raises:
            FileRefused: (404) if it is not a loaded file room.
        """
        bound = self.rooms.get(room)
        if bound is None:
            raise FileRefused(f"Room {room!r} is not a file's room (open the file first).", 404)
        return bound

    async def load(self, room: str) -> FileRoom:
        """Load a file room (its file must exist) and return its binding."""
        await self.manager.get(room)
        return self.get(room)

    async def _bind(self, room: Room, had_history: bool) -> None:
        if not is_file_room(room.name):
            return
        path = self.require_path(room.name)
        bound = FileRoom(self, room, room.name[len(FILE_ROOM_PREFIX) :], path)
        await bound.bind(had_history)
        self.rooms[room.name] = bound
        room.on_joined = lambda peer: bound.publish()  # every joiner sees the file's status
        if self._poller is None:
            self._poller = asyncio.get_running_loop().create_task(self._poll())
        self._refresh_watch()

    def _unbind(self, room: Room) -> None:
        bound = self.rooms.pop(room.name, None)
        if bound is not None:
            task = asyncio.get_running_loop().create_task(bound.close())
            task.add_done_callback(lambda t: t.exception() if not t.cancelled() else None)
            self._refresh_watch()

    # -- watching --------------------------------------------------------------------------

    async def _poll(self) -> None:
        while True:
            await asyncio.sleep(self.poll_interval)
            for bound in list(self.rooms.values()):
                with contextlib.suppress(Exception):
                    model = await ensure_async(
                        self.contents.get(bound.path, content=False, type="file")
                    )
                    if model.get("last_modified") == self._modified.get(bound.path):
                        continue
                    self._modified[bound.path] = model.get("last_modified")
                await self._check(bound)

    async def _check(self, bound: FileRoom) -> None:
        try:
            await bound.check()
        except Exception:
            self.log.exception("ysync: checking %s for outside edits failed", bound.path)

    def changed(self, path: str) -> None:
        """Check at once the file room of ``path`` (a contents event or inotify saw it)."""
        path = path.lstrip("/")
        for bound in list(self.rooms.values()):
            if bound.path == path:
                asyncio.get_running_loop().create_task(self._check(bound))

    def _local_root(self) -> str | None:
        root = getattr(self.contents, "root_dir", None)
        if not self.watch or not root or not hasattr(self.contents, "_get_os_path"):
            return None
        return str(root)

    def _refresh_watch(self) -> None:
        root = self._local_root()
        if root is None:
            return
        dirs = frozenset(
            os.path.dirname(os.path.join(root, bound.path)) for bound in self.rooms.values()
        )
        if dirs == self._watched:
            return
        self._watched = dirs
        if self._watch_stop is not None:
            self._watch_stop.set()
        self._watcher = None
        if dirs:
            self._watch_stop = asyncio.Event()
            self._watcher = asyncio.get_running_loop().create_task(
                self._watch(root, dirs, self._watch_stop)
            )

    async def _watch(self, root: str, dirs: frozenset[str], stop: asyncio.Event) -> None:
        from watchfiles import awatch

        try:
            async for changes in awatch(
                *dirs, stop_event=stop, recursive=False, debounce=50, step=20
            ):
                for _, changed in changes:
                    if changed.startswith(root):
                        self.changed(changed[len(root) :].replace(os.sep, "/"))
        except Exception as error:  # e.g. inotify watches exhausted: polling goes on
            self.log.warning(
                "ysync: watching %s stopped (%s); polling goes on", sorted(dirs), error
            )


def on_contents_event(files: FileRooms) -> Callable[..., Any]:
    """A jupyter_events listener: contents saved, renamed or deleted through Jupyter."""

    async def listener(logger: Any, schema_id: str, data: dict[str, Any]) -> None:
        action = data.get("action")
        if action in ("save", "delete", "rename"):
            files.changed(str(data.get("source_path") or data.get("path") or ""))
            if action == "rename":
                files.changed(str(data.get("path") or ""))

    return listener
