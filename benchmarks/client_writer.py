"""Replay an editing trace into a room through ``jupyter_ysync.connect()``, in its own process.

Run by the ``trace-client`` scenario as
``python -m benchmarks.client_writer URL TOKEN ROOM TXNS``: it joins the room,
prints ``START <t>`` (``time.perf_counter()``, the system's monotonic clock,
which the harness shares), replays the first ``TXNS`` transactions of
automerge-paper (all of them if ``TXNS`` is 0) one ``doc.transaction()`` each,
waits until the text is the trace's, and prints ``DONE <t> <ok>``. It then
waits for a line on stdin before it closes, so that its updates can reach the
other peer first.
"""

from __future__ import annotations

import sys
import time

from .traces import load_trace


def main(argv: list[str]) -> int:
    url, token, room, txns = argv[0], argv[1], argv[2], int(argv[3])
    from jupyter_ysync import connect

    trace = load_trace("automerge-paper")
    if txns:
        trace = trace.head(txns)
    doc = connect(room, url=url, token=token, timeout=60)
    try:
        doc.wait_synced(timeout=60)
        text = doc.text
        if trace.start:
            text.insert(0, trace.start)
        print(f"START {time.perf_counter()!r}", flush=True)
        for txn in trace.txns:
            with doc.transaction():
                for pos, length, chunk in txn:
                    if length:
                        text.delete(pos, length)
                    if chunk:
                        text.insert(pos, chunk)
        ok = str(text) == trace.end
        print(f"DONE {time.perf_counter()!r} {ok}", flush=True)
        sys.stdin.readline()
    finally:
        doc.close()
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
