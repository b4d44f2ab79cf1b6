"""Pytest fixtures to test code that uses jupyter_ysync, against an in-process Jupyter server.

The server is pytest-jupyter's ``jp_serverapp``, running on the test's event loop. Enable the
plugin in your ``conftest.py`` and hand the extension's configuration to pytest-jupyter::

    pytest_plugins = ["pytest_jupyter.jupyter_server", "jupyter_ysync.pytest_plugin"]

    @pytest.fixture
    def jp_server_config(ysync_server_config):
        return ysync_server_config

    async def test_a_bot_writes_the_title(ysync_connect):
        doc = await ysync_connect("notes")
        doc.text.insert(0, "Title\\n", {"header": 1})

Every fixture is named ``ysync_*``; the tests must be ``async def``, so that the server
answers while they wait.
"""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Iterator
from pathlib import Path
from typing import TYPE_CHECKING, Any, Protocol

import pytest
from traitlets.config import Config

from .client import SharedDocument
from .client._files import open_file

if TYPE_CHECKING:
    from .server.app import YSyncApp

pytest_plugins = ["pytest_jupyter.jupyter_server"]


class WebsocketURL(Protocol):
    """What ``ysync_ws_url`` returns."""

    def __call__(self, room: str, token: str | None = ...) -> str: ...


class Connect(Protocol):
    """What ``ysync_connect`` returns."""

    def __call__(
        self,
        room: str | None = ...,
        *,
        path: str | None = ...,
        token: str | None = ...,
        presence: dict[str, Any] | None = ...,
        timeout: float = ...,
    ) -> Awaitable[SharedDocument]: ...


@pytest.fixture
def ysync_store_path(tmp_path: Path) -> Path:
    """Where the in-process server's store keeps the rooms: a file under ``tmp_path``."""
    return tmp_path / "ysync" / "rooms.sqlite"


@pytest.fixture
def ysync_server_config(ysync_store_path: Path) -> Config:
    """Server configuration enabling jupyter_ysync, with its store at ``ysync_store_path``.

    Return it from your ``jp_server_config`` fixture, adding your own settings if needed.
    Kernels get no ysync credential in the environment (it would leak into the test runner's
    own), and the garbage collector is left as it is (``gc.freeze()`` would act on the runner).
    """
    ysync_store_path.parent.mkdir(parents=True, exist_ok=True)
    return Config(
        {
            "ServerApp": {
                "jpserver_extensions": {"jupyter_ysync": True, "jupyter_server_fileid": True}
            },
            # File ids, which name file rooms, kept beside the store rather than in the user's
            # data directory.
            "BaseFileIdManager": {"db_path": str(ysync_store_path.parent / "file_ids.db")},
            "YSyncApp": {
                "store_path": str(ysync_store_path),
                "kernel_credentials": False,
                "freeze_gc": False,
            },
        }
    )


@pytest.fixture
def ysync_app(jp_serverapp: Any) -> YSyncApp:
    """The jupyter_ysync extension app of the in-process server (``.manager``, ``.store``)."""
    app: YSyncApp = jp_serverapp.extension_manager.extension_points["jupyter_ysync"].app
    return app


def _base_url(port: int, base_url: str) -> str:
    return f"ws://127.0.0.1:{port}{base_url}"


@pytest.fixture
def ysync_ws_url(
    jp_serverapp: Any, http_server_client: Any, jp_http_port: int, jp_base_url: str
) -> WebsocketURL:
    """A room's websocket URL on the in-process server (listening once this fixture is set up).

    Call it as ``ysync_ws_url(room)``: the URL carries the server's token in its query;
    ``token=None`` leaves it out, to send a credential another way or none.
    """
    server_token: str = jp_serverapp.identity_provider.token

    def url(room: str, token: str | None = server_token) -> str:
        query = f"?token={token}" if token else ""
        return f"{_base_url(jp_http_port, jp_base_url)}ysync/rooms/{room}{query}"

    return url


@pytest.fixture
def ysync_connect(
    jp_serverapp: Any,
    http_server_client: Any,
    jp_http_port: int,
    jp_base_url: str,
    jp_asyncio_loop: asyncio.AbstractEventLoop,
) -> Iterator[Connect]:
    """Join rooms of the in-process server as Python peers: ``await ysync_connect(room)``.

    Returns a synced :class:`jupyter_ysync.SharedDocument`, as :func:`jupyter_ysync.connect`
    does; every document is closed when the test ends. Keyword arguments: ``token`` (default:
    the server's; None sends none), ``presence``, ``timeout`` (seconds to sync), and ``path``
    to join a file's room instead of a named one (``await ysync_connect(path="notes.md")``).

    The document talks to the server from its own thread while the server runs on the test's
    event loop, so wait for remote edits without blocking that loop, for instance by polling
    ``str(doc.text)`` between ``await asyncio.sleep(...)``; to close a document before the end
    of the test, ``await asyncio.to_thread(doc.close)``.
    """
    server_token: str = jp_serverapp.identity_provider.token
    base = _base_url(jp_http_port, jp_base_url)
    docs: list[SharedDocument] = []

    async def connect(
        room: str | None = None,
        *,
        path: str | None = None,
        token: str | None = server_token,
        presence: dict[str, Any] | None = None,
        timeout: float = 10.0,
    ) -> SharedDocument:
        if path is not None:  # a file's room, as connect(path=...) finds it
            room = (await asyncio.to_thread(open_file, base, token, path, timeout))["room"]
        assert room is not None, "pass a room name or path=..."
        # Made on the test's loop, as a kernel's document is made on the kernel's loop:
        # remote edits are applied there and on_change callbacks fire there.
        doc = SharedDocument(room, base, token, presence=presence)
        docs.append(doc)
        await asyncio.to_thread(doc.wait_synced, timeout)  # the loop serves meanwhile
        return doc

    yield connect

    async def close_all() -> None:  # on the loop again, so the server sees each one leave
        await asyncio.gather(*(asyncio.to_thread(doc.close) for doc in docs))

    jp_asyncio_loop.run_until_complete(close_all())
