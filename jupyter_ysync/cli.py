"""``jupyter ysync``: list, export, import, compact and delete rooms; list and restore versions.

It works on a running server through its REST API, found as :func:`jupyter_ysync.connect`
finds it (``--url`` and ``--token``, else ``JUPYTER_YSYNC_URL`` and ``JUPYTER_YSYNC_TOKEN``,
else the first running Jupyter server), or on a stopped server's store directly
(``--store PATH``, or ``--offline`` for the configured ``YSyncApp.store_path``). A store that a
running server holds is refused (exit code 6): its rooms in memory would not see the change.

Exit codes, for scripts:

==  ==========================================================================
0   done
1   failed (the server or the store refused the operation; the message says why)
2   usage: a bad command, option or argument (argparse's own code too)
3   not found: no such room, version or store
4   the server refused the credential (401) or the permission (403)
5   no server to talk to: none found, or it could not be reached
6   the store is in use by a running server (``--store``, ``--offline``)
==  ==========================================================================

Example::

    jupyter ysync rooms --json
    jupyter ysync export notes --format md -o notes.md
    jupyter ysync --offline rooms        # the stopped server's configured store
    jupyter ysync --store rooms.sqlite compact notes
"""

from __future__ import annotations

import argparse
import asyncio
import json
import sys
import time
import urllib.error
import urllib.request
from collections.abc import Awaitable, Callable, Sequence
from enum import IntEnum
from pathlib import Path
from typing import TYPE_CHECKING, Any, BinaryIO, Protocol, TypeVar
from urllib.parse import quote, urlencode

from .errors import RoomNotFound, ServerNotFound, VersionNotFound, YSyncError
from .protocol import ROOT_TEXT, TOKEN_ENV, URL_ENV

if TYPE_CHECKING:
    from .server.store import SQLiteStore, StoredRoom

T = TypeVar("T")

__all__ = ["CommandError", "ExitCode", "main"]

FORMATS = ("md", "html", "text", "delta", "yjs")
"""What ``export`` writes and ``import`` reads."""

_REST_FORMATS = {"md": "markdown", "html": "html", "text": "text", "delta": "delta"}
"""Each format as ``ysync/rooms/{room}/content?format=`` names it."""

_SUFFIXES = {
    ".md": "md",
    ".markdown": "md",
    ".html": "html",
    ".htm": "html",
    ".txt": "text",
    ".json": "delta",
    ".yjs": "yjs",
    ".bin": "yjs",
}
"""The format ``import`` assumes from a file's suffix when ``--format`` is not given."""


class ExitCode(IntEnum):
    """The process's exit status: scripts may rely on these."""

    OK = 0
    ERROR = 1
    USAGE = 2
    NOT_FOUND = 3
    AUTH = 4
    UNREACHABLE = 5
    STORE_BUSY = 6


class CommandError(YSyncError):
    """A command that failed: ``message`` for stderr, ``code`` for the exit status."""

    def __init__(self, message: str, code: ExitCode = ExitCode.ERROR) -> None:
        super().__init__(message)
        self.code = code


class Rooms(Protocol):
    """What every command needs, from a running server or from a store."""

    def rooms(self) -> list[dict[str, Any]]: ...

    def export(self, room: str, format: str) -> bytes: ...

    def import_(self, room: str, format: str, data: bytes) -> bool: ...

    def versions(self, room: str) -> list[dict[str, Any]]: ...

    def restore(self, room: str, version: str) -> dict[str, Any]: ...

    def compact(self, room: str) -> dict[str, Any]: ...

    def delete(self, room: str) -> None: ...


# -- a running server -----------------------------------------------------------------------


