"""What a benchmark run measures: metrics, repetitions and their summary.

A *run* is one repetition of one scenario against one server. It carries the
values of the scenario's metrics and whether every peer converged to the same,
expected text. Only converged runs count: ``Measurement.summary`` ignores the
others and says how many there were.
"""

from __future__ import annotations

import enum
import statistics
from dataclasses import dataclass, field


class Better(enum.Enum):
    """Which direction of a metric is an improvement."""

    LOWER = "lower"
    HIGHER = "higher"


@dataclass(frozen=True)
class Metric:
    """One figure a scenario reports, e.g. latency p99 in ms."""

    key: str
    label: str
    unit: str
    better: Better
    digits: int = 1


@dataclass
class Run:
    """One repetition: metric values (by ``Metric.key``) and the convergence check."""

    values: dict[str, float]
    converged: bool
    detail: str = ""
    timed_out: bool = False
    """Not converged because it did not finish in time (rather than because replicas differ)."""


@dataclass(frozen=True)
class Summary:
    """Median and range of a metric over the converged runs."""

    median: float
    low: float
    high: float
    count: int
    failed: int


@dataclass
class Measurement:
    """All repetitions of one scenario against one server (or why there are none)."""

    scenario: str
    server: str
    runs: list[Run] = field(default_factory=list)
    error: str | None = None
    notes: list[str] = field(default_factory=list)

    @property
    def failed_runs(self) -> list[Run]:
        return [run for run in self.runs if not run.converged]

    def summary(self, key: str) -> Summary | None:
        """Summarise ``key`` over the converged runs; ``None`` if no converged run has it."""
        values = [run.values[key] for run in self.runs if run.converged and key in run.values]
        if not values:
            return None
        return Summary(
            median=statistics.median(values),
            low=min(values),
            high=max(values),
            count=len(values),
            failed=len(self.failed_runs),
        )


def percentile(samples: list[float], fraction: float) -> float:
    """Return the ``fraction`` quantile of ``samples`` (nearest rank; 0.5 is the median).

    Raises:
        ValueError: if ``samples`` is empty.
    """
    if not samples:
        raise ValueError("percentile of no samples: did any update arrive?")
    ordered = sorted(samples)
    rank = min(len(ordered) - 1, max(0, round(fraction * len(ordered) + 0.5) - 1))
    return ordered[rank]
