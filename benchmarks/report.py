"""The results table, in markdown.

One row per scenario and metric; one column per server with the median over
the converged repetitions and their range; then, for each peer, how many times
better ours is: peer/ours for figures where lower is better (CPU, latency,
memory, time), ours/peer where higher is better (updates/s, ops/s). A ratio
above 1 means ours is ahead.
"""

from __future__ import annotations

import contextlib
import os
import platform
import re
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

from .results import Better, Measurement, Metric, Summary

EN_DASH = "\u2013"
TIMES = "\u00d7"

IN_PROCESS = "in-process"
"""Server key of scenarios that run without a server (shown in ours' column)."""


@dataclass(frozen=True)
class ServerInfo:
    """A column of the table: which server, which version, or why it is missing."""

    key: str
    title: str
    storage: str
    version: str | None = None
    unavailable: str | None = None


@dataclass(frozen=True)
class ScenarioInfo:
    """A group of rows: the scenario's name and the metrics it reports."""

    key: str
    title: str
    metrics: tuple[Metric, ...]


def render(
    scenarios: Sequence[ScenarioInfo],
    servers: Sequence[ServerInfo],
    measurements: Sequence[Measurement],
    command: str,
    repetitions: str,
    context: Sequence[str] = (),
) -> str:
    """Render the whole report: context, legend and table."""
    lines = [
        "## Benchmark results",
        "",
        f"Command: `{command}`; {repetitions},"
        f" shown as median (min{EN_DASH}max) of the runs whose peers all converged.",
        "",
        f"Machine: {machine()}. Load generator and servers share it, on loopback.",
        *context,
        "",
        "Servers:",
    ]
    for server in servers:
        state = f"{server.version}" if server.unavailable is None else "NOT AVAILABLE"
        reason = f": {server.unavailable}" if server.unavailable else ""
        lines.append(f"- **{server.title}** ({state}) — {server.storage}{reason}")
    lines += [
        "",
        "Ratio columns: how many times better ours is (peer/ours where lower is better ↓,"
        " ours/peer where higher is better ↑); above 1 means ours is ahead.",
        "",
        _table(scenarios, servers, measurements),
    ]
    return "\n".join(lines) + "\n"


def machine() -> str:
    """A one-line description of the machine."""
    cpu = platform.processor() or platform.machine()
    with contextlib.suppress(OSError):
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                cpu = line.split(":", 1)[1].strip()
                break
    memory = ""
    with contextlib.suppress(OSError):
        for line in Path("/proc/meminfo").read_text().splitlines():
            if line.startswith("MemTotal:"):
                memory = f", {int(line.split()[1]) / 1024 / 1024:.0f} GiB"
                break
    return f"{os.cpu_count()} cores ({cpu}){memory}, Python {platform.python_version()}"


def _table(
    scenarios: Sequence[ScenarioInfo],
    servers: Sequence[ServerInfo],
    measurements: Sequence[Measurement],
) -> str:
    ours, peers = servers[0], list(servers[1:])
    header = ["scenario", "metric", ours.title, *(p.title for p in peers)]
    header += [f"ratio vs {p.key}" for p in peers] + ["notes"]
    rows = [header, ["---"] * len(header)]
    found = {(m.scenario, m.server): m for m in measurements}
    for scenario in scenarios:
        in_process = found.get((scenario.key, IN_PROCESS))
        for index, metric in enumerate(scenario.metrics):
            arrow = "↓" if metric.better is Better.LOWER else "↑"
            unit = f" ({metric.unit})" if metric.unit else ""
            row = [scenario.title if index == 0 else "", f"{metric.label}{unit} {arrow}"]
            mine = in_process or found.get((scenario.key, ours.key))
            row.append(_cell(mine, metric, ours))
            theirs = [found.get((scenario.key, p.key)) for p in peers]
            row += [_cell(m, metric, p) for m, p in zip(theirs, peers, strict=True)]
            row += [_ratio(mine, m, metric) for m in theirs]
            row.append(_notes(scenario, [mine, *theirs], servers) if index == 0 else "")
            rows.append(row)
    return "\n".join("| " + " | ".join(cell.replace("|", "\\|") for cell in r) + " |" for r in rows)


def _cell(measurement: Measurement | None, metric: Metric, server: ServerInfo) -> str:
    if measurement is None:
        return "—"
    if measurement.error is not None:
        return "n/a"
    summary = measurement.summary(metric.key)
    failed = measurement.failed_runs
    verdict = "TIMEOUT" if failed and all(run.timed_out for run in failed) else "FAILED"
    if summary is None:
        return verdict if failed else "—"
    text = _format(summary, metric.digits)
    if failed:
        text += f" ⚠ {len(failed)} run(s) {verdict}"
    return text


def _format(summary: Summary, digits: int) -> str:
    def number(value: float) -> str:
        return f"{value:,.{digits}f}"

    if summary.count == 1:
        return f"{number(summary.median)} (1 run)"
    return f"{number(summary.median)} ({number(summary.low)}{EN_DASH}{number(summary.high)})"


def _ratio(ours: Measurement | None, peer: Measurement | None, metric: Metric) -> str:
    if ours is None or peer is None or ours.error or peer.error:
        return "—"
    mine, theirs = ours.summary(metric.key), peer.summary(metric.key)
    if mine is None or theirs is None or mine.median <= 0 or theirs.median <= 0:
        return "—"
    if metric.better is Better.LOWER:
        value = theirs.median / mine.median
    else:
        value = mine.median / theirs.median
    return f"{value:.2f}{TIMES}"


def _notes(
    scenario: ScenarioInfo,
    measurements: Sequence[Measurement | None],
    servers: Sequence[ServerInfo],
) -> str:
    present = [m for m in measurements if m is not None]
    notes: list[str] = []
    if any(m.server == IN_PROCESS for m in present):
        notes.append("in-process, no server")
    else:
        notes.append(
            f"{os.cpu_count()} cores shared with the generator; ours: durable SQLite"
            " store ON; peers keep nothing on disk"
        )
    said: dict[str, list[str]] = {}  # note -> servers that say it
    for measurement in present:
        lines = [measurement.error] if measurement.error else []
        for run in measurement.failed_runs:
            lines.append(f"{'TIMEOUT' if run.timed_out else 'FAILED'}: {run.detail}")
        for line in [*lines, *measurement.notes]:
            said.setdefault(_TOKEN.sub("", line), []).append(measurement.server)
    for note, who in said.items():
        shared = len(who) == len(present) and len(present) > 1
        notes.append(note if shared else f"{', '.join(dict.fromkeys(who))}: {note}")
    return "; ".join(notes)


_TOKEN = re.compile(r"\?token=[0-9A-Za-z]+")
