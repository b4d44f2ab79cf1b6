"""The jupyter_server extension: configuration, handlers and lifecycle."""

from __future__ import annotations

import asyncio
import gc
import getpass
import hashlib
import hmac
import os
from concurrent.futures import Future
from pathlib import Path
from typing import Any

from jupyter_core.paths import jupyter_data_dir
from jupyter_server.extension.application import ExtensionApp
from traitlets import Bool, Float, Int, Unicode, default, validate

from ..protocol import TOKEN_ENV, URL_ENV
from .cli_handlers import RoomCompactHandler
from .events import RoomEvents
from .file_handlers import FileActionHandler, FileHandler
from .files import FileRooms, on_contents_event
from .framing import websocket_frame
from .handlers import KERNEL_USER, RoomContentHandler, RoomsHandler, RoomSocket
from .history import History
from .history_handlers import history_handlers
from .http_sync import DEFAULT_MAX_WAIT, DEFAULT_SESSION_TIMEOUT, HttpSync, http_sync_handlers
from .manager import RoomManager
from .metrics import watch as watch_metrics
from .store import SQLiteStore
from .system_peer import ReadStates

MiB = 1024 * 1024

CONTENTS_EVENTS = "https://events.jupyter.org/jupyter_server/contents_service/v1"


def _owner() -> str:
    """The user the server runs as: the kernel credential's edits are attributed to them."""
    try:
        return getpass.getuser()
    except (OSError, KeyError):  # no login name and no password entry (some containers)
        return "jupyter"


