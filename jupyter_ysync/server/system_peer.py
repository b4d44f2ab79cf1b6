"""The system peer: the deterministic author of edits made outside the CRDT.

A file changed on disk, a legacy ``PUT`` of the whole content, a file imported into an empty
room: each is turned into minimal rich-text edits (:func:`~..richtext.diff.diff_ops`) made by
a client whose id is derived from what the edit starts from and what it produces
(:func:`system_client_id`). Every server that makes the same change therefore produces the
same update, byte for byte, and replaying it anywhere duplicates nothing.
"""

from __future__ import annotations

import hashlib
import json
from collections import OrderedDict
from collections.abc import Collection
from typing import Any, NamedTuple

from pycrdt import Doc, Text

from ..protocol import ROOT_TEXT, parse_state_vector
from ..richtext import RichText
from ..richtext._encode import EMPTY_UPDATE, document_update
from ..richtext.diff import diff_ops
from ..richtext.lossless import parse
from .room import Room

__all__ = [
    "ReadStates",
    "SystemEdit",
    "content_ops",
    "replace_content",
    "room_clients",
    "system_client_id",
    "system_update",
]

_SEED = b"jupyter-ysync/system-peer/v1\0"


def system_client_id(room: str, base: bytes, target: str, taken: Collection[int] = ()) -> int:
    """The system peer's client id for turning state ``base`` into content ``target``.

    A function of the room (so of the file id), the base state and the new content: every
    server that makes the same change makes it as the same client, so the updates are
    identical and merge as one. It fits 32 bits, as Yjs and y-py client ids do; an id already
    in ``taken`` (the clients of the base or the room) is skipped, deterministically.
    """
    seed = hashlib.sha256(
        _SEED + room.encode() + b"\0" + hashlib.sha256(base).digest() + target.encode()
    ).digest()
    while True:
        client = int.from_bytes(seed[:4], "big")
        if client and client not in taken:
            return client
        seed = hashlib.sha256(seed).digest()


def _length(ops: list[dict[str, Any]]) -> int:
    return sum(len(op["insert"]) if isinstance(op["insert"], str) else 1 for op in ops)


class SystemEdit(NamedTuple):
    """What :func:`system_update` made."""

    update: bytes
    """The edit, to integrate in the room."""
    state: bytes
    """The base's state with the edit: a state whose content is exactly the target."""
    changed: bool
    """Whether the target differed from the base at all."""


def system_update(
    base: bytes,
    target: list[dict[str, Any]],
    client: int,
    *,
    base_ops: list[dict[str, Any]] | None = None,
    inserts_only: bool = False,
) -> SystemEdit:
    """Make the system peer's edit from state ``base`` to content ``target``.

    The edit is made as ``client`` on a copy of ``base``, so it merges with anything made
    since ``base`` like any concurrent edit. ``base_ops`` (the base as parsed from its file)
    lets the diff ignore formats the file cannot hold. With ``inserts_only``, deletions are
    left out: what only the base holds is kept. An import into an empty base is written as
    one update directly (:func:`~..richtext._encode.document_update`), in time linear in
    the document.

    Example::

        client = system_client_id(room.name, base, new_text)
        edit = system_update(base, parse(new_text, "markdown").ops, client)
        room.submit(edit.update)
    """
    if not base:  # an import into nothing: written in one pass (applying ops is quadratic)
        update = document_update(target, client)
        return SystemEdit(update, update, update != EMPTY_UPDATE)
    fork: Doc[Any] = Doc(client_id=client)
    fork.apply_update(base)
    shared = fork.get(ROOT_TEXT, type=Text)
    text = RichText(shared)
    before = fork.get_state()
    current = text.delta
    if not len(shared):  # an import: the whole target, its final newline stored as Quill does
        delta = list(target)
    elif base_ops is not None and _length(base_ops) == _length(current):
        delta = diff_ops(base_ops, target)  # the file's change, on the base's positions
    else:
        delta = diff_ops(current, target)
    if inserts_only:
        delta = [{"retain": op["delete"]} if "delete" in op else op for op in delta]
    if delta:
        text.apply_delta(delta)
    return SystemEdit(fork.get_update(before), fork.get_update(), bool(delta))


def room_clients(room: Room) -> set[int]:
    """Client ids present in the room's replica (a base state is always part of it)."""
    return set(parse_state_vector(room.doc.get_state()))


def content_ops(kind: str, body: bytes) -> list[dict[str, Any]]:
    """The document a legacy write asks for: ``body`` read as ``kind``.

    Raises:
        ValueError: not UTF-8, not JSON (delta), or not a valid delta.
    """
    try:
        text = body.decode()
    except UnicodeDecodeError as error:
        raise ValueError(f"the body is not UTF-8 ({error}); send UTF-8 text") from None
    if kind in ("markdown", "html"):
        return parse(text, kind).ops  # type: ignore[arg-type]
    if kind == "text":
        return [{"insert": text if text.endswith("\n") else text + "\n"}]
    try:
        value = json.loads(text)
    except json.JSONDecodeError as error:
        raise ValueError(f"the body is not JSON ({error}); send a list of Quill ops") from None
    ops = value.get("ops") if isinstance(value, dict) else value
    if not isinstance(ops, list) or not all(isinstance(op, dict) and "insert" in op for op in ops):
        raise ValueError('send a list of insert ops, e.g. [{"insert": "Hello\\n"}]')
    doc: Doc[Any] = Doc()
    scratch = RichText(doc.get(ROOT_TEXT, type=Text))
    scratch.apply_delta(ops)  # validates every op and attribute
    return scratch.delta


class ReadStates:
    """The states legacy tools read recently (``GET .../content``), by ETag, bounded.

    A ``PUT`` that sends back the ETag it read (``If-Match``) is merged three ways from that
    state: what others typed since the tool read the content survives.
    """

    def __init__(self, max_states: int = 64, max_bytes: int = 64 * 1024 * 1024) -> None:
        self.max_states = max_states
        self.max_bytes = max_bytes
        self._states: OrderedDict[tuple[str, str], bytes] = OrderedDict()
        self._bytes = 0

    def remember(self, room: str, state: bytes) -> str:
        """Keep ``state`` (a full encoding) of ``room``; return its ETag."""
        etag = hashlib.sha256(state).hexdigest()[:32]
        key = (room, etag)
        if key not in self._states:
            self._states[key] = state
            self._bytes += len(state)
        self._states.move_to_end(key)
        while self._states and (
            len(self._states) > self.max_states or self._bytes > self.max_bytes
        ):
            _, dropped = self._states.popitem(last=False)
            self._bytes -= len(dropped)
        return etag

    def get(self, room: str, etag: str) -> bytes | None:
        """The state read with ``etag``, if still kept."""
        return self._states.get((room, etag.strip().removeprefix("W/").strip('"')))


def replace_content(room: Room, target: list[dict[str, Any]], base: bytes | None = None) -> int:
    """Make the room's content ``target`` with minimal edits by the system peer.

    With ``base`` (a state the room had, e.g. when a tool read the content), the change from
    ``base`` to ``target`` is merged with everything made since: those edits survive. Without
    it, the edits turn the current content into ``target``. Returns the update's size in bytes
    (0 when nothing changed).
    """
    state = room.doc.get_update() if base is None else base
    client = system_client_id(
        room.name, state, json.dumps(target, sort_keys=True), room_clients(room)
    )
    edit = system_update(state, target, client)
    if not edit.changed:
        return 0
    room.submit(edit.update)
    return len(edit.update)