class ServerRooms:
    """The rooms of a running server, through its REST API (``ysync/...``)."""

    def __init__(self, base: str, token: str | None, timeout: float) -> None:
        """
        Args:
            base: The server's HTTP base URL, ending with ``/``.
            token: Sent as ``Authorization: token ...``.
            timeout: Seconds to wait for each answer.
        """
        self.base = base
        self.token = token
        self.timeout = timeout

    def rooms(self) -> list[dict[str, Any]]:
        return list(self._json("GET", "ysync/rooms"))

    def export(self, room: str, format: str) -> bytes:
        if format == "yjs":
            self._json("GET", f"ysync/rooms/{_quote(room)}")  # 404 if unknown; never created
            return self._call("GET", f"ysync/rooms/{_quote(room)}/updates")
        kind = _REST_FORMATS[format]
        answer = self._json("GET", f"ysync/rooms/{_quote(room)}/content", {"format": kind})
        return _encode(kind, answer[kind])

    def import_(self, room: str, format: str, data: bytes) -> bool:
        if format == "yjs":
            self._call(
                "POST",
                f"ysync/rooms/{_quote(room)}/updates",
                body=data,
                content_type="application/octet-stream",
            )
            return True
        kind = _REST_FORMATS[format]
        answer = self._json("PUT", f"ysync/rooms/{_quote(room)}/content", {"format": kind}, data)
        return bool(answer.get("changed"))

    def versions(self, room: str) -> list[dict[str, Any]]:
        return list(self._json("GET", f"ysync/rooms/{_quote(room)}/versions"))

    def restore(self, room: str, version: str) -> dict[str, Any]:
        path = f"ysync/rooms/{_quote(room)}/versions/{_quote(version)}/restore"
        answer = self._json("POST", path, body=b"{}")
        return answer if isinstance(answer, dict) else {}

    def compact(self, room: str) -> dict[str, Any]:
        return dict(self._json("POST", f"ysync/rooms/{_quote(room)}/compact", body=b"{}"))

    def delete(self, room: str) -> None:
        self._call("DELETE", f"ysync/rooms/{_quote(room)}")

    def _json(
        self,
        method: str,
        path: str,
        query: dict[str, str] | None = None,
        body: bytes | None = None,
    ) -> Any:
        return json.loads(self._call(method, path, query, body) or b"null")

    def _call(
        self,
        method: str,
        path: str,
        query: dict[str, str] | None = None,
        body: bytes | None = None,
        content_type: str = "application/json",
    ) -> bytes:
        url = self.base + path + (f"?{urlencode(query)}" if query else "")
        request = urllib.request.Request(url, data=body, method=method)
        request.add_header("Accept", "application/json")
        if body is not None:
            request.add_header("Content-Type", content_type)
        if self.token:
            request.add_header("Authorization", f"token {self.token}")
        try:
            with urllib.request.urlopen(request, timeout=self.timeout or None) as response:
                return bytes(response.read())
        except urllib.error.HTTPError as error:
            with error:
                message = _error_message(error.read()) or str(error.reason)
            raise CommandError(
                f"{method} {path}: {error.code} {message}", _code_of(error.code)
            ) from None
        except (urllib.error.URLError, OSError) as error:
            reason = getattr(error, "reason", error)
            raise CommandError(
                f"Could not reach the Jupyter server at {self.base}: {reason}. Is it running?"
                " Pass --url, or --offline (--store PATH) to work on a stopped server's store.",
                ExitCode.UNREACHABLE,
            ) from None


def _quote(segment: str) -> str:
    return quote(segment, safe="")


def _code_of(status: int) -> ExitCode:
    if status in (401, 403):
        return ExitCode.AUTH
    if status in (404, 410):
        return ExitCode.NOT_FOUND
    return ExitCode.ERROR


def _error_message(body: bytes) -> str:
    try:
        value = json.loads(body)
    except ValueError:
        return body.decode(errors="replace").strip()[:500]
    if isinstance(value, dict):
        return str(value.get("message") or value.get("reason") or "")
    return ""


def _encode(kind: str, content: Any) -> bytes:
    """Content as ``export`` writes it: text as is, a delta as indented JSON."""
    if kind == "delta":
        return (json.dumps(content, indent=2, ensure_ascii=False) + "\n").encode()
    return str(content).encode()


