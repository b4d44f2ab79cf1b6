"""In-process stand-ins for a room's peers, to drive :class:`Room` without a server."""

from __future__ import annotations

from typing import Any

from pycrdt import Doc, Text, YSyncMessageType

from jupyter_ysync.protocol import MessageType, parse_message


class FakePeer:
    """A peer that records what the room sends it and keeps a replica of what it was sent."""

    def __init__(self, name: str, *, can_write: bool = True) -> None:
        self.name = name
        self.can_write = can_write
        self.frames: list[bytes] = []
        self.closed: tuple[int, str] | None = None
        self.doc: Doc[Any] = Doc()
        self.text = self.doc.get("content", type=Text)

    def send_frame(self, frame: bytes) -> None:
        self.frames.append(frame)
        kind, subtype, payload = parse_message(frame)
        if kind == MessageType.SYNC and subtype != YSyncMessageType.SYNC_STEP1:
            self.doc.apply_update(payload)

    def close(self, code: int, reason: str) -> None:
        if self.closed is None:
            self.closed = (code, reason)

    def updates(self) -> list[bytes]:
        """Payloads of the SYNC_UPDATE messages received."""
        found = []
        for frame in self.frames:
            kind, subtype, payload = parse_message(frame)
            if kind == MessageType.SYNC and subtype == YSyncMessageType.SYNC_UPDATE:
                found.append(payload)
        return found

    def __repr__(self) -> str:
        return f"FakePeer({self.name!r})"
