"""Command line: ``python -m benchmarks [--quick] [--only SCENARIO ...] [--servers ...]``.

Prints the markdown table on stdout (progress on stderr), writes it to
``--out`` if given, and the raw repetitions to ``benchmarks/.work/results.json``.
"""

from __future__ import annotations

import argparse
import asyncio
import dataclasses
import json
import os
import shlex
import sys
import time
from pathlib import Path

from .peers import SERVER_KINDS, WORK_DIR
from .proc import steal_ticks
from .report import ScenarioInfo, render
from .results import Measurement
from .runner import install, run_scenarios, stderr_log
from .scenarios import FULL, QUICK, Scenario, all_scenarios


def parse_args(argv: list[str]) -> argparse.Namespace:
    parser = argparse.ArgumentParser(
        prog="python -m benchmarks",
        description="Benchmark jupyter-ysync's rooms against pycrdt-websocket, the JavaScript"
        " y-websocket server and jupyter-collaboration, on loopback.",
    )
    parser.add_argument("--quick", action="store_true", help="small sizes: about two minutes")
    parser.add_argument(
        "--only",
        nargs="+",
        metavar="SCENARIO",
        help="scenario keys or prefixes (e.g. fanout, paced, join-storm, many-rooms,"
        " cold-load, trace); default: all",
    )
    parser.add_argument(
        "--servers",
        nargs="+",
        choices=list(SERVER_KINDS),
        default=list(SERVER_KINDS),
        help="servers to compare (default: all; ours is always the first column)",
    )
    parser.add_argument("--repetitions", type=int, help="repetitions per figure (at least 2)")
    parser.add_argument("--out", type=Path, help="also write the markdown table to this file")
    parser.add_argument("--list", action="store_true", help="list the scenarios and exit")
    return parser.parse_args(argv)


def select(scenarios: list[Scenario], only: list[str] | None) -> list[Scenario]:
    """The scenarios whose key equals or starts with one of ``only``.

    Raises:
        SystemExit: naming the unknown selector and the known keys.
    """
    if not only:
        return scenarios
    chosen = []
    for selector in only:
        matches = [s for s in scenarios if s.key == selector or s.key.startswith(selector)]
        if not matches:
            known = ", ".join(s.key for s in scenarios)
            raise SystemExit(f"unknown scenario {selector!r}: choose among {known}")
        chosen += [s for s in matches if s not in chosen]
    return chosen


def main(argv: list[str] | None = None) -> int:
    args = parse_args(sys.argv[1:] if argv is None else argv)
    sizes = QUICK if args.quick else FULL
    if args.repetitions is not None:
        count = max(2, args.repetitions)
        sizes = dataclasses.replace(sizes, repetitions=count, trace_repetitions=count)
    scenarios = select(all_scenarios(sizes), args.only)
    if args.list:
        for scenario in scenarios:
            print(f"{scenario.key:14} {scenario.title}")
        return 0
    keys = ["ours", *[key for key in args.servers if key != "ours"]]
    kinds = [SERVER_KINDS[key]() for key in keys]
    workdir = WORK_DIR / time.strftime("run-%Y%m%d-%H%M%S")
    command = "python -m benchmarks " + shlex.join(sys.argv[1:] if argv is None else argv)

    async def go() -> tuple[str, list[Measurement]]:
        infos = await install(kinds)
        load_before = os.getloadavg()[0]
        steal_before = steal_ticks()
        measurements = await run_scenarios(scenarios, kinds, infos, sizes, workdir)
        load_after = os.getloadavg()[0]
        steal_after = steal_ticks()
        total = steal_after[1] - steal_before[1]
        stolen = 100 * (steal_after[0] - steal_before[0]) / total if total else 0.0
        context = [
            f"Load average (1 min) {load_before:.2f} before the run, {load_after:.2f} after:"
            " above ~0.5 other processes competed for the cores, which inflates wall-clock"
            " figures (latency, throughput) more than CPU-time ones."
            f" CPU time stolen by the hypervisor during the run: {stolen:.1f}% (a virtual"
            " machine's stalls of tens of ms, which no server avoids, show in p99 latencies)."
        ]
        table = render(
            [ScenarioInfo(s.key, s.title, s.metrics) for s in scenarios],
            infos,
            measurements,
            command.strip(),
            f"{sizes.repetitions} repetitions per figure"
            + (
                f" ({sizes.trace_repetitions} for the trace replays)"
                if sizes.trace_repetitions != sizes.repetitions
                else ""
            ),
            context,
        )
        return table, measurements

    table, measurements = asyncio.run(go())
    print(table)
    if args.out is not None:
        args.out.parent.mkdir(parents=True, exist_ok=True)
        args.out.write_text(table)
        stderr_log(f"table written to {args.out}")
    WORK_DIR.mkdir(parents=True, exist_ok=True)
    raw = WORK_DIR / "results.json"
    raw.write_text(json.dumps([dataclasses.asdict(m) for m in measurements], indent=1))
    stderr_log(f"raw repetitions written to {raw}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
