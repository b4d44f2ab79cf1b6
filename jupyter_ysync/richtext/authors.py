"""Who inserted each run of a rich text: ranges of the current content by Yjs client id.

pycrdt 0.14's attribution primitives (``IdMap``, ``IdSet``, ``Snapshot``) hold sets of item
ids with metadata, but nothing maps them to positions in a text, and ``Text.diff`` does not
report item ids. A sticky index does: ``Text.sticky_index(offset)`` names the item id
(client, clock) of the character at ``offset``. Reading it at every position would cost
O(n) native walks; instead, runs are found by exponential then binary search, which needs a
predicate that is monotone along a run.

"The character ``d`` places on has clock ``k + d``" is not monotone by itself: if another
client replaced a character in the middle of a run (one deleted, one inserted), the clocks
after it line up again. It is monotone inside a *chain*: a clock range of one client whose
items were each inserted right after the previous clock (their left origin) and none of
whose clocks is deleted. Such a range was contiguous when it was written, items never move,
and anything inserted inside it later shifts every clock after it for good. The chains are
read from the document's own encoding (:func:`chain_breaks`), so the search is exact:
O(runs * log n) sticky-index calls, plus one pass over the encoding.
"""

from __future__ import annotations

import json
from bisect import bisect_right
from collections.abc import Callable
from dataclasses import dataclass
from itertools import accumulate
from typing import Any

import pycrdt

from ..protocol import Decoder
from ..updates import _content_length

__all__ = ["Authorship", "author_runs", "chain_breaks"]


@dataclass(frozen=True)
class Authorship:
    """Who inserted a range of the rich text (see :meth:`RichText.authors`).

    Example::

        for run in doc.text.authors():
            print(run.index, run.length, run.user and run.user["username"])
    """

    index: int
    """Start of the range, in RichText units."""
    length: int
    """Its length, in RichText units."""
    client: int
    """The Yjs client id whose edits inserted it."""
    user: dict[str, Any] | None
    """The identity the server recorded for that client id (``username``, ``display_name``,
    ``kind``: browser, kernel or system; ``origin`` for a script that gave one), or None."""


def chain_breaks(state: bytes) -> dict[int, list[int]]:
    """Where chains start, by client: sorted clocks at which a run of clocks stops being one.

    A chain ends where an item was not inserted right after the previous clock of its
    client (a caret moved, an insertion at the start of a type), and around every deleted
    range. ``state`` is a document's full encoding (``doc.get_update()``).
    """
    decoder = Decoder(state)
    var_uint, u8 = decoder.var_uint, decoder.u8
    breaks: dict[int, set[int]] = {}
    for _ in range(decoder.count("client")):
        structs = decoder.count("struct")
        client = var_uint()
        clock = var_uint()
        marks = breaks.setdefault(client, set())
        marks.add(clock)
        for _ in range(structs):
            info = u8()
            kind = info & 0x1F
            if kind == 0 or kind == 10:  # GC or Skip: nothing visible
                size = var_uint()
                marks.update((clock, clock + size))
                clock += size
                continue
            chained = False
            if info & 0x80:
                origin_client, origin_clock = var_uint(), var_uint()
                chained = origin_client == client and origin_clock == clock - 1
            if info & 0x40:
                var_uint(), var_uint()
            if not info & 0xC0:
                if var_uint() == 1:
                    decoder.skip(decoder.length())
                else:
                    var_uint(), var_uint()
                if info & 0x20:
                    decoder.skip(decoder.length())
            size = _content_length(decoder, kind)
            if not chained:
                marks.add(clock)
            if kind == 1:  # deleted content
                marks.update((clock, clock + size))
            clock += size
    for _ in range(decoder.count("deleted client")):
        client = var_uint()
        marks = breaks.setdefault(client, set())
        for _ in range(decoder.count("deleted range")):
            start = var_uint()
            marks.update((start, start + var_uint()))
    return {client: sorted(marks) for client, marks in breaks.items()}


def author_runs(text: pycrdt.Text, *, quill: bool = False) -> list[tuple[int, int, int]]:
    """The current content of ``text`` as ``(index, length, client)`` runs.

    Indices count RichText units (code points, 1 per embed), or with ``quill`` Quill's
    (UTF-16 code units, 1 per embed): they differ after characters outside the Basic
    Multilingual Plane. Adjacent runs of one client are merged. Call it on the thread that
    owns the document.
    """
    doc = text.doc
    chunks = [value for value, _ in text.diff()]
    if all(isinstance(value, str) and value.isascii() for value in chunks):
        size = sum(len(value) for value in chunks)
        offsets = clocks = None  # units, pycrdt offsets and clocks agree
    else:
        utf8: list[int] = []
        utf16: list[int] = []
        for value in chunks:
            if isinstance(value, str):
                for char in value:
                    utf8.append(len(char.encode()))
                    utf16.append(2 if ord(char) > 0xFFFF else 1)
            else:  # an embed: one unit, one offset, one clock
                utf8.append(1)
                utf16.append(1)
        size = len(utf8)
        offsets = [0, *accumulate(utf8)]
        clocks = [0, *accumulate(utf16)]
    if not size:
        return []
    breaks = chain_breaks(doc.get_update())
    runs: list[tuple[int, int, int]] = []
    with doc.transaction() as txn:
        native, handle = text.integrated, txn._txn

        def item(unit: int) -> tuple[int, int]:
            offset = unit if offsets is None else offsets[unit]
            found = json.loads(native.sticky_index(handle, offset, 0).to_json_string())["item"]
            return found["client"], found["clock"]

        def width(start: int, end: int) -> int:
            return end - start if clocks is None else clocks[end] - clocks[start]

        start = 0
        while start < size:
            client, clock = item(start)
            marks = breaks.get(client, ())
            after = bisect_right(marks, clock)  # the chain ends at the next break
            limit = marks[after] - clock if after < len(marks) else None
            end = _run_end(item, width, start, size, (client, clock), limit)
            if runs and runs[-1][2] == client and runs[-1][0] + runs[-1][1] == start:
                runs[-1] = (runs[-1][0], runs[-1][1] + end - start, client)
            else:
                runs.append((start, end - start, client))
            start = end
    if quill and clocks is not None:  # a string's clocks count UTF-16 code units, as Quill
        return [(clocks[i], clocks[i + n] - clocks[i], c) for i, n, c in runs]
    return runs


def _run_end(
    item: Callable[[int], tuple[int, int]],
    width: Callable[[int, int], int],
    start: int,
    size: int,
    first: tuple[int, int],
    limit: int | None,
) -> int:
    """Where the run that starts at ``start`` with item id ``first`` ends (exclusive).

    A unit belongs to the run if it has the next clocks of the same client, within ``limit``
    clocks (the rest of the chain): monotone, so found by doubling, then halving, the step.
    """
    client, clock = first

    def same(unit: int) -> bool:
        shift = width(start, unit)
        if limit is not None and shift >= limit:
            return False
        return item(unit) == (client, clock + shift)

    good, step = 0, 1
    while start + step < size and same(start + step):
        good, step = step, step * 2
    bad = min(step, size - start)
    while bad - good > 1:
        middle = (good + bad) // 2
        if same(start + middle):
            good = middle
        else:
            bad = middle
    return start + good + 1
