"""Errors raised by jupyter_ysync.

Hierarchy::

    YSyncError
    ├── InvalidRoomName (ValueError)      a room name outside the allowed alphabet or length
    ├── RoomNotFound (LookupError)        no room, loaded or stored, has that name
    ├── VersionNotFound (LookupError)     a room has no version with that id
    ├── ServerNotFound (LookupError)      the Python peer could not tell which server to join
    ├── AuthenticationFailed (PermissionError)  the server refused the credential
    ├── ReadOnlyError (PermissionError)   a write on a read-only connection
    ├── ConnectionFailed (ConnectionError)  the server could not be reached or synced in time
    ├── MalformedMessage (ValueError)     bytes that are not a valid y-websocket message or update
    ├── FileRefused (ValueError)          a file that cannot be a shared document (missing,
    │                                     not UTF-8 text, too large, unsupported, not allowed)
    ├── AlreadyRunning (RuntimeError)     start() on a store, manager or transport already started
    └── NotRunning (RuntimeError)         one used or stopped before start() or after stop()
"""

from __future__ import annotations


class YSyncError(Exception):
    """Base class of every error raised by jupyter_ysync."""


class InvalidRoomName(YSyncError, ValueError):
    """A room name that is empty, too long or uses characters outside ``A-Za-z0-9._-~:``."""


class RoomNotFound(YSyncError, LookupError):
    """No room, loaded or stored, has this name."""


class VersionNotFound(YSyncError, LookupError):
    """A room has no version with that id (never taken, or removed by retention)."""


class ServerNotFound(YSyncError, LookupError):
    """The Python peer found no server URL in its arguments, environment or running servers."""


class AuthenticationFailed(YSyncError, PermissionError):
    """The server refused the credential (HTTP 401/403 or close code 4401/4403)."""


class ReadOnlyError(YSyncError, PermissionError):
    """The server only allows this connection to read the room."""


class ConnectionFailed(YSyncError, ConnectionError):
    """The server could not be reached, or did not sync, within the time allowed."""


class MalformedMessage(YSyncError, ValueError):
    """A peer sent bytes that are not a valid y-websocket protocol v1 message, or an update
    that is not a valid Yjs update (v1 encoding); the message says what was wrong."""


class FileRefused(YSyncError, ValueError):
    """A file that cannot be opened as a shared document; the message says why and what to do.

    ``status`` is the HTTP status the server answers with: 403 (not allowed), 404 (no such
    file), 413 (too large) or 415 (not a UTF-8 ``.md``/``.html`` text file).
    """

    def __init__(self, message: str, status: int = 415) -> None:
        super().__init__(message)
        self.status = status


class AlreadyRunning(YSyncError, RuntimeError):
    """``start()`` was called on something already started (a store, a manager, a transport)."""


class NotRunning(YSyncError, RuntimeError):
    """Something was used or stopped before ``start()``, or after ``stop()``."""
