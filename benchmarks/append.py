"""Typing at the end of a very large document: what one append costs, in-process with pycrdt.

``python -m benchmarks.append [--sizes 1 5 10 20] [--repeat 7] [--only CASE ...]``

Yrs squashes text that one client appends into the block before it, so a text
written by one client, front to back, is one block; an append to it is
integrated into that block. Each case here builds a document of each size, then
times ``--repeat`` appends of 10 KiB (after one untimed warm-up append):

- **local**: the writer's transaction (the insert, and encoding its update,
  which every peer does to send it: the writer observes its document);
- **server**: applying that update to a second replica that received the
  document the way a room's replica does (every update the writer produced,
  in order), with an observer as the room has.

Figures are medians in milliseconds (``perf_counter``, the generator's GC off).
The cases vary what we control on our side: how we insert (one insert, chunks,
one transaction or several, with attributes, before or after the final
newline, through ``RichText``), how the document was built, and ``skip_gc``.
Progress goes to stderr, the markdown table to stdout.
"""

from __future__ import annotations

import argparse
import gc
import os
import statistics
import sys
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from pycrdt import Doc, Map, Subscription, Text, TransactionEvent
from pycrdt import __version__ as pycrdt_version

from jupyter_ysync.richtext import RichText

KiB = 1024
MiB = 1024 * KiB

LINE = ("abcdefghijklmnopqrstuvwxyz" * 4)[:79] + "\n"
"""The documents' text: ASCII lines of 80 characters."""


def text_of(length: int, offset: int = 0) -> str:
    """``length`` characters of the line pattern, starting ``offset`` into it."""
    start = offset % len(LINE)
    repeat = (start + length) // len(LINE) + 1
    return (LINE * repeat)[start : start + length]


@dataclass
class Replica:
    """A document, its root text, and the updates its transactions produced (if observed)."""

    doc: Doc[Any]
    text: Text
    updates: list[bytes] = field(default_factory=list)
    subscription: Subscription | None = None
    view: RichText | None = None

    @classmethod
    def new(cls, *, skip_gc: bool | None = None, observe: bool = True) -> Replica:
        doc: Doc[Any] = Doc(skip_gc=skip_gc)
        replica = cls(doc, doc.get("content", type=Text))
        if observe:
            replica.subscription = doc.observe(replica.capture)
        return replica

    def capture(self, event: TransactionEvent) -> None:
        self.updates.append(event.update)

    def stop_observing(self) -> None:
        if self.subscription is not None:
            self.doc.unobserve(self.subscription)
            self.subscription = None


Build = Callable[[Replica, int], None]
Append = Callable[[Replica, int, str], None]

PIECE = 256 * KiB
"""A document "written in a style" is written in pieces of this size, in that style."""


def build_one_insert(writer: Replica, size: int) -> None:
    """The whole text in one insert (one block), ending with a newline."""
    writer.text.insert(0, text_of(size))


def build_prepends(writer: Replica, size: int) -> None:
    """The text as inserts of ``PIECE`` characters at the front: one block each (no squash)."""
    written = 0
    while written < size:
        length = min(PIECE, size - written)
        writer.text.insert(0, text_of(length, size - written - length))
        written += length


def written_in(style: Append, newline: bool = False) -> Build:
    """A build that writes the text in ``PIECE`` appends of ``style``: the appending client
    wrote all of it this way (after a lone newline if ``newline``)."""

    def build(writer: Replica, size: int) -> None:
        written = 0
        if newline:
            writer.text.insert(0, "\n")
            written = 1
        piece = 0
        while written < size:
            length = min(PIECE, size - written)
            style(writer, -1 - piece, text_of(length, written))
            written += length
            piece += 1

    return build


def append_end(replica: Replica, rep: int, chunk: str) -> None:
    """One insert at the end, in one transaction."""
    replica.text.insert(len(replica.text), chunk)


def append_before_newline(replica: Replica, rep: int, chunk: str) -> None:
    """One insert before the text's final newline (where an editor's caret is at the end)."""
    replica.text.insert(len(replica.text) - 1, chunk)


def append_chunks(parts: int) -> Append:
    """``parts`` inserts at the end, in one transaction."""

    def append(replica: Replica, rep: int, chunk: str) -> None:
        with replica.doc.transaction():
            for piece in _split(chunk, parts):
                replica.text.insert(len(replica.text), piece)

    return append


def append_attributed(value: Callable[[int], object]) -> Append:
    """One insert at the end with the attribute ``{"chunk": value(rep)}``."""

    def append(replica: Replica, rep: int, chunk: str) -> None:
        replica.text.insert(len(replica.text), chunk, {"chunk": value(rep)})

    return append


