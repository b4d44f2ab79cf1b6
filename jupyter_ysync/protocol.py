"""Wire vocabulary shared by the server and the Python peer.

The y-websocket protocol v1 itself (sync step 1/2, update, awareness) is
encoded and decoded with pycrdt's helpers; this module only names the message
kinds that pycrdt does not, the close codes, and the room-name rule.
"""

from __future__ import annotations

import re
from enum import IntEnum

from pycrdt import YSyncMessageType, write_message

from .errors import InvalidRoomName

EMPTY_UPDATE = b"\x00\x00"
"""An update that changes nothing (what a peer with nothing to add answers)."""

ROOM_NAME_PATTERN = re.compile(r"[A-Za-z0-9._~:-]{1,128}")
"""Room names: 1-128 characters of ``A-Z a-z 0-9 . _ - ~ :``, not only dots."""

ROOM_NAME_RULE = "1-128 characters of A-Z a-z 0-9 . _ - ~ : (not only dots)"


class MessageType(IntEnum):
    """First byte of every y-websocket message."""

    SYNC = 0
    AWARENESS = 1
    AUTH = 2
    QUERY_AWARENESS = 3


class AuthMessageType(IntEnum):
    """Second byte of an AUTH message (y-protocols ``auth``)."""

    PERMISSION_DENIED = 0


class CloseCode(IntEnum):
    """Websocket close codes used by the room server."""

    NORMAL = 1000
    GOING_AWAY = 1001
    TRY_AGAIN_LATER = 1013
    MALFORMED = 4400
    NOT_AUTHENTICATED = 4401
    FORBIDDEN = 4403
    ROOM_DELETED = 4404
    TOO_SLOW = 4408
    TOO_LARGE = 4413


def sync_step2_message(update: bytes) -> bytes:
    """Encode a SYNC_STEP2 message carrying ``update`` (pycrdt exports no helper for it)."""
    return bytes((MessageType.SYNC, YSyncMessageType.SYNC_STEP2)) + write_message(update)


def validate_room_name(name: str) -> str:
    """Return ``name`` if it is a valid room name.

    Raises:
        InvalidRoomName: naming the bad value and the rule it breaks.
    """
    if (
        not isinstance(name, str)
        or ROOM_NAME_PATTERN.fullmatch(name) is None
        or not name.strip(".")  # "." and ".." would be rewritten by URL normalisation
    ):
        raise InvalidRoomName(
            f"Invalid room name {name!r}: use {ROOM_NAME_RULE}, for example 'notes' or 'team:plan'."
        )
    return name