# -- a stopped server's store ---------------------------------------------------------------


class StoreRooms:
    """The rooms of a stopped server, read and written in its store directly.

    Use it as a context manager: it holds the store's lock exclusively meanwhile, so that no
    server opens the store underneath it (and refuses a store a server holds).
    """

    def __init__(self, path: Path) -> None:
        self.path = path
        self._lock: BinaryIO | None = None

    def __enter__(self) -> StoreRooms:
        from .server.store_lock import StoreBusy, exclusive_store

        if not self.path.is_file():
            raise CommandError(
                f"No room store at {self.path}: pass --store PATH, the server's"
                " YSyncApp.store_path.",
                ExitCode.NOT_FOUND,
            )
        try:
            self._lock = exclusive_store(self.path)
        except StoreBusy:
            raise CommandError(
                f"A running Jupyter server is using the room store {self.path}: stop it first,"
                " or leave out --offline/--store to go through the server's REST API.",
                ExitCode.STORE_BUSY,
            ) from None
        return self

    def __exit__(self, *exc_info: object) -> None:
        from .server.store_lock import release_store

        if self._lock is not None:
            release_store(self.path, self._lock)
            self._lock = None

    def rooms(self) -> list[dict[str, Any]]:
        async def run(store: SQLiteStore) -> list[dict[str, Any]]:
            return [_stored_view(room) for room in await store.rooms()]

        return self._run(run)

    def export(self, room: str, format: str) -> bytes:
        async def run(store: SQLiteStore) -> bytes:
            from pycrdt import Doc, Text

            from .richtext import RichText
            from .updates import replay

            updates = await store.load(room)
            if not updates:
                raise CommandError(_no_room(room, self.path), ExitCode.NOT_FOUND)
            doc: Doc[Any] = Doc()
            replay(doc, updates)
            if format == "yjs":
                return bytes(doc.get_update())
            text = RichText(doc.get(ROOT_TEXT, type=Text))
            if format == "delta":
                return _encode("delta", text.delta)
            if format == "md":
                return text.to_markdown().encode()
            if format == "html":
                return text.to_html().encode()
            return str(text).encode()

        return self._run(run)

    def import_(self, room: str, format: str, data: bytes) -> bool:
        _refuse_file_room(room, "import")

        async def run(store: SQLiteStore) -> bool:
            from .server.room import Room
            from .server.system_peer import content_ops, replace_content

            live = Room(room, store)
            live.load(await store.load(room))
            if format == "yjs":
                return await _apply_update(live, data)
            try:
                target = content_ops(_REST_FORMATS[format], data)
            except ValueError as error:
                raise CommandError(f"Invalid {format} content: {error}") from None
            changed = replace_content(live, target) > 0
            await live.flushed()
            if live.failed:
                raise CommandError(f"The store {self.path} refused the change; see the log.")
            return changed

        return self._run(run)

    def versions(self, room: str) -> list[dict[str, Any]]:
        async def run(store: SQLiteStore) -> list[dict[str, Any]]:
            from .server.history import History
            from .server.manager import RoomManager

            manager = RoomManager(store)
            manager.start()
            try:
                return await History(manager, store).versions(room)
            except RoomNotFound:
                raise CommandError(_no_room(room, self.path), ExitCode.NOT_FOUND) from None
            finally:
                await manager.stop()

        return self._run(run)

    def restore(self, room: str, version: str) -> dict[str, Any]:
        _refuse_file_room(room, "restore")
        number = _version_number(version)

        async def run(store: SQLiteStore) -> dict[str, Any]:
            from pycrdt import Text

            from .richtext import RichText
            from .server.history import History
            from .server.manager import RoomManager
            from .server.system_peer import replace_content

            manager = RoomManager(store)
            manager.start()
            try:
                try:
                    doc = await History(manager, store).version_doc(room, number)
                except VersionNotFound as error:
                    raise CommandError(str(error), ExitCode.NOT_FOUND) from None
                target = RichText(doc.get(ROOT_TEXT, type=Text)).delta
                live = await manager.get(room)
                changed = replace_content(live, target) > 0
                await live.flushed()
                if live.failed:
                    raise CommandError(f"The store {self.path} refused the change; see the log.")
            finally:
                await manager.stop()
            return {"room": room, "version": number, "changed": changed}

        return self._run(run)

    def compact(self, room: str) -> dict[str, Any]:
        async def run(store: SQLiteStore) -> dict[str, Any]:
            before = await self._require_room(store, room)
            await store.compact(room)
            after = await self._require_room(store, room)
            return {
                "room": room,
                "updates": after.updates,
                "size": after.size,
                "before": {"updates": before.updates, "size": before.size},
            }

        return self._run(run)

    def delete(self, room: str) -> None:
        async def run(store: SQLiteStore) -> None:
            if not await store.delete(room):
                raise CommandError(_no_room(room, self.path), ExitCode.NOT_FOUND)

        self._run(run)

    async def _require_room(self, store: SQLiteStore, room: str) -> StoredRoom:
        stored = await store.room(room)
        if stored is None:
            raise CommandError(_no_room(room, self.path), ExitCode.NOT_FOUND)
        return stored

    def _run(self, operation: Callable[[SQLiteStore], Awaitable[T]]) -> T:
        from .server.store import SQLiteStore

        async def run() -> T:
            store = SQLiteStore(self.path)
            await store.start()
            try:
                return await operation(store)
            finally:
                await store.stop()

        return asyncio.run(run())


