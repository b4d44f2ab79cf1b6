"""The Python peer: ``connect(room)`` joins a room as a full Yjs peer and edits it live."""

from ._discovery import resolve_server as resolve_server
from ._document import ChangeEvent as ChangeEvent
from ._document import SharedDocument as SharedDocument
from ._document import connect as connect
from ._transport import ConnectionStatus as ConnectionStatus

__all__ = ["ChangeEvent", "ConnectionStatus", "SharedDocument", "connect", "resolve_server"]
