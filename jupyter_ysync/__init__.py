"""Real-time collaboration rooms for Jupyter.

A jupyter_server extension hosts rooms (one Yjs document each, y-websocket
protocol, durable store); any Python process joins one as a full peer with
:func:`connect`; :class:`Editor` shows a room's rich text in a notebook.
"""

from __future__ import annotations

from typing import Any

from ._version import __version__
from .errors import (
    AuthenticationFailed,
    ConnectionFailed,
    InvalidRoomName,
    ReadOnlyError,
    RoomNotFound,
    ServerNotFound,
    YSyncError,
)

__all__ = [
    "AuthenticationFailed",
    "ConnectionFailed",
    "InvalidRoomName",
    "ReadOnlyError",
    "RoomNotFound",
    "ServerNotFound",
    "YSyncError",
    "__version__",
]


def _jupyter_server_extension_points() -> list[dict[str, Any]]:
    from .server.app import YSyncApp

    return [{"module": "jupyter_ysync", "app": YSyncApp}]


def _jupyter_labextension_paths() -> list[dict[str, str]]:
    return [{"src": "labextension", "dest": "jupyter_ysync"}]