async def _apply_update(room: Any, update: bytes) -> bool:
    """Integrate a Yjs update into a loaded room and store it; whether it changed anything."""
    from .protocol import parse_state_vector
    from .updates import scan_update

    try:
        shape = scan_update(update)
    except ValueError as error:
        raise CommandError(f"Not a Yjs update (v1 encoding): {error}") from None
    if shape.missing(parse_state_vector(room.doc.get_state())):
        raise CommandError(
            f"The update builds on content room {room.name!r} does not have: export it"
            " whole (Y.encodeStateAsUpdate(doc)) and import that."
        )
    before = room.doc.get_state()
    room.submit(update)
    await room.flushed()
    if room.failed:
        raise CommandError(f"The store refused the update of room {room.name!r}; see the log.")
    return bool(room.doc.get_state() != before)


def _refuse_file_room(room: str, command: str) -> None:
    """A file's room follows its file, which only a running server writes."""
    from .server.file_room import is_file_room

    if is_file_room(room):
        raise CommandError(
            f"Room {room!r} is a file's room: it follows its file, which only a running server"
            f" saves. Edit the file, or {command} through the server (leave out --offline)."
        )


def _version_number(version: str) -> int:
    try:
        return int(version)
    except ValueError:
        raise CommandError(
            f"Version {version!r}: a version id is a number, as `versions` lists it.",
            ExitCode.USAGE,
        ) from None


def _no_room(room: str, path: Path) -> str:
    return f"No room named {room!r} in {path}: list them with `jupyter ysync --store {path} rooms`."


def _stored_view(room: Any) -> dict[str, Any]:
    """A stored room as ``GET ysync/rooms`` describes it (a stopped server has none loaded)."""
    last = room.last_modified
    return {
        "name": room.name,
        "loaded": False,
        "peers": 0,
        "size": room.size,
        "updates": room.updates,
        "last_modified": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime(last)) if last else None,
    }


