"""SharedDocument and its transport against a room served in-process (no server process)."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from jupyter_ysync import AuthenticationFailed, ChangeEvent, ConnectionStatus, SharedDocument
from jupyter_ysync.client._transport import Transport
from tests.in_process import RoomThread, room_thread
from tests.waiting import wait_until


@pytest.fixture
def server(tmp_path: Path) -> Iterator[RoomThread]:
    with room_thread(tmp_path / "rooms.sqlite") as server:
        yield server


@pytest.fixture
def open_doc(server: RoomThread) -> Iterator[Any]:
    docs: list[SharedDocument] = []

    def open_doc(**options: Any) -> SharedDocument:
        doc = SharedDocument("notes", "ws://in-process/", connect=server.connect, **options)
        docs.append(doc)
        doc.wait_synced(10)
        return doc

    yield open_doc
    for doc in docs:
        doc.close()


def test_two_documents_converge_through_the_room(open_doc):
    a, b = open_doc(), open_doc()
    events: list[ChangeEvent] = []
    b.on_change(events.append)
    a.text.insert(0, "hello", {"bold": True})
    wait_until(lambda: str(b.text) == "hello")
    assert b.text.delta[0] == {"insert": "hello", "attributes": {"bold": True}}
    wait_until(lambda: bool(events))
    assert events[-1].remote is True


def test_edits_made_while_disconnected_merge_on_reconnect(open_doc, server):
    a, b = open_doc(), open_doc()
    a.text.insert(0, "base ")
    wait_until(lambda: str(b.text) == "base ")
    server.drop_all()
    wait_until(lambda: a.status is not ConnectionStatus.SYNCED, what="a noticed the drop")
    a.text.insert(len(a.text), "offline")
    wait_until(lambda: str(b.text) == "base offline", timeout=15)
    assert a.status is ConnectionStatus.SYNCED


def test_a_refusal_close_code_fails_the_document_for_good(server):
    server.refuse_with = 4403
    doc = SharedDocument("notes", "ws://in-process/", connect=server.connect)
    with pytest.raises(AuthenticationFailed, match="code 4403"):
        doc.wait_synced(10)
    assert doc.status is ConnectionStatus.FAILED
    doc.close()


def test_the_status_goes_through_its_states_in_order(server):
    seen: list[ConnectionStatus] = []
    transport = Transport(
        "ws://in-process/ysync/rooms/notes",
        {},
        client_id=7,
        on_remote=lambda: None,
        position=lambda doc, index: {},
        on_status=seen.append,
        connect=server.connect,
    )
    transport.start()
    assert transport.wait_settled(10) is ConnectionStatus.SYNCED
    assert transport.synced.is_set() and transport.settled.is_set()
    server.drop_all()
    wait_until(lambda: seen.count(ConnectionStatus.SYNCED) == 2, what="a resync")
    transport.close()
    assert seen == [
        ConnectionStatus.CONNECTED,
        ConnectionStatus.SYNCED,
        ConnectionStatus.DISCONNECTED,
        ConnectionStatus.CONNECTING,
        ConnectionStatus.CONNECTED,
        ConnectionStatus.SYNCED,
        ConnectionStatus.CLOSED,
    ]
    assert not transport.synced.is_set()


def test_an_impossible_transition_is_a_bug_and_says_so():
    transport = Transport(
        "ws://nowhere/", {}, client_id=1, on_remote=lambda: None, position=lambda d, i: {}
    )
    with pytest.raises(RuntimeError, match="cannot go from connecting to synced"):
        transport._transition(ConnectionStatus.SYNCED)
