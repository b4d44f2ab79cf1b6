"""The benchmark harness keeps working: its quick mode yields converged figures for ours.

Benchmarks are not tests: nothing here asserts a duration or a rate. This runs
two small scenarios of ``python -m benchmarks --quick`` against our server only
and checks that the table has their rows, with figures from converged runs; and
``python -m benchmarks.files`` (open, save, outside edit of a Markdown file) at a
tiny size.
"""

from __future__ import annotations

import json
import re
import subprocess
import sys
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parent.parent
FIGURE = re.compile(r"^[\d,]+(\.\d+)? \([\d,]+(\.\d+)?\u2013[\d,]+(\.\d+)?\)$")
"""A median with its min-max range: at least two converged repetitions."""

pytestmark = pytest.mark.slow


def _rows(table: str, scenario_prefix: str) -> list[list[str]]:
    """The table rows of one scenario: its first row starts with the title, the others empty."""
    rows: list[list[str]] = []
    inside = False
    for line in table.splitlines():
        if not line.startswith("| "):
            continue
        cells = [cell.strip() for cell in line.strip("|").split(" | ")]
        if cells[0]:
            inside = cells[0].startswith(scenario_prefix)
        if inside:
            rows.append(cells)
    return rows


def test_quick_mode_reports_converged_figures_for_ours(tmp_path: Path) -> None:
    out = tmp_path / "results.md"

    completed = subprocess.run(
        [
            sys.executable,
            "-m",
            "benchmarks",
            "--quick",
            "--only",
            "fanout",
            "trace-local",
            "--servers",
            "ours",
            "--out",
            str(out),
        ],
        cwd=REPO,
        capture_output=True,
        text=True,
        timeout=300,
        check=False,
    )

    assert completed.returncode == 0, completed.stderr[-3000:]
    table = out.read_text()
    assert "durable SQLite store ON" in table
    fanout = _rows(table, "fan-out N=10")
    assert [row[1].split(" (")[0] for row in fanout] == [
        "server CPU per delivered update",
        "delivered updates/s",
        "latency p50",
        "latency p99",
    ]
    for row in fanout:
        assert FIGURE.match(row[2]), (row, completed.stderr[-3000:])
    trace = _rows(table, "automerge-paper trace, in-process")
    raw = next(row for row in trace if row[1].startswith("raw pycrdt replay"))
    assert FIGURE.match(raw[2]), (raw, completed.stderr[-3000:])
    assert "FAILED" not in table


def test_files_benchmark_runs_at_a_tiny_size_for_ours(tmp_path: Path) -> None:
    results = tmp_path / "files.json"

    completed = subprocess.run(
        [
            sys.executable,
            "-m",
            "benchmarks.files",
            "--size-mb",
            "0.02",
            "--repeat",
            "2",
            "--servers",
            "ours",
            "--json",
            str(results),
        ],
        cwd=REPO,
        capture_output=True,
        text=True,
        timeout=300,
        check=False,
    )

    assert completed.returncode == 0, completed.stderr[-3000:]
    rows = {
        cells[0]: cells[1]
        for line in completed.stdout.splitlines()
        if line.startswith("| ")
        for cells in [[cell.strip() for cell in line.strip("|").split(" | ")]]
    }
    for figure in ("first open → full sync: wall (ms)", "save: server CPU (ms)"):
        assert FIGURE.match(rows[figure]), (figure, rows, completed.stderr[-3000:])
    (ours,) = json.loads(results.read_text())["measurements"]
    assert [run["converged"] for run in ours["runs"]] == [True, True], ours
    for run in ours["runs"]:  # an outside one-line edit reaches the peer as a small update
        assert 0 < run["values"]["edit_bytes"] < run["values"]["file_bytes"] / 10, run