def default_store_path() -> Path:
    """The store the server would open: ``YSyncApp.store_path`` from the Jupyter server's
    configuration files, else its default ``<jupyter data dir>/ysync/rooms.sqlite``."""
    from jupyter_core.application import JupyterApp
    from jupyter_core.paths import jupyter_data_dir

    class _ServerConfig(JupyterApp):
        name = "jupyter_server"  # reads jupyter_server_config.{py,json} where the server does

    app = _ServerConfig()
    app.load_config_file(suppress_errors=True)
    configured = app.config.get("YSyncApp", {}).get("store_path")
    if configured:
        return Path(configured).expanduser()
    return Path(jupyter_data_dir()) / "ysync" / "rooms.sqlite"


# -- commands ---------------------------------------------------------------------------------


def _rooms(args: argparse.Namespace, rooms: Rooms) -> None:
    found = rooms.rooms()
    if args.json:
        _print_json(found)
        return
    _print_table(
        ["NAME", "LOADED", "PEERS", "UPDATES", "SIZE", "LAST MODIFIED"],
        [
            [
                room["name"],
                "yes" if room.get("loaded") else "no",
                str(room.get("peers", 0)),
                str(room.get("updates", 0)),
                _size(room.get("size", 0)),
                room.get("last_modified") or "-",
            ]
            for room in found
        ],
    )


def _export(args: argparse.Namespace, rooms: Rooms) -> None:
    content = rooms.export(args.room, args.format)
    if args.output in (None, "-"):
        sys.stdout.flush()
        sys.stdout.buffer.write(content)
        sys.stdout.buffer.flush()
        return
    Path(args.output).write_bytes(content)
    _info(args, f"Room {args.room!r} exported to {args.output} ({_size(len(content))}).")


def _import(args: argparse.Namespace, rooms: Rooms) -> None:
    format = args.format or _format_of(args.file)
    try:
        data = sys.stdin.buffer.read() if args.file == "-" else Path(args.file).read_bytes()
    except OSError as error:
        raise CommandError(f"Cannot read {args.file}: {error.strerror or error}") from None
    changed = rooms.import_(args.room, format, data)
    _info(args, f"Room {args.room!r} " + ("updated." if changed else "unchanged: same content."))


def _versions(args: argparse.Namespace, rooms: Rooms) -> None:
    found = rooms.versions(args.room)
    if args.json:
        _print_json(found)
        return
    _print_table(
        ["ID", "CREATED", "NAME", "AUTHORS", "SIZE"],
        [
            [
                str(version.get("id")),
                _time(version.get("created")),
                str(version.get("name") or ("(auto)" if version.get("auto") else "-")),
                _authors(version.get("authors") or []),
                _size(version.get("size") or 0),
            ]
            for version in found
        ],
    )


def _restore(args: argparse.Namespace, rooms: Rooms) -> None:
    rooms.restore(args.room, args.version)
    _info(args, f"Room {args.room!r} restored to version {args.version}.")


def _compact(args: argparse.Namespace, rooms: Rooms) -> None:
    result = rooms.compact(args.room)
    _info(
        args,
        f"Room {args.room!r} compacted: {result.get('updates')} stored update(s),"
        f" {_size(result.get('size') or 0)}.",
    )


def _confirm_delete(args: argparse.Namespace) -> None:
    """Ask before a deletion (before the store is locked: a person may take their time)."""
    if args.yes:
        return
    if not sys.stdin.isatty():
        raise CommandError(
            f"Deleting room {args.room!r} removes its history for good: pass --yes.",
            ExitCode.USAGE,
        )
    answer = input(f"Delete room {args.room!r} and all its history? [y/N] ")
    if answer.strip().lower() not in ("y", "yes"):
        raise CommandError("Nothing deleted.")


def _delete(args: argparse.Namespace, rooms: Rooms) -> None:
    rooms.delete(args.room)
    _info(args, f"Room {args.room!r} deleted.")


def _format_of(path: str) -> str:
    format = _SUFFIXES.get(Path(path).suffix.lower()) if path != "-" else None
    if format is None:
        raise CommandError(
            f"Cannot tell the format of {path}: pass --format ({', '.join(FORMATS)}).",
            ExitCode.USAGE,
        )
    return format


