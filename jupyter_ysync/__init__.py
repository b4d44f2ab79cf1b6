"""Real-time collaboration rooms for Jupyter.

A jupyter_server extension hosts rooms (one Yjs document each, y-websocket
protocol, durable store); any Python process joins one as a full peer with
:func:`connect`; :class:`Editor` shows a room's rich text in a notebook.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from ._version import __version__ as __version__
from .client import ChangeEvent as ChangeEvent
from .client import ConnectionStatus as ConnectionStatus
from .client import SharedDocument as SharedDocument
from .client import connect as connect
from .errors import AuthenticationFailed as AuthenticationFailed
from .errors import ConnectionFailed as ConnectionFailed
from .errors import FileRefused as FileRefused
from .errors import InvalidRoomName as InvalidRoomName
from .errors import ReadOnlyError as ReadOnlyError
from .errors import RoomNotFound as RoomNotFound
from .errors import ServerNotFound as ServerNotFound
from .errors import YSyncError as YSyncError

if TYPE_CHECKING:  # loaded on first use (ipywidgets, the rich-text model): see __getattr__
    from ._widget import Editor as Editor
    from .richtext import RichText as RichText

__all__ = [
    "AuthenticationFailed",
    "ChangeEvent",
    "ConnectionFailed",
    "ConnectionStatus",
    "Editor",
    "FileRefused",
    "InvalidRoomName",
    "ReadOnlyError",
    "RichText",
    "RoomNotFound",
    "ServerNotFound",
    "SharedDocument",
    "YSyncError",
    "__version__",
    "connect",
]


def __getattr__(name: str) -> Any:
    # The widget and rich-text modules load ipywidgets and markdown-it on first use only.
    if name == "Editor":
        from ._widget import Editor

        return Editor
    if name == "RichText":
        from .richtext import RichText

        return RichText
    raise AttributeError(f"module 'jupyter_ysync' has no attribute {name!r}")


def _jupyter_server_extension_points() -> list[dict[str, Any]]:
    from .server.app import YSyncApp

    return [{"module": "jupyter_ysync", "app": YSyncApp}]


def _jupyter_labextension_paths() -> list[dict[str, str]]:
    return [{"src": "labextension", "dest": "jupyter_ysync"}]
