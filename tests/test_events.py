"""jupyter_events events: registered on the server's event logger, valid against their schemas."""

from __future__ import annotations

import asyncio
import logging
from typing import Any

import pytest
from jupyter_events.schema import EventSchema

from jupyter_ysync.server.events import (
    PEER_EVENT,
    ROOM_EVENT,
    SCHEMAS,
    VERSION_EVENT,
    RoomEvents,
    emit_version_event,
)
from tests.raw_peer import RawPeer
from tests.waiting import eventually

SCHEMA_IDS = (ROOM_EVENT, PEER_EVENT, VERSION_EVENT)


class Recorder:
    """Every jupyter_ysync event the server emits, as its listeners receive it."""

    def __init__(self, serverapp: Any) -> None:
        self.events: list[tuple[str, dict[str, Any]]] = []
        for schema_id in SCHEMA_IDS:
            serverapp.event_logger.add_listener(schema_id=schema_id, listener=self._listen)

    async def _listen(self, logger: Any, schema_id: str, data: dict[str, Any]) -> None:
        self.events.append((schema_id, dict(data)))

    def of(self, schema_id: str, room: str) -> list[dict[str, Any]]:
        return [data for sid, data in self.events if sid == schema_id and data["room"] == room]

    def actions(self, schema_id: str, room: str) -> list[str]:
        return [data["action"] for data in self.of(schema_id, room)]


@pytest.fixture
def recorder(jp_serverapp: Any, ysync_app: Any) -> Recorder:
    return Recorder(jp_serverapp)


def schema(schema_id: str) -> EventSchema:
    return EventSchema(SCHEMAS / f"{schema_id.split('/')[-2]}.yaml")


def assert_valid(recorder: Recorder) -> None:
    """Every recorded event validates against its schema file, read afresh."""
    assert recorder.events
    for schema_id, data in recorder.events:
        schema(schema_id).validate(data)


def test_the_schemas_are_valid_jupyter_event_schemas():
    for schema_id in SCHEMA_IDS:
        loaded = schema(schema_id)
        assert loaded.id == schema_id
        assert loaded.version == "1"


async def test_the_schemas_are_registered_on_the_servers_event_logger(jp_serverapp, ysync_app):
    for schema_id in SCHEMA_IDS:
        assert schema_id in jp_serverapp.event_logger.schemas


async def test_a_room_and_its_peers_emit_their_lifecycle(recorder, ysync_ws_url, jp_fetch):
    a = await RawPeer(ysync_ws_url("evented")).connect()
    b = await RawPeer(ysync_ws_url("evented")).connect()
    await asyncio.wait_for(asyncio.gather(a.synced.wait(), b.synced.wait()), 10)
    await a.close()
    await b.close()
    # idle_unload_delay is 0.5 s in the test configuration
    await eventually(lambda: "unloaded" in recorder.actions(ROOM_EVENT, "evented"))
    a = await RawPeer(ysync_ws_url("evented")).connect()
    await a.synced.wait()
    await jp_fetch("ysync", "rooms", "evented", method="DELETE")
    await asyncio.wait_for(a.closed.wait(), 10)
    await eventually(lambda: len(recorder.actions(PEER_EVENT, "evented")) == 6)

    assert recorder.actions(ROOM_EVENT, "evented") == ["loaded", "unloaded", "loaded", "deleted"]
    assert recorder.actions(PEER_EVENT, "evented") == [
        "joined",
        "joined",
        "left",
        "left",
        "joined",
        "left",
    ]
    peers = recorder.of(PEER_EVENT, "evented")
    assert [event["peers"] for event in peers] == [1, 2, 1, 0, 1, 0]
    assert all(event["transport"] == "websocket" and event["username"] for event in peers)
    loaded = recorder.of(ROOM_EVENT, "evented")[0]
    assert loaded["updates"] == 0 and loaded["duration"] >= 0
    assert_valid(recorder)


async def test_an_http_session_joins_as_an_http_peer_with_its_user(recorder, jp_fetch):
    await jp_fetch(
        "ysync", "rooms", "evented-http", "updates", headers={"X-YSync-Session": "events-session"}
    )
    await eventually(lambda: recorder.of(PEER_EVENT, "evented-http"))
    (joined,) = recorder.of(PEER_EVENT, "evented-http")
    assert joined["action"] == "joined"
    assert joined["transport"] == "http"
    assert joined["username"]
    assert_valid(recorder)


async def test_versions_saved_and_restored_emit_valid_events(recorder, ysync_app):
    events = ysync_app.manager.events
    emit_version_event(events, "saved", "evented-v", 3, name="review", auto=False, username="ada")
    emit_version_event(events, "saved", "evented-v", 4, auto=True, size=1234)
    emit_version_event(events, "restored", "evented-v", 3, username="ada")
    await eventually(lambda: len(recorder.of(VERSION_EVENT, "evented-v")) == 3)
    assert recorder.of(VERSION_EVENT, "evented-v") == [
        {
            "action": "saved",
            "room": "evented-v",
            "version": 3,
            "name": "review",
            "auto": False,
            "username": "ada",
        },
        {"action": "saved", "room": "evented-v", "version": 4, "auto": True, "size": 1234},
        {"action": "restored", "room": "evented-v", "version": 3, "username": "ada"},
    ]
    assert_valid(recorder)
    with pytest.raises(ValueError, match="saved"):
        emit_version_event(events, "renamed", "evented-v", 3)  # type: ignore[arg-type]


async def test_an_event_that_fails_to_validate_is_logged_not_raised(recorder, ysync_app, caplog):
    events: RoomEvents = ysync_app.manager.events
    with caplog.at_level(logging.WARNING):
        events._emit(ROOM_EVENT, {"action": "exploded", "room": "evented-bad"})
    assert "could not emit" in caplog.text
    assert "evented-bad" in caplog.text
    await asyncio.sleep(0)  # no listener task was started for it
    assert recorder.of(ROOM_EVENT, "evented-bad") == []


def test_without_an_event_logger_nothing_is_emitted():
    events = RoomEvents.register(None)
    events.room_loaded("quiet", updates=1, duration=0.1)  # nothing to emit to, nothing raised
    assert events.logger is None