def _info(args: argparse.Namespace, message: str) -> None:
    if not args.quiet:
        print(message, file=sys.stderr)


def _print_json(value: Any) -> None:
    print(json.dumps(value, indent=2, ensure_ascii=False))


def _print_table(header: list[str], rows: list[list[str]]) -> None:
    widths = [max(len(row[i]) for row in [header, *rows]) for i in range(len(header))]
    for row in [header, *rows]:
        print(
            "  ".join(cell.ljust(width) for cell, width in zip(row, widths, strict=True)).rstrip()
        )


def _size(size: float) -> str:
    for unit in ("B", "kB", "MB"):
        if size < 1000:
            return f"{size:.0f} {unit}" if unit == "B" else f"{size:.1f} {unit}"
        size /= 1000
    return f"{size:.1f} GB"


def _time(value: Any) -> str:
    if isinstance(value, (int, float)):
        return time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime(value))
    return str(value or "-")


def _authors(authors: Sequence[Any]) -> str:
    names = []
    for author in authors:
        if isinstance(author, dict):
            author = (
                author.get("display_name") or author.get("name") or author.get("username") or "?"
            )
        names.append(str(author))
    return ", ".join(names) or "-"


# -- the parser -------------------------------------------------------------------------------

COMMANDS: dict[str, Callable[[argparse.Namespace, Rooms], None]] = {
    "rooms": _rooms,
    "export": _export,
    "import": _import,
    "versions": _versions,
    "restore": _restore,
    "compact": _compact,
    "delete": _delete,
}

_EPILOG = f"""\
Without --offline, the commands go through a running server's REST API: --url and --token,
else ${URL_ENV} and ${TOKEN_ENV}, else the first running Jupyter server. With --offline (or
--store PATH), they work on a stopped server's store; a store a running server holds is refused.

exit codes: 0 done, 1 failed, 2 usage, 3 not found, 4 credential or permission refused,
5 no server found or reachable, 6 store in use by a running server.
"""


def _common_options(parser: argparse.ArgumentParser, default: Any) -> None:
    """Where to find the rooms: accepted before and after the command."""
    where = parser.add_argument_group("where the rooms are")
    where.add_argument(
        "--url",
        default=default,
        help="the Jupyter server's URL, e.g. http://127.0.0.1:8888/ (a page's URL with"
        " ?token=... works too)",
    )
    where.add_argument("--token", default=default, help="the server's token")
    where.add_argument(
        "--store",
        default=default,
        metavar="PATH",
        help="work on the stopped server's store at PATH (implies --offline)",
    )
    where.add_argument(
        "--offline",
        action="store_true",
        default=default,
        help="work on a stopped server's store: --store, else the configured YSyncApp.store_path",
    )
    where.add_argument(
        "--timeout",
        type=float,
        default=default,
        help="seconds to wait for each answer of the server (default 30)",
    )
    where.add_argument(
        "-q", "--quiet", action="store_true", default=default, help="no messages on stderr"
    )


