"""The jupyter_server extension: configuration, handlers and lifecycle."""

from __future__ import annotations

import asyncio
import gc
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
from .framing import websocket_frame
from .handlers import RoomContentHandler, RoomsHandler, RoomSocket
from .manager import RoomManager
from .store import SQLiteStore

MiB = 1024 * 1024


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
        # Started here, not when the server has started: requests are served from then on.
        self._store_opened = self.store.start_soon()
        self.manager.start()
        self.kernel_token = self._derive_kernel_token()
        if self.kernel_credentials:
            self._export_kernel_credentials()
        self.log.info("jupyter_ysync: rooms stored in %s", self.store_path)

    def initialize_handlers(self) -> None:
        common = {"manager": self.manager, "kernel_token": self.kernel_token}
        self.handlers.extend(
            [
                (r"/ysync/rooms", RoomsHandler, common),
                (r"/ysync/rooms/(?P<room>[^/]+)/content", RoomContentHandler, common),
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
        if self.kernel_credentials:
            self._export_kernel_credentials()  # the port is final once the server listens
        if self.freeze_gc:
            gc.collect()  # what is garbage now must not be frozen with the rest
            gc.freeze()
            self.log.debug("jupyter_ysync: %d start-up objects frozen", gc.get_freeze_count())

    async def stop_extension(self) -> None:
        if self.manager.running:
            await self.manager.stop()
        if self.store.running:  # it may have failed to open
            await self.store.stop()
