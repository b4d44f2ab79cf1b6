"""Yjs documents in tests: updates that build one, a replica made of updates, and its text.

The room's text is the root ``Y.Text`` named ``content``, as in every room.
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

from pycrdt import Doc, Text


def edits(count: int) -> tuple[list[bytes], str]:
    """``count`` updates, one edit each (an append, every third one with a deletion too, so
    compaction has tombstones to drop), and the text they make together."""
    doc: Doc[Any] = Doc()
    text = doc.get("content", type=Text)
    updates: list[bytes] = []
    doc.observe(lambda event: updates.append(event.update))
    for index in range(count):
        with doc.transaction():
            text.insert(len(text), f"{index},")
            if index % 3 == 0:
                del text[0:1]
    return updates, str(text)


def doc_of(updates: Iterable[bytes]) -> Doc[Any]:
    """A replica holding ``updates``, applied in order."""
    doc: Doc[Any] = Doc()
    for update in updates:
        doc.apply_update(update)
    return doc


def text_of(doc: Doc[Any]) -> str:
    """The room's text in replica ``doc``."""
    return str(doc.get("content", type=Text))
