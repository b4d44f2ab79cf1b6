"""Real editing traces (josephg/editing-traces) and their replay.

A trace is ``{startContent, endContent, txns: [{time, patches: [[pos, del, ins], ...]}]}``:
applying every transaction's patches in order (at ``pos`` delete ``del``
characters, then insert ``ins``) turns ``startContent`` into ``endContent``.
The traces ship in the steering repo's ``shared/data/editing-traces``.
"""

from __future__ import annotations

import gzip
import json
import os
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from pycrdt import Doc, Text

Patch = tuple[int, int, str]

TRACES_ENV = "YSYNC_EDITING_TRACES"
"""Environment variable naming the folder of the traces, if not the default."""


def traces_dir() -> Path:
    """The folder holding ``automerge-paper.json.gz`` and the other traces.

    Raises:
        FileNotFoundError: if neither ``$YSYNC_EDITING_TRACES`` nor the default exists.
    """
    candidates = [Path(os.environ[TRACES_ENV])] if TRACES_ENV in os.environ else []
    repo = Path(__file__).resolve().parent.parent
    candidates += [
        repo.parent / "shared" / "data" / "editing-traces",
        repo / "shared" / "data" / "editing-traces",
    ]
    for folder in candidates:
        if (folder / "automerge-paper.json.gz").exists():
            return folder
    raise FileNotFoundError(
        "editing traces not found: set "
        f"{TRACES_ENV} to the folder holding automerge-paper.json.gz (tried "
        + ", ".join(str(c) for c in candidates)
        + ")"
    )


@dataclass(frozen=True)
class Trace:
    """A sequential editing trace, possibly cut to its first transactions."""

    name: str
    start: str
    end: str
    txns: list[list[Patch]]

    @property
    def patches(self) -> int:
        """Number of single edits (one keystroke, paste or deletion each)."""
        return sum(len(txn) for txn in self.txns)

    def head(self, count: int) -> Trace:
        """The first ``count`` transactions, with the text they produce as ``end``."""
        if count >= len(self.txns):
            return self
        txns = self.txns[:count]
        return Trace(f"{self.name}[:{count}]", self.start, splice_all(self.start, txns), txns)


def load_trace(name: str = "automerge-paper") -> Trace:
    """Load ``<name>.json.gz`` from ``traces_dir()``."""
    with gzip.open(traces_dir() / f"{name}.json.gz", "rt", encoding="utf-8") as file:
        data = json.load(file)
    txns = [[(int(p[0]), int(p[1]), str(p[2])) for p in txn["patches"]] for txn in data["txns"]]
    return Trace(name, data["startContent"], data["endContent"], txns)


def splice_all(text: str, txns: list[list[Patch]]) -> str:
    """Apply patches to a plain string: the reference the replicas are checked against."""
    chars = list(text)
    for txn in txns:
        for pos, delete, insert in txn:
            chars[pos : pos + delete] = insert
    return "".join(chars)


def raw_editor(text: Text) -> tuple[Callable[[int, str], object], Callable[[int, int], object]]:
    """Insert and delete functions of a raw pycrdt ``Text`` (the baseline)."""

    def delete(index: int, length: int) -> None:
        del text[index : index + length]

    return text.insert, delete


def replay(
    doc: Doc[Any],
    trace: Trace,
    insert: Callable[[int, str], object],
    delete: Callable[[int, int], object],
    after_txn: Callable[[], object] | None = None,
) -> None:
    """Apply every transaction of ``trace`` to ``doc``, one pycrdt transaction each.

    A single keystroke is one call, which opens its own transaction, as an editor does;
    only transactions of several patches are wrapped in an enclosing one.
    """
    for txn in trace.txns:
        if len(txn) == 1:
            pos, length, chunk = txn[0]
            if length:
                delete(pos, length)
            if chunk:
                insert(pos, chunk)
        else:
            with doc.transaction():
                for pos, length, chunk in txn:
                    if length:
                        delete(pos, length)
                    if chunk:
                        insert(pos, chunk)
        if after_txn is not None:
            after_txn()
