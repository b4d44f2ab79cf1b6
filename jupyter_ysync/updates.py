"""Integrating many updates into one replica: a stored log, a queue of local edits."""

from __future__ import annotations

from typing import Any

from pycrdt import Doc

REPLAY_BATCH = 512
"""Updates integrated per transaction when a log is replayed.

When a transaction commits, Yrs squashes the blocks it created into their
neighbours, at a cost that grows with the square of their number: 100,000
one-character updates take ~11 s in one transaction, 7-18 s in one
transaction each (each commit's work grows with the document), 0.3 s in
batches of 512.
"""


def replay(doc: Doc[Any], updates: list[bytes]) -> None:
    """Integrate a log of updates into ``doc``, in order, in bounded transactions."""
    for first in range(0, len(updates), REPLAY_BATCH):
        with doc.transaction():
            for update in updates[first : first + REPLAY_BATCH]:
                doc.apply_update(update)
