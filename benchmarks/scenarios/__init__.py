"""The benchmark scenarios of issue 4, and the sizes they run at.

Each module holds one family of scenarios; ``all_scenarios`` lists them in the
order of the results table.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from dataclasses import dataclass

from ..peers import Ours
from ..results import Metric, Run
from .base import FULL, QUICK, Bench, ServerPool, Sizes
from .broadcast import FANOUT_METRICS, PACED_METRICS, fanout, paced
from .cold import COLD_METRICS, cold_load
from .compaction import compaction, compaction_metrics, compaction_title
from .rooms import ROOMS_METRICS, many_rooms
from .storm import STORM_METRICS, join_storm
from .trace import (
    TRACE_LOCAL_METRICS,
    TRACE_ROOM_METRICS,
    trace_in_process,
    trace_through_client,
    trace_through_room,
)

__all__ = ["FULL", "QUICK", "Bench", "Scenario", "ServerPool", "Sizes", "all_scenarios"]


@dataclass(frozen=True)
class Scenario:
    """A named scenario: its metrics, how to measure it, and which servers it applies to."""

    key: str
    title: str
    metrics: tuple[Metric, ...]
    measure: Callable[[Bench], Awaitable[list[Run]]]
    servers: tuple[str, ...] | None = None
    """Keys of the servers it applies to; None: all of them; (): none (in-process)."""


def all_scenarios(sizes: Sizes) -> list[Scenario]:
    """Every scenario, at the given sizes, in the order of the table."""
    scenarios = [
        Scenario(
            f"fanout-{readers}",
            f"fan-out N={readers}, M={sizes.fanout_updates}",
            FANOUT_METRICS,
            fanout(readers),
        )
        for readers in sizes.fanout_readers
    ]
    scenarios += [
        Scenario(
            "paced",
            f"paced N={sizes.paced_readers}, {sizes.paced_rate:g} updates/s,"
            f" M={sizes.paced_updates}",
            PACED_METRICS,
            paced,
        ),
        Scenario(
            "join-storm",
            f"join storm: {sizes.storm_joiners} joins, doc of {sizes.storm_edits} edits"
            f" x {sizes.storm_chunk} chars",
            STORM_METRICS,
            join_storm,
        ),
        Scenario(
            "many-rooms",
            f"many rooms: {sizes.rooms} rooms x 2 peers x {sizes.room_updates} updates",
            ROOMS_METRICS,
            many_rooms,
        ),
        Scenario(
            "cold-load",
            f"cold load: {sizes.cold_updates} stored updates",
            COLD_METRICS,
            cold_load,
            servers=(Ours.key,),
        ),
        Scenario(
            "compaction",
            compaction_title(sizes),
            compaction_metrics(sizes),
            compaction,
            servers=(Ours.key,),
        ),
        Scenario(
            "trace-local",
            "automerge-paper trace, in-process" + _trace_size(sizes),
            TRACE_LOCAL_METRICS,
            trace_in_process,
            servers=(),
        ),
        Scenario(
            "trace-room",
            "automerge-paper trace through a room (pycrdt peer → peer)" + _trace_size(sizes),
            TRACE_ROOM_METRICS,
            trace_through_room,
        ),
        Scenario(
            "trace-client",
            "automerge-paper trace through a room (jupyter_ysync.connect → peer)"
            + _trace_size(sizes),
            TRACE_ROOM_METRICS,
            trace_through_client,
            servers=(Ours.key,),
        ),
    ]
    return scenarios


def _trace_size(sizes: Sizes) -> str:
    return "" if sizes.trace_txns is None else f", first {sizes.trace_txns} txns"