class YSyncApp(ExtensionApp):
    """Collaboration rooms on the Jupyter server, persisted in an update log."""

    name = "jupyter_ysync"
    description = __doc__

    store_path = Unicode(
        config=True,
        help="SQLite file holding every room's update log."
        " Default: <jupyter data dir>/ysync/rooms.sqlite.",
    )
    sqlite_synchronous = Unicode(
        "NORMAL",
        config=True,
        help="SQLite 'synchronous' pragma: NORMAL (default) keeps every committed update through"
        " a crash or kill -9 of the server; FULL also through power loss, at a cost per commit.",
    )
    compact_after = Int(
        1000,
        config=True,
        help="Merge a room's stored log into one update once it holds more than this many"
        " updates (default 1000; 0 never compacts).",
    )
    idle_unload_delay = Float(
        60.0,
        config=True,
        help="Seconds a room stays in memory after its last peer left (default 60).",
    )
    max_message_size = Int(
        64 * MiB,
        config=True,
        help="Largest websocket message accepted from a peer, in bytes (default 64 MiB);"
        " larger ones close the peer with code 4413.",
    )
    max_send_buffer = Int(
        64 * MiB,
        config=True,
        help="Bytes that may wait to be sent to one peer (default 64 MiB); a peer further behind"
        " is disconnected and resyncs when it reconnects.",
    )
    send_timeout = Float(
        30.0,
        config=True,
        help="Seconds a peer may go without reading while messages wait for it (default 30);"
        " a peer that stopped reading is then disconnected, freeing what was queued for it,"
        " and resyncs when it reconnects. 0 waits as long as max_send_buffer allows.",
    )
    freeze_gc = Bool(
        True,
        config=True,
        help="Once the server has started, exempt the objects alive then from Python's cyclic"
        " garbage collector (gc.freeze()): its full collections otherwise walk everything the"
        " server imported, pausing every room for 20-100 ms. Applies to the whole server"
        " process (default True).",
    )
    kernel_credentials = Bool(
        True,
        config=True,
        help=f"Give kernels {URL_ENV} and {TOKEN_ENV} (a credential valid on ysync routes only)"
        " so that `jupyter_ysync.connect()` needs no arguments (default True).",
    )

    save_delay = Float(
        1.0,
        config=True,
        help="Seconds after the last change before a file's room is written to its file"
        " (default 1).",
    )
    max_save_delay = Float(
        10.0,
        config=True,
        help="Seconds of continuous editing after which a file's room is written anyway"
        " (default 10).",
    )
    max_file_size = Int(
        16 * MiB,
        config=True,
        help="Largest .md/.html file, in bytes, that opens as a shared document (default 16 MiB).",
    )
    file_poll_interval = Float(
        5.0,
        config=True,
        help="Seconds between checks of each open file's last_modified through the"
        " ContentsManager, for edits made outside the room (default 5). Local files are also"
        " watched with inotify, which sees a change at once.",
    )
    embed_state = Bool(
        False,
        config=True,
        help="Save .md/.html files with their Yjs history in a trailing HTML comment"
        ' (<!-- ysync version="1" state="..." -->), so that it travels with the file: another'
        " server, or a git clone, continues it instead of importing afresh (default False).",
    )
    watch_files = Bool(
        True,
        config=True,
        help="Watch open local files with inotify (watchfiles) besides polling (default True).",
    )

    http_max_wait = Float(
        DEFAULT_MAX_WAIT,
        config=True,
        help="Longest long poll an HTTP client may ask for (GET ysync/rooms/{room}/updates"
        "?wait=...), in seconds (default 30); a larger wait is refused with 400.",
    )
    http_session_timeout = Float(
        DEFAULT_SESSION_TIMEOUT,
        config=True,
        help="Seconds an HTTP client's session (X-YSync-Session) stays in its room after its"
        " last request ended (default 30); its awareness states then leave the room.",
    )

    redis_url = Unicode(
        "",
        config=True,
        help="Redis URL (redis://host:6379/0, rediss:// for TLS) shared by every server that"
        " serves the same rooms: a JupyterHub's single-user servers, or processes behind a load"
        " balancer. Empty (default): this server alone holds its rooms.",
    )
    room_namespace = Unicode(
        "ysync",
        config=True,
        help="Prefix of every Redis key and channel (default 'ysync'): servers with the same"
        " redis_url and namespace serve the same rooms.",
    )
    redis_server_ttl = Float(
        10.0,
        config=True,
        help="Seconds this server's liveness key lives in Redis unless renewed (default 10):"
        " other servers clear its peers' presence that long after it died.",
    )

    version_quiet_delay = Float(
        30.0,
        config=True,
        help="Seconds without a change after which a changed room's content is kept as a"
        " version (default 30; 0 takes no automatic versions).",
    )
    version_max_interval = Float(
        600.0,
        config=True,
        help="Most seconds of continuous editing between two automatic versions of a room"
        " (default 600; 0: only when the room goes quiet).",
    )
    version_retention = Int(
        100,
        config=True,
        help="Automatic versions kept per room, the newest (default 100; 0 keeps all)."
        " Named versions are kept until their room is deleted.",
    )
    version_max_age = Float(
        30 * 24 * 3600.0,
        config=True,
        help="Seconds an automatic version is kept (default 30 days; 0 keeps them for ever)."
        " Named versions are kept until their room is deleted.",
    )

    @default("store_path")
    def _default_store_path(self) -> str:
        return str(Path(jupyter_data_dir()) / "ysync" / "rooms.sqlite")

    @validate("sqlite_synchronous")
    def _validate_synchronous(self, proposal: Any) -> str:
        value = str(proposal["value"]).upper()
        if value not in ("NORMAL", "FULL", "EXTRA"):
            raise ValueError(f"sqlite_synchronous={value!r}: use NORMAL, FULL or EXTRA.")
        return value

    store: SQLiteStore
    manager: RoomManager
    _store_opened: Future[None]
    kernel_token: str = ""

    def initialize_settings(self) -> None:
        if self.serverapp is not None and "log_level" not in self.config.get(
            type(self).__name__, {}
        ):
            # An extension app logs at INFO by default, whatever --log-level the server got.
            self.log_level = self.serverapp.log_level
        self.store = SQLiteStore(self.store_path, synchronous=self.sqlite_synchronous)
        self.manager = RoomManager(
            self.store,
            idle_unload_delay=self.idle_unload_delay,
            compact_after=self.compact_after,
            frame=websocket_frame,
            log=self.log,
        )
        self.files = FileRooms(
            self.manager,
            self.serverapp.contents_manager if self.serverapp else None,
            self._file_ids,
            self.store,
            save_delay=self.save_delay,
            max_save_delay=self.max_save_delay,
            max_file_size=self.max_file_size,
            poll_interval=self.file_poll_interval,
            watch=self.watch_files,
            embed_state=self.embed_state,
            log=self.log,
        )
        self.settings["ysync_files"] = self.files
        self.manager.events = RoomEvents.register(
            getattr(self.serverapp, "event_logger", None), self.log
        )
        watch_metrics(self.manager)  # rooms and peers, read when /metrics is scraped
        self.http_sync = HttpSync(
            self.manager,
            session_timeout=self.http_session_timeout,
            max_wait=self.http_max_wait,
            log=self.log,
        )
        self.settings["ysync_read_states"] = ReadStates()
        self.history = History(
            self.manager,
            self.store,
            quiet_delay=self.version_quiet_delay,
            max_interval=self.version_max_interval,
            retention=self.version_retention,
            max_age=self.version_max_age,
            owner=_owner(),
            kernel_username=KERNEL_USER.username,
            log=self.log,
        )
        self.settings["ysync_history"] = self.history
        self.files.start()
        self.history.install()  # after FileRooms took the manager's load hooks: it chains them
        events = getattr(self.serverapp, "event_logger", None)
        if events is not None:  # saved, renamed or deleted through Jupyter: look at once
            events.add_listener(schema_id=CONTENTS_EVENTS, listener=on_contents_event(self.files))
        # Started here, not when the server has started: requests are served from then on.
        self._store_opened = self.store.start_soon()
        self.manager.start()
        self.redis_sync: Any = None
        if self.redis_url:
            from .redis_sync import RedisSync

            self.redis_sync = RedisSync(
                self.manager,
                self.redis_url,
                namespace=self.room_namespace,
                server_ttl=self.redis_server_ttl,
                compact_after=self.compact_after,
                log=self.log,
            )
            self.redis_sync.install()  # after the file rooms' hooks, which it chains
        self.kernel_token = self._derive_kernel_token()
        if self.kernel_credentials:
            self._export_kernel_credentials()
        self.log.info("jupyter_ysync: rooms stored in %s", self.store_path)

    def initialize_handlers(self) -> None:
        common = {"manager": self.manager, "kernel_token": self.kernel_token}
        self.handlers.extend(
            [
                (r"/ysync/rooms", RoomsHandler, common),
                *http_sync_handlers(
                    self.manager,
                    self.kernel_token,
                    self.http_sync,
                    max_message_size=self.max_message_size,
                ),
                (r"/ysync/files/(?P<path>.+)", FileHandler, common),
                (r"/ysync/rooms/(?P<room>[^/]+)/content", RoomContentHandler, common),
                *history_handlers(self.manager, self.kernel_token, self.history),
                (r"/ysync/rooms/(?P<room>[^/]+)/compact", RoomCompactHandler, common),
                (
                    r"/ysync/rooms/(?P<room>[^/]+)/(?P<action>save|revert)",
                    FileActionHandler,
                    common,
                ),
                (
                    r"/ysync/rooms/(?P<room>[^/]+)",
                    RoomSocket,
                    {
                        **common,
                        "max_message_size": self.max_message_size,
                        "max_send_buffer": self.max_send_buffer,
                        "send_timeout": self.send_timeout,
                    },
                ),
            ]
        )

    def _derive_kernel_token(self) -> str:
        """A kernel credential that is stable across restarts of the same server setup.

        It is derived from the server's cookie secret, so kernels that outlive a
        server restart keep a valid credential, and it means nothing elsewhere.
        """
        secret = self.serverapp.cookie_secret if self.serverapp else os.urandom(32)
        return hmac.new(secret, b"jupyter-ysync:kernel:v1", hashlib.sha256).hexdigest()

    def _export_kernel_credentials(self) -> None:
        """Kernels inherit the server's environment: put the room server's address there."""
        app = self.serverapp
        if app is None or app.sock:
            return
        host = app.ip if app.ip not in ("", "0.0.0.0", "::", "*") else "127.0.0.1"
        if ":" in host and not host.startswith("["):
            host = f"[{host}]"
        scheme = "wss" if app.certfile else "ws"
        os.environ[URL_ENV] = f"{scheme}://{host}:{app.port}{app.base_url}"
        os.environ[TOKEN_ENV] = self.kernel_token

    async def _start_jupyter_server_extension(self, serverapp: Any) -> None:
        await asyncio.wrap_future(self._store_opened)  # fail the start if it cannot open
        if self.redis_sync is not None:
            await self.redis_sync.start()
        if self.kernel_credentials:
            self._export_kernel_credentials()  # the port is final once the server listens
        if self.freeze_gc:
            gc.collect()  # what is garbage now must not be frozen with the rest
            gc.freeze()
            self.log.debug("jupyter_ysync: %d start-up objects frozen", gc.get_freeze_count())

    def _file_ids(self) -> Any:
        """jupyter-server-fileid's manager; one of our own if that extension is not enabled."""
        file_ids = self.settings.get("file_id_manager")
        if file_ids is None and self.serverapp is not None:
            file_ids = self.serverapp.web_app.settings.get("file_id_manager")
        if file_ids is None:
            from jupyter_server_fileid.manager import ArbitraryFileIdManager

            self.log.warning(
                "jupyter_ysync: the jupyter_server_fileid extension is not enabled; file rooms"
                " use a file id index of their own, which does not follow renames made in"
                " JupyterLab. Enable it: jupyter server extension enable jupyter_server_fileid"
            )
            root = self.serverapp.root_dir if self.serverapp else os.getcwd()
            file_ids = ArbitraryFileIdManager(root_dir=root, config=self.config, log=self.log)
        return file_ids

    async def stop_extension(self) -> None:
        self.http_sync.stop()
        await self.files.stop()
        await self.history.stop()  # the last versions, while the rooms are still there
        if self.manager.running:
            await self.manager.stop()
        if self.redis_sync is not None and self.redis_sync.running:
            await self.redis_sync.stop()
        if self.store.running:  # it may have failed to open
            await self.store.stop()