def append_after_gap(replica: Replica, rep: int, chunk: str) -> None:
    """In one transaction, set a key of another root (a Map) first, then insert at the end.

    The map entry takes one clock of the client, so the text item does not follow the
    previous one's clock and Yrs does not squash it into that block (nothing of the text
    changes; the map keeps one live entry, its earlier values are deleted).
    """
    meta = replica.doc.get("meta", type=Map)
    with replica.doc.transaction():
        meta["append"] = rep
        replica.text.insert(len(replica.text), chunk)


def append_richtext(replica: Replica, rep: int, chunk: str) -> None:
    """``jupyter_ysync.richtext.RichText.insert`` at the end (one view, kept across appends)."""
    if replica.view is None:
        replica.view = RichText(replica.text)
    replica.view.insert(len(replica.view), chunk)


def _split(chunk: str, parts: int) -> list[str]:
    size = len(chunk) // parts
    return [chunk[i * size : (i + 1) * size if i < parts - 1 else None] for i in range(parts)]


@dataclass(frozen=True)
class Case:
    key: str
    label: str
    build: Build = build_one_insert
    append: Append = append_end
    transactions: int = 1
    """Transactions per append (the chunk split in this many, each timed and summed)."""
    other_client: bool = False
    """Appends come from a second client that synced the built document."""
    skip_gc: bool | None = None
    observe: bool = True


CASES = [
    Case("end", "at the end; the text one insert of the appender's"),
    Case(
        "end-no-observer",
        "same, no observer (no update encoded; the server's apply_update has none either)",
        observe=False,
    ),
    Case("end-skip-gc", "same, Doc(skip_gc=True) on both replicas", skip_gc=True),
    Case(
        "end-written",
        "at the end; the appender wrote the text in 256 KiB appends",
        build=written_in(append_end),
    ),
    Case(
        "end-prepends",
        "at the end; the appender wrote the text in 256 KiB prepends",
        build=build_prepends,
    ),
    Case(
        "end-other-client", "at the end; the text one insert of another client", other_client=True
    ),
    Case(
        "chunks-1-txn",
        "10 inserts of 1 KiB at the end, one transaction (text as end-written)",
        build=written_in(append_end),
        append=append_chunks(10),
    ),
    Case(
        "chunks-10-txn",
        "10 inserts of 1 KiB at the end, 10 transactions (text as end-written)",
        build=written_in(append_end),
        transactions=10,
    ),
    Case(
        "before-newline",
        "before the final newline; the text one insert of the appender's",
        append=append_before_newline,
    ),
    Case(
        "before-newline-written",
        "before the final newline; the appender wrote the text so",
        build=written_in(append_before_newline, newline=True),
        append=append_before_newline,
    ),
    Case(
        "attr-same",
        "at the end with {chunk: true}; the appender wrote the text so",
        build=written_in(append_attributed(lambda rep: True)),
        append=append_attributed(lambda rep: True),
    ),
    Case(
        "attr-each",
        "at the end with {chunk: n}, n new each time; the appender wrote the text so",
        build=written_in(append_attributed(lambda rep: rep)),
        append=append_attributed(lambda rep: rep),
    ),
    Case(
        "gap",
        "at the end after setting a Map key (a clock gap); the appender wrote the text so",
        build=written_in(append_after_gap),
        append=append_after_gap,
    ),
    Case(
        "richtext",
        "RichText.insert at the end; the appender wrote the text so",
        build=written_in(append_richtext),
        append=append_richtext,
    ),
]


@dataclass
class Timing:
    """Milliseconds of each append (the first is the warm-up): writer's, server replica's.

    Wall-clock (``perf_counter``) and this thread's CPU time (``thread_time``), which
    other processes on the machine do not inflate.
    """

    local: list[float] = field(default_factory=list)
    server: list[float] = field(default_factory=list)
    local_cpu: list[float] = field(default_factory=list)
    server_cpu: list[float] = field(default_factory=list)

    def median(self, series: str) -> float:
        values: list[float] = getattr(self, series)
        return statistics.median(values[1:])

    def first(self, series: str) -> float:
        values: list[float] = getattr(self, series)
        return values[0]


def _timed(work: Callable[[], object]) -> tuple[float, float]:
    """Run ``work`` with the garbage collector off; its wall and CPU milliseconds."""
    gc.disable()
    try:
        wall, cpu = time.perf_counter(), time.thread_time()
        work()
        return (time.perf_counter() - wall) * 1e3, (time.thread_time() - cpu) * 1e3
    finally:
        gc.enable()


