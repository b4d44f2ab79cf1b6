"""Shared fixtures: a real jupyter_server with the extension, in-process or as a process.

The in-process server and the ``ysync_*`` fixtures come from the plugin we ship to users
(``jupyter_ysync/pytest_plugin.py``), so our own suite proves it works.
"""

from __future__ import annotations

import pytest
from traitlets.config import Config

pytest_plugins = [
    "pytest_jupyter.jupyter_server",
    "jupyter_ysync.pytest_plugin",
    "tests.servers",
]


@pytest.fixture
def jp_server_config(ysync_server_config: Config) -> Config:
    """The extension enabled with a store in ``tmp_path``; nothing reachable unauthenticated."""
    config = ysync_server_config
    # As the extension template does: a handler that forgets to authenticate fails the tests.
    config.ServerApp.allow_unauthenticated_access = False
    config.YSyncApp.idle_unload_delay = 0.5
    return config


@pytest.fixture
def jp_base_url() -> str:
    """A non-root base URL, so every route is proven to honour it."""
    return "/jupyter/"
