"""Fixtures of the interop tests: a server process, the node peer, and Python peers."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from jupyter_ysync import SharedDocument
from tests.interop.peers import install_node_peer, unloading_server
from tests.servers import ServerProcess


@pytest.fixture(scope="session")
def ysync_node_peer() -> Path:
    """The node peer's directory, its packages installed once per session."""
    return install_node_peer()


@pytest.fixture
def ysync_server(tmp_path: Path) -> Iterator[ServerProcess]:
    """A jupyter server process whose rooms unload 0.5 s after their last peer leaves."""
    with unloading_server(tmp_path) as process:
        yield process


@pytest.fixture
def ysync_python_peers() -> Iterator[list[SharedDocument]]:
    """Python peers a test opens (``join(server, room, ysync_python_peers)``); all closed when
    it ends."""
    docs: list[SharedDocument] = []
    yield docs
    for doc in docs:
        doc.close()
