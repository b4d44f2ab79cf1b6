"""Interop tests: Yjs (node) and y-py peers in the same rooms as Python peers.

The helpers live in :mod:`tests.interop.peers`, the fixtures in ``conftest.py``; what other tests
use is re-exported here.
"""

from __future__ import annotations

from tests.interop.peers import (
    IMAGE,
    WORDS,
    JsPeer,
    install_node_peer,
    join,
    js_peers,
    normalize_delta,
    pycrdt_delta,
    python_state,
    random_edit,
    seed_from_env,
    unloading_server,
    wait_unloaded,
)
from tests.servers import room_info

__all__ = [
    "IMAGE",
    "WORDS",
    "JsPeer",
    "install_node_peer",
    "join",
    "js_peers",
    "normalize_delta",
    "pycrdt_delta",
    "python_state",
    "random_edit",
    "room_info",
    "seed_from_env",
    "unloading_server",
    "wait_unloaded",
]