def build_parser() -> argparse.ArgumentParser:
    """The argument parser of ``jupyter ysync``."""
    parser = argparse.ArgumentParser(
        prog="jupyter ysync",
        description="Manage jupyter_ysync rooms on a running server or in a stopped"
        " server's store.",
        epilog=_EPILOG,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    _common_options(parser, None)
    commands = parser.add_subparsers(dest="command", metavar="COMMAND", required=True)

    def command(name: str, help: str, description: str) -> argparse.ArgumentParser:
        sub = commands.add_parser(
            name,
            help=help,
            description=description,
            epilog=_EPILOG,
            formatter_class=argparse.RawDescriptionHelpFormatter,
        )
        _common_options(sub, argparse.SUPPRESS)  # after the command, overriding
        return sub

    sub = command("rooms", "list the rooms", "List every stored or loaded room.")
    sub.add_argument("--json", action="store_true", help="print JSON, as GET ysync/rooms does")

    sub = command(
        "export",
        "write a room's content",
        "Write a room's content: Markdown, HTML, plain text, a Quill delta (JSON), or its"
        " Yjs state as one binary update (yjs).",
    )
    sub.add_argument("room", help="the room's name")
    sub.add_argument("--format", "-f", choices=FORMATS, default="md", help="default: md")
    sub.add_argument("-o", "--output", metavar="FILE", help="write to FILE (default: stdout)")

    sub = command(
        "import",
        "change a room's content to a file's",
        "Make a room's content the file's, as minimal edits merged into the room like any"
        " peer's (what others typed elsewhere in the text survives). A yjs file is one"
        " binary Yjs update, applied as is. Creates the room if it does not exist.",
    )
    sub.add_argument("room", help="the room's name")
    sub.add_argument("file", help="the file to read, - for stdin")
    sub.add_argument(
        "--format",
        "-f",
        choices=FORMATS,
        help="default: from the file's suffix (.md .html .txt .json .yjs)",
    )

    sub = command("versions", "list a room's versions", "List a room's versions, newest first.")
    sub.add_argument("room", help="the room's name")
    sub.add_argument(
        "--json", action="store_true", help="print JSON, as GET ysync/rooms/{room}/versions does"
    )

    sub = command(
        "restore",
        "restore a version",
        "Turn a room's content back into a version's, as a new change that peers see as an"
        " edit (undoable; the history is kept).",
    )
    sub.add_argument("room", help="the room's name")
    sub.add_argument("version", help="the version's id, as `versions` lists it")

    sub = command(
        "compact",
        "merge a room's stored log",
        "Merge a room's stored log of updates into one update: smaller, faster to load.",
    )
    sub.add_argument("room", help="the room's name")

    sub = command(
        "delete",
        "delete a room",
        "Delete a room and its whole stored history; its peers are disconnected.",
    )
    sub.add_argument("room", help="the room's name")
    sub.add_argument("--yes", "-y", action="store_true", help="do not ask for confirmation")
    return parser


def _open(args: argparse.Namespace) -> tuple[Rooms, StoreRooms | None]:
    if args.store or args.offline:
        rooms = StoreRooms(Path(args.store).expanduser() if args.store else default_store_path())
        return rooms, rooms
    from .client._discovery import resolve_server
    from .client._files import http_base

    try:
        base, token = resolve_server(args.url, args.token)
    except ServerNotFound as error:
        if args.url is not None:  # not a server address
            raise CommandError(str(error), ExitCode.USAGE) from None
        raise CommandError(
            f"No running Jupyter server found: pass --url and --token, or set {URL_ENV} and"
            f" {TOKEN_ENV}. For a stopped server's store, pass --offline or --store PATH.",
            ExitCode.UNREACHABLE,
        ) from None
    timeout = getattr(args, "timeout", None)
    return ServerRooms(http_base(base), token, 30.0 if timeout is None else timeout), None


def main(argv: Sequence[str] | None = None) -> int:
    """Run ``jupyter ysync``; return its exit code."""
    parser = build_parser()
    args = parser.parse_args(argv)
    for name in ("url", "token", "store", "offline", "timeout", "quiet"):
        if not hasattr(args, name):
            setattr(args, name, None)
    if getattr(args, "room", None) is not None:
        from .protocol import validate_room_name

        try:
            validate_room_name(args.room)
        except ValueError as error:
            parser.exit(ExitCode.USAGE, f"{parser.prog}: error: {error}\n")
    try:
        if args.command == "delete":
            _confirm_delete(args)
        rooms, store = _open(args)
        if store is None:
            COMMANDS[args.command](args, rooms)
        else:
            with store:
                COMMANDS[args.command](args, rooms)
    except CommandError as error:
        print(f"jupyter ysync {args.command}: {error}", file=sys.stderr)
        return int(error.code)
    except KeyboardInterrupt:
        return 130
    return ExitCode.OK


if __name__ == "__main__":
    sys.exit(main())
