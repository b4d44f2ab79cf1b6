"""Storage cost of versions, and the cost of authorship ranges.

``python -m benchmarks.versions [N ...]`` replays automerge-paper (259,778 edits) into one
document and takes a version (the full encoded state, as the server does) every ``N`` edits,
printing for each ``N`` the number of versions, their mean and total size raw and
compressed with zlib (level 6, as ``server/history.py`` stores them), the compression time,
and what the default retention (the newest 100 automatic versions) keeps at the end. It then
times :func:`~jupyter_ysync.richtext.authors.author_runs` on a 100 KB text written by three
clients.
"""

from __future__ import annotations

import random
import sys
import time
import zlib
from typing import Any

from pycrdt import Doc, Text

from jupyter_ysync.richtext import RichText
from jupyter_ysync.richtext.authors import author_runs

from .traces import load_trace, raw_editor

RETENTION = 100


def version_costs(every: list[int]) -> list[dict[str, Any]]:
    """Replay the trace once; take versions every ``n`` edits for each ``n`` in ``every``."""
    trace = load_trace("automerge-paper")
    doc: Doc[Any] = Doc(client_id=1)
    text = doc.get("content", type=Text)
    insert, delete = raw_editor(text)
    if trace.start:
        insert(0, trace.start)
    sizes: dict[int, list[tuple[int, int, float]]] = {n: [] for n in every}
    edits = 0
    for txn in trace.txns:
        with doc.transaction():
            for pos, length, chunk in txn:
                if length:
                    delete(pos, length)
                if chunk:
                    insert(pos, chunk)
                edits += 1
        due = [n for n in every if edits // n > len(sizes[n])]
        if due:
            state = doc.get_update()
            start = time.perf_counter()
            packed = len(zlib.compress(state, 6))
            seconds = time.perf_counter() - start
            for n in due:
                sizes[n].append((len(state), packed, seconds))
    assert str(text) == trace.end
    results = []
    for n in every:
        taken = sizes[n]
        raw = sum(s for s, _, _ in taken)
        packed = sum(p for _, p, _ in taken)
        kept = taken[-RETENTION:]
        results.append(
            {
                "every": n,
                "versions": len(taken),
                "raw_mean": raw // len(taken),
                "zlib_mean": packed // len(taken),
                "raw_total": raw,
                "zlib_total": packed,
                "zlib_ms_mean": 1000 * sum(t for _, _, t in taken) / len(taken),
                "kept_zlib_total": sum(p for _, p, _ in kept),
                "last_raw": taken[-1][0],
                "last_zlib": taken[-1][1],
            }
        )
    return results


def authorship_cost(size: int = 100_000, seed: int = 0) -> dict[str, Any]:
    """Time author_runs on a ``size``-character text three clients wrote and edited."""
    rng = random.Random(seed)
    docs: list[Doc[Any]] = [Doc(client_id=i + 1) for i in range(3)]
    texts = [RichText(d.get("content", type=Text)) for d in docs]
    words = ["lorem", "ipsum", "dolor", "sit", "amet", "consectetur", "adipiscing", "elit"]
    while len(texts[0]) < size:
        i = rng.randrange(3)
        rich, length = texts[i], len(texts[i])
        roll = rng.random()
        if roll < 0.6:
            rich.insert(length, " ".join(rng.choice(words) for _ in range(50)) + "\n")
        elif roll < 0.85 and length:
            rich.insert(rng.randrange(length), rng.choice(words) + " ")
        elif length > 10:  # replace three characters: the case a naive search gets wrong
            at = rng.randrange(length - 5)
            rich.delete(at, 3)
            rich.insert(at, "xyz")
        for other in docs:
            other.apply_update(docs[i].get_update(other.get_state()))
    native = docs[0].get("content", type=Text)
    start = time.perf_counter()
    runs = author_runs(native)
    seconds = time.perf_counter() - start
    return {"chars": len(texts[0]), "runs": len(runs), "ms": 1000 * seconds}


def main(argv: list[str]) -> int:
    every = [int(arg) for arg in argv] or [1000, 5000, 20000]
    for row in version_costs(every):
        print(
            f"every {row['every']:>6} edits: {row['versions']:>4} versions,"
            f" mean {row['raw_mean']:>7} B raw / {row['zlib_mean']:>6} B zlib"
            f" ({row['zlib_ms_mean']:.2f} ms), total {row['raw_total']:>10} B raw /"
            f" {row['zlib_total']:>9} B zlib; the newest {RETENTION} kept:"
            f" {row['kept_zlib_total']} B; last {row['last_raw']} B raw /"
            f" {row['last_zlib']} B zlib"
        )
    cost = authorship_cost()
    print(f"author_runs: {cost['chars']} characters, {cost['runs']} runs, {cost['ms']:.0f} ms")
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
