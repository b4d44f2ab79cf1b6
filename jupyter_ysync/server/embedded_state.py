"""A file's Yjs history carried inside the file, in a trailing HTML comment.

With ``YSyncApp.embed_state``, a saved ``.md``/``.html`` file ends with::

    <!-- ysync version="1" state="<base64 Yjs update>" sha256="<hex digest of the update>" -->

so its history goes wherever the file goes (a copy, a ``git clone``): opened on another
server, the room starts from that history instead of a fresh import, and only what was edited
outside the CRDT is merged by the system peer. A comment that does not parse, whose digest does
not match, or whose update Yrs refuses, is ignored with a warning: the visible content wins.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import re
from dataclasses import dataclass
from typing import Any

from pycrdt import Doc

from ..errors import MalformedMessage
from ..updates import scan_update

__all__ = ["EmbeddedState", "embed_state", "split_state"]

VERSION = "1"

_COMMENT = re.compile(
    r'\n?<!-- ysync version="(?P<version>[^"]*)" state="(?P<state>[A-Za-z0-9+/=]*)"'
    r' sha256="(?P<digest>[0-9a-f]*)" -->\n?\Z'
)
_ANY_COMMENT = re.compile(r"\n?<!-- ysync [^>]*-->\n?\Z")


@dataclass(frozen=True)
class EmbeddedState:
    """What :func:`split_state` found at the end of a file."""

    visible: str
    """The file without the comment: what people and other tools edit."""
    state: bytes | None
    """The embedded Yjs update, if present and valid."""
    problem: str | None
    """Why a comment that is present was ignored."""


def embed_state(text: str, state: bytes) -> str:
    """``text`` with ``state`` appended in a comment (on a line of its own)."""
    encoded = base64.b64encode(state).decode()
    digest = hashlib.sha256(state).hexdigest()
    separator = "" if text.endswith("\n") else "\n"
    comment = f'<!-- ysync version="{VERSION}" state="{encoded}" sha256="{digest}" -->'
    return f"{text}{separator}\n{comment}\n"


def split_state(text: str) -> EmbeddedState:
    """Separate a file's visible content from its embedded state, checking the state."""
    match = _COMMENT.search(text)
    if match is None:
        if _ANY_COMMENT.search(text):
            return EmbeddedState(
                _ANY_COMMENT.sub("\n", text), None, "the ysync comment is malformed or truncated"
            )
        return EmbeddedState(text, None, None)
    visible = text[: match.start()] + "\n"
    if match["version"] != VERSION:
        return EmbeddedState(visible, None, f"unknown ysync comment version {match['version']!r}")
    try:
        state = base64.b64decode(match["state"], validate=True)
    except (binascii.Error, ValueError) as error:
        return EmbeddedState(visible, None, f"the embedded state is not base64 ({error})")
    if hashlib.sha256(state).hexdigest() != match["digest"]:
        return EmbeddedState(visible, None, "the embedded state does not match its sha256")
    try:
        scan_update(state)
        doc: Doc[Any] = Doc()
        doc.apply_update(state)
    except (MalformedMessage, Exception) as error:
        return EmbeddedState(visible, None, f"the embedded state is not a Yjs update ({error})")
    return EmbeddedState(visible, state, None)
