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
from collections.abc import Callable
from typing import Any

from jupyter_core.utils import ensure_async
from tornado import web

from ..errors import FileRefused
from .file_room import FILE_ROOM_PREFIX, FileRoom, FileStatus, file_format, is_file_room
from .manager import RoomManager
from .room import Room
from .store import Store

__all__ = ["FILE_ROOM_PREFIX", "FileRooms", "is_file_room", "on_contents_event"]


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
        return text, model

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
