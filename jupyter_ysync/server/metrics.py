"""Prometheus metrics, served on jupyter_server's own ``/metrics``.

jupyter_server exposes prometheus-client's default registry; every metric here is
registered there once per process, however many servers the process runs (a test session
starts dozens): a second definition of a name reuses the first. Gauges are read when
``/metrics`` is scraped, from the room managers :func:`watch` was given, so they never drift.

======================================================  =====================================
``jupyter_ysync_rooms_loaded``                           rooms in memory (gauge)
``jupyter_ysync_peers{transport}``                       peers in loaded rooms, by
                                                         ``websocket`` or ``http`` (gauge)
``jupyter_ysync_updates_received_total``                 Yjs updates received from peers
``jupyter_ysync_updates_sent_total``                     updates fanned out, one per peer
``jupyter_ysync_received_bytes_total{transport}``        bytes of messages received
``jupyter_ysync_sent_bytes_total{transport}``            bytes of frames written to peers
``jupyter_ysync_store_commit_seconds``                   one store transaction (histogram)
``jupyter_ysync_room_load_seconds``                      loading a room (histogram)
``jupyter_ysync_slow_peers_dropped_total{reason}``       peers dropped for falling behind:
                                                         ``buffer`` (max_send_buffer) or
                                                         ``stalled`` (send_timeout)
``jupyter_ysync_malformed_messages_total{transport}``    messages or updates refused as bad
======================================================  =====================================
"""

from __future__ import annotations

import weakref
from collections.abc import Iterator
from typing import TYPE_CHECKING, Any, TypeVar

from prometheus_client import REGISTRY, Counter, Histogram
from prometheus_client.core import GaugeMetricFamily
from prometheus_client.registry import Collector

if TYPE_CHECKING:
    from .manager import RoomManager

__all__ = [
    "HTTP_RECEIVED_BYTES",
    "HTTP_SENT_BYTES",
    "MALFORMED_MESSAGES",
    "RECEIVED_BYTES",
    "ROOM_LOAD_SECONDS",
    "SENT_BYTES",
    "SLOW_PEERS_DROPPED",
    "STORE_COMMIT_SECONDS",
    "TRANSPORTS",
    "UPDATES_RECEIVED",
    "UPDATES_SENT",
    "WEBSOCKET_RECEIVED_BYTES",
    "WEBSOCKET_SENT_BYTES",
    "watch",
]

PREFIX = "jupyter_ysync"
TRANSPORTS = ("websocket", "http")

M = TypeVar("M", Counter, Histogram)

# Store commits take 0.1-2 ms (group commit, WAL); a load takes ms to seconds for large logs.
_COMMIT_BUCKETS = (0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5)
_LOAD_BUCKETS = (0.001, 0.005, 0.01, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 30.0)


def _registered(kind: type[M], name: str, documentation: str, **kwargs: Any) -> M:
    """The metric ``name`` of the default registry, defined and registered if it is not yet.

    prometheus-client refuses a second registration of a name (a reloaded module, two copies
    of the package): the first stays the one ``/metrics`` shows, so it is the one returned.
    """
    full = f"{PREFIX}_{name}"
    existing = getattr(REGISTRY, "_names_to_collectors", {}).get(full)
    if isinstance(existing, kind):
        return existing
    return kind(full, documentation, **kwargs)


UPDATES_RECEIVED = _registered(
    Counter, "updates_received", "Yjs updates received from peers (sync step 2 or update)."
)
UPDATES_SENT = _registered(
    Counter,
    "updates_sent",
    "Updates fanned out to peers, counted once per receiving peer.",
)
RECEIVED_BYTES = _registered(
    Counter,
    "received_bytes",
    "Bytes of y-websocket messages received from peers.",
    labelnames=("transport",),
)
SENT_BYTES = _registered(
    Counter,
    "sent_bytes",
    "Bytes of frames written to peers.",
    labelnames=("transport",),
)
STORE_COMMIT_SECONDS = _registered(
    Histogram,
    "store_commit_seconds",
    "Seconds one store transaction took (a group commit of every queued write).",
    buckets=_COMMIT_BUCKETS,
)
ROOM_LOAD_SECONDS = _registered(
    Histogram,
    "room_load_seconds",
    "Seconds loading a room took: reading its stored log and replaying it.",
    buckets=_LOAD_BUCKETS,
)
SLOW_PEERS_DROPPED = _registered(
    Counter,
    "slow_peers_dropped",
    "Peers disconnected for falling behind: buffer (more than max_send_buffer waited)"
    " or stalled (nothing read for send_timeout seconds).",
    labelnames=("reason",),
)
MALFORMED_MESSAGES = _registered(
    Counter,
    "malformed_messages",
    "Messages or updates refused as malformed (the peer is closed with 4400).",
    labelnames=("transport",),
)

for _transport in TRANSPORTS:  # every series shows from the first scrape, at 0
    RECEIVED_BYTES.labels(_transport)
    SENT_BYTES.labels(_transport)
    MALFORMED_MESSAGES.labels(_transport)
for _reason in ("buffer", "stalled"):
    SLOW_PEERS_DROPPED.labels(_reason)

# Bound once: the websocket's are counted per frame, on the hot path.
WEBSOCKET_RECEIVED_BYTES = RECEIVED_BYTES.labels("websocket")
WEBSOCKET_SENT_BYTES = SENT_BYTES.labels("websocket")
HTTP_RECEIVED_BYTES = RECEIVED_BYTES.labels("http")
HTTP_SENT_BYTES = SENT_BYTES.labels("http")


class _RoomGauges(Collector):
    """Rooms loaded and peers by transport, read from the watched managers when scraped."""

    def __init__(self) -> None:
        self.managers: weakref.WeakSet[RoomManager] = weakref.WeakSet()

    def describe(self) -> list[GaugeMetricFamily]:
        return self._families()

    def collect(self) -> Iterator[GaugeMetricFamily]:
        from .events import transport_of  # late: it imports the transports

        loaded, peers = self._families()
        rooms = [room for manager in list(self.managers) for room in list(manager.rooms.values())]
        counts = dict.fromkeys(TRANSPORTS, 0)
        for room in rooms:
            for peer in list(room.peers):
                counts[transport_of(peer)] += 1
        loaded.add_metric([], len(rooms))
        for transport, count in counts.items():
            peers.add_metric([transport], count)
        yield loaded
        yield peers

    @staticmethod
    def _families() -> list[GaugeMetricFamily]:
        return [
            GaugeMetricFamily(f"{PREFIX}_rooms_loaded", "Rooms whose replica is in memory."),
            GaugeMetricFamily(
                f"{PREFIX}_peers",
                "Peers in loaded rooms, by transport (websocket or http).",
                labels=["transport"],
            ),
        ]


def _room_gauges() -> _RoomGauges:
    existing = getattr(REGISTRY, "_names_to_collectors", {}).get(f"{PREFIX}_rooms_loaded")
    if existing is not None and hasattr(existing, "managers"):
        return existing  # type: ignore[no-any-return]
    gauges = _RoomGauges()
    REGISTRY.register(gauges)
    return gauges


_GAUGES = _room_gauges()


def watch(manager: RoomManager) -> None:
    """Count ``manager``'s rooms and peers in the gauges, for as long as it lives."""
    _GAUGES.managers.add(manager)
