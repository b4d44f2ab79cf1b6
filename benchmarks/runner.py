"""Run the selected scenarios against the selected servers, one server at a time."""

from __future__ import annotations

import asyncio
import sys
import time
from collections.abc import Callable, Sequence
from pathlib import Path

from .loadgen import PeerError, PeerTimeout
from .peers import PeerUnavailable, ServerKind
from .report import IN_PROCESS, ServerInfo
from .results import Measurement, Run
from .scenarios import Bench, Scenario, ServerPool, Sizes

Log = Callable[[str], None]


def stderr_log(message: str) -> None:
    """Progress lines go to stderr, so that stdout is only the table."""
    print(message, file=sys.stderr, flush=True)


async def install(kinds: Sequence[ServerKind], log: Log = stderr_log) -> list[ServerInfo]:
    """Install every server if needed (idempotent); a failure becomes the column's reason."""
    infos = []
    for kind in kinds:
        log(f"[install] {kind.key} ...")
        try:
            version = await asyncio.to_thread(kind.install)
        except PeerUnavailable as exc:
            log(f"[install] {kind.key}: NOT AVAILABLE: {exc}")
            infos.append(ServerInfo(kind.key, kind.title, kind.storage, unavailable=str(exc)))
            continue
        log(f"[install] {kind.key} {version}: ok")
        infos.append(ServerInfo(kind.key, kind.title, kind.storage, version=version))
    return infos


async def run_scenarios(
    scenarios: Sequence[Scenario],
    kinds: Sequence[ServerKind],
    infos: Sequence[ServerInfo],
    sizes: Sizes,
    workdir: Path,
    log: Log = stderr_log,
) -> list[Measurement]:
    """Measure each scenario against each server it applies to, one server after the other."""
    unavailable = {info.key: info.unavailable for info in infos if info.unavailable}
    measurements = []
    for scenario in scenarios:
        if scenario.servers == ():
            measurements.append(await _measure(scenario, None, sizes, workdir, log))
    for kind in kinds:
        mine = [s for s in scenarios if s.servers is None or kind.key in s.servers]
        if kind.key in unavailable:
            measurements += [Measurement(s.key, kind.key, error="not installed") for s in mine]
            continue
        pool = ServerPool(kind, workdir, share=sizes.share_servers)
        try:
            for scenario in mine:
                measurements.append(await _measure(scenario, pool, sizes, workdir, log))
        finally:
            await pool.close()
    return measurements


async def _measure(
    scenario: Scenario, pool: ServerPool | None, sizes: Sizes, workdir: Path, log: Log
) -> Measurement:
    key = IN_PROCESS if pool is None else pool.kind.key
    log(f"[{scenario.key}] {key} ...")
    started = time.perf_counter()
    bench = Bench(pool, sizes, workdir)
    try:
        runs = await scenario.measure(bench)
    except PeerTimeout as exc:
        run = Run({}, False, str(exc), timed_out=True)
        measurement = Measurement(scenario.key, key, [run], notes=bench.notes)
    except PeerError as exc:
        measurement = Measurement(scenario.key, key, [Run({}, False, str(exc))], notes=bench.notes)
    except (PeerUnavailable, OSError, TimeoutError) as exc:
        measurement = Measurement(
            scenario.key, key, error=f"{type(exc).__name__}: {exc}", notes=bench.notes
        )
    else:
        measurement = Measurement(scenario.key, key, runs, notes=bench.notes)
    log(f"[{scenario.key}] {key}: {_brief(measurement)} ({time.perf_counter() - started:.1f} s)")
    return measurement


def _brief(measurement: Measurement) -> str:
    if measurement.error:
        return f"ERROR {measurement.error}"
    parts = []
    for run in measurement.runs:
        values = ", ".join(f"{k}={v:.4g}" for k, v in run.values.items())
        parts.append(values if run.converged else f"FAILED ({run.detail}) {values}")
    notes = f" [{'; '.join(measurement.notes)}]" if measurement.notes else ""
    return " | ".join(parts) + notes
