"""Shared fixtures: a real jupyter_server with the extension, in-process or as a process."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
from traitlets.config import Config

pytest_plugins = ["pytest_jupyter.jupyter_server", "tests.servers"]

TOKEN = "ysync-test-token"


@pytest.fixture
def ysync_store_path(tmp_path: Path) -> Path:
    return tmp_path / "store" / "rooms.sqlite"


@pytest.fixture
def jp_server_config(ysync_store_path: Path) -> Config:
    return Config(
        {
            "ServerApp": {"jpserver_extensions": {"jupyter_ysync": True}},
            "IdentityProvider": {"token": TOKEN},
            "YSyncApp": {
                "store_path": str(ysync_store_path),
                "idle_unload_delay": 0.5,
                # In-process servers must not leave credentials in the test runner's environment.
                "kernel_credentials": False,
                # gc.freeze() would act on the whole test runner (tested on its own).
                "freeze_gc": False,
            },
        }
    )


@pytest.fixture
def ysync_ws_url(
    jp_serverapp: Any, http_server_client: Any, jp_http_port: int, jp_base_url: str
) -> Callable[..., str]:
    """URL of a room's websocket on the in-process server, with the test token by default."""

    def url(room: str, token: str | None = TOKEN) -> str:
        query = f"?token={token}" if token else ""
        return f"ws://127.0.0.1:{jp_http_port}{jp_base_url}ysync/rooms/{room}{query}"

    return url


@pytest.fixture
def auth_headers() -> dict[str, Any]:
    return {"Authorization": f"token {TOKEN}"}


@pytest.fixture
def jp_base_url() -> str:
    """A non-root base URL, so every route is proven to honour it."""
    return "/jupyter/"


@pytest.fixture
def ysync_app(jp_serverapp: Any) -> Any:
    """The extension app of the in-process server."""
    return jp_serverapp.extension_manager.extension_points["jupyter_ysync"].app
