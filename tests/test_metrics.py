"""Prometheus metrics on jupyter_server's ``/metrics``: they move when traffic flows.

The metrics live in the process's default registry, shared by every server a test session
starts: each test compares what it reads before and after its own traffic.
"""

from __future__ import annotations

import asyncio
from typing import Any

from prometheus_client.parser import text_string_to_metric_families

from jupyter_ysync.server import metrics
from tests.raw_peer import RawPeer

Samples = dict[tuple[str, tuple[tuple[str, str], ...]], float]


async def scrape(jp_fetch: Any) -> Samples:
    """Every jupyter_ysync sample ``/metrics`` shows, by name and labels."""
    response = await jp_fetch("metrics")
    assert response.code == 200
    samples: Samples = {}
    for family in text_string_to_metric_families(response.body.decode()):
        for sample in family.samples:
            if sample.name.startswith("jupyter_ysync_"):
                samples[(sample.name, tuple(sorted(sample.labels.items())))] = sample.value
    return samples


def value(samples: Samples, name: str, **labels: str) -> float:
    return samples.get((f"jupyter_ysync_{name}", tuple(sorted(labels.items()))), 0.0)


async def test_every_metric_is_on_the_servers_metrics_page(jp_fetch, ysync_app):
    samples = await scrape(jp_fetch)
    names = {name for name, _ in samples}
    assert {
        "jupyter_ysync_rooms_loaded",
        "jupyter_ysync_peers",
        "jupyter_ysync_updates_received_total",
        "jupyter_ysync_updates_sent_total",
        "jupyter_ysync_received_bytes_total",
        "jupyter_ysync_sent_bytes_total",
        "jupyter_ysync_store_commit_seconds_count",
        "jupyter_ysync_room_load_seconds_count",
        "jupyter_ysync_slow_peers_dropped_total",
        "jupyter_ysync_malformed_messages_total",
    } <= names
    for transport in ("websocket", "http"):
        assert ("jupyter_ysync_peers", (("transport", transport),)) in samples
    for reason in ("buffer", "stalled"):
        assert ("jupyter_ysync_slow_peers_dropped_total", (("reason", reason),)) in samples


async def test_counters_move_when_websocket_traffic_flows(jp_fetch, ysync_ws_url, ysync_app):
    before = await scrape(jp_fetch)
    a = await RawPeer(ysync_ws_url("metered")).connect()
    b = await RawPeer(ysync_ws_url("metered")).connect()
    await asyncio.wait_for(asyncio.gather(a.synced.wait(), b.synced.wait()), 10)
    a.text += "hello"
    await b.wait_for(lambda: str(b.text) == "hello")
    b.text += " world"
    await a.wait_for(lambda: str(a.text) == "hello world")
    await ysync_app.manager.rooms["metered"].flushed()

    during = await scrape(jp_fetch)

    def grew(name: str, **labels: str) -> float:
        return value(during, name, **labels) - value(before, name, **labels)

    assert grew("updates_received_total") >= 2
    assert grew("updates_sent_total") >= 2  # each update to the other peer
    assert grew("received_bytes_total", transport="websocket") > 0
    assert grew("sent_bytes_total", transport="websocket") > 0
    assert grew("store_commit_seconds_count") >= 2
    assert grew("room_load_seconds_count") == 1
    assert value(during, "rooms_loaded") >= 1
    assert value(during, "peers", transport="websocket") >= 2
    await a.close()
    await b.close()

    async def left() -> bool:
        now = await scrape(jp_fetch)
        return (
            value(now, "peers", transport="websocket")
            == value(during, "peers", transport="websocket") - 2
        )

    await eventually_async(left, what="both peers counted out")


async def test_http_sessions_count_as_http_peers(jp_fetch, ysync_app):
    before = await scrape(jp_fetch)
    await jp_fetch(
        "ysync", "rooms", "metered-http", "updates", headers={"X-YSync-Session": "metrics-session"}
    )
    during = await scrape(jp_fetch)
    assert value(during, "peers", transport="http") == value(before, "peers", transport="http") + 1


async def test_a_malformed_message_is_counted(jp_fetch, ysync_ws_url, ysync_app):
    before = await scrape(jp_fetch)
    peer = await RawPeer(ysync_ws_url("metered-bad")).connect()
    await peer.ws.send(b"\x00\x07garbage")  # a sync message of no known kind
    await asyncio.wait_for(peer.closed.wait(), 10)
    after = await scrape(jp_fetch)
    assert value(after, "malformed_messages_total", transport="websocket") == (
        value(before, "malformed_messages_total", transport="websocket") + 1
    )


def test_metrics_are_registered_once_however_many_servers_run():
    """A second definition of a metric returns the first: no duplicate registration."""
    from prometheus_client import Counter

    again = metrics._registered(Counter, "updates_received", "the same name again")
    assert again is metrics.UPDATES_RECEIVED
    assert metrics._room_gauges() is metrics._GAUGES


async def eventually_async(condition: Any, what: str, timeout: float = 10.0) -> None:
    """Like :func:`eventually`, for a condition that must be awaited."""
    loop = asyncio.get_running_loop()
    deadline = loop.time() + timeout
    while not await condition():
        assert loop.time() < deadline, f"timed out waiting for {what}"
        await asyncio.sleep(0.01)