def measure(case: Case, size: int, chunk_size: int, repeat: int) -> Timing:
    """Build the document, then time one warm-up and ``repeat`` appends of ``chunk_size``."""
    builder = Replica.new(skip_gc=case.skip_gc)  # observed: the server needs its updates
    server = Replica.new(skip_gc=case.skip_gc, observe=case.observe)
    case.build(builder, size)
    for update in builder.updates:
        server.doc.apply_update(update)
    writer = builder
    if case.other_client:
        writer = Replica.new(skip_gc=case.skip_gc, observe=case.observe)
        writer.doc.apply_update(builder.doc.get_update())
    elif not case.observe:
        builder.stop_observing()
    timing = Timing()
    for rep in range(repeat + 1):
        chunk = text_of(chunk_size, size + rep * chunk_size)
        parts = [chunk] if case.transactions == 1 else _split(chunk, case.transactions)
        totals = [0.0, 0.0, 0.0, 0.0]
        for part in parts:
            state = writer.doc.get_state()
            del writer.updates[:]
            wall, cpu = _timed(lambda: case.append(writer, rep, part))  # noqa: B023
            totals[0] += wall
            totals[2] += cpu
            update = writer.updates[-1] if writer.updates else writer.doc.get_update(state)
            wall, cpu = _timed(lambda: server.doc.apply_update(update))  # noqa: B023
            totals[1] += wall
            totals[3] += cpu
        timing.local.append(totals[0])
        timing.server.append(totals[1])
        timing.local_cpu.append(totals[2])
        timing.server_cpu.append(totals[3])
    if str(server.text) != str(writer.text):
        raise AssertionError(f"{case.key} at {size} bytes: the server replica differs")
    return timing


def table(
    cases: list[Case], sizes: list[float], results: dict[tuple[str, float], Timing], cpu: bool
) -> list[str]:
    """Markdown rows: per case and size, writer / server median ms [first append if slower]."""
    local, server = ("local_cpu", "server_cpu") if cpu else ("local", "server")
    lines = [
        "| case | " + " | ".join(f"{mib:g} MiB" for mib in sizes) + " |",
        "| --- |" + " --- |" * len(sizes),
    ]
    for case in cases:
        cells = []
        for mib in sizes:
            timing = results[case.key, mib]
            mine, theirs = timing.median(local), timing.median(server)
            cell = f"{mine:.2f} / {theirs:.2f}"
            first_mine, first_theirs = timing.first(local), timing.first(server)
            if first_mine > 2 * mine + 0.5 or first_theirs > 2 * theirs + 0.5:
                cell += f" [{first_mine:.1f} / {first_theirs:.1f}]"
            cells.append(cell)
        lines.append(f"| {case.label} (`{case.key}`) | " + " | ".join(cells) + " |")
    return lines


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m benchmarks.append", description=__doc__)
    parser.add_argument("--sizes", type=float, nargs="+", default=[1, 5, 10, 20], help="MiB")
    parser.add_argument("--chunk-kib", type=float, default=10.0, help="append size (KiB)")
    parser.add_argument("--repeat", type=int, default=7, help="timed appends per case and size")
    parser.add_argument("--only", nargs="+", metavar="CASE", help="case keys (default: all)")
    args = parser.parse_args(sys.argv[1:] if argv is None else argv)
    cases = [c for c in CASES if not args.only or c.key in args.only]
    if not cases:
        raise SystemExit(f"no such case; choose among {', '.join(c.key for c in CASES)}")
    chunk = int(args.chunk_kib * KiB)
    load_before = os.getloadavg()[0]
    results: dict[tuple[str, float], Timing] = {}
    for case in cases:
        for mib in args.sizes:
            timing = measure(case, int(mib * MiB), chunk, args.repeat)
            results[case.key, mib] = timing
            print(
                f"[{case.key}] {mib:g} MiB: local {timing.median('local'):.2f} ms"
                f" (cpu {timing.median('local_cpu'):.2f}), server {timing.median('server'):.2f}"
                f" ms (cpu {timing.median('server_cpu'):.2f}); first"
                f" {timing.first('local'):.2f} / {timing.first('server'):.2f} ms",
                file=sys.stderr,
                flush=True,
            )
    head = (
        f"Append of {args.chunk_kib:g} KiB, median of {args.repeat} appends (after one warm-up"
        " append), ms: writer's transaction / server replica's apply_update; [the warm-up"
        " append, where it took over twice as long]"
    )
    load_after = os.getloadavg()[0]
    print(f"pycrdt {pycrdt_version}; load average (1 min) {load_before:.2f} / {load_after:.2f}.")
    print()
    print(f"{head}. Wall-clock (perf_counter):")
    print()
    print("\n".join(table(cases, args.sizes, results, cpu=False)))
    print()
    print("The same, CPU time of the thread (thread_time):")
    print()
    print("\n".join(table(cases, args.sizes, results, cpu=True)))
    return 0


if __name__ == "__main__":
    sys.exit(main())
