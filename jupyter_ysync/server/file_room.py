"""One file's room: import, save, outside edits merged by the system peer (see :mod:`.files`)."""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
from dataclasses import dataclass
from pathlib import PurePosixPath
from typing import TYPE_CHECKING, Any, Literal

from pycrdt import Doc, Text

from ..errors import FileRefused
from ..protocol import FILE_KIND, ROOT_TEXT, CloseCode, parse_state_vector
from ..richtext import RichText
from ..richtext.lossless import Parsed, parse, render
from .embedded_state import embed_state, split_state
from .room import SERVER, Peer, Room
from .system_peer import room_clients, system_client_id, system_update

if TYPE_CHECKING:
    from .files import FileRooms

__all__ = [
    "FILE_FORMATS",
    "FILE_ROOM_PREFIX",
    "FileFormat",
    "FileRoom",
    "FileStatus",
    "file_format",
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
            client = system_client_id(self.room.name, state, visible, room_clients(self.room))
            edit = system_update(state, disk.ops, client, inserts_only=True)
            self.room.submit(edit.update)
            await self.room.flushed()
            self.base_state = edit.state
            self.base = await asyncio.to_thread(
                parse, render(self._ops(), self.format, disk), self.format, disk
            )
            self._persist_base()
            self.log.info(
                "ysync: room %s adopted a reconnecting peer's history and merged what only %s held",
                self.room.name,
                self.path,
            )
            self.mark_unsaved()

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
        new = await asyncio.to_thread(parse, visible, self.format, self.base)
        client = system_client_id(self.room.name, self.base_state, visible, room_clients(self.room))
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
        if self._adopting is not None:  # a reconnecting peer's history decides the import
            self.mark_unsaved()
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
                self.base = await asyncio.to_thread(parse, visible, self.format, self.base)
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
            target = await asyncio.to_thread(parse, self._split(text)[0], self.format, self.base)
            state = self.room.doc.get_update()
            client = system_client_id(self.room.name, state, text, room_clients(self.room))
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
