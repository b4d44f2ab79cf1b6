"""The Python peer: connect(), SharedDocument and its transport, against a real server process."""

from __future__ import annotations

import socket
import urllib.request
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from jupyter_ysync import (
    AuthenticationFailed,
    ChangeEvent,
    ConnectionFailed,
    ConnectionStatus,
    InvalidRoomName,
    ServerNotFound,
    connect,
)
from jupyter_ysync.client import resolve_server
from tests.servers import ServerProcess, free_port
from tests.waiting import wait_until


@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[ServerProcess]:
    process = ServerProcess(tmp_path_factory.mktemp("client"))
    process.start()
    yield process
    process.stop()


@pytest.fixture
def join(server: ServerProcess) -> Iterator[Any]:
    docs: list[Any] = []

    def open_room(room: str, **kwargs: Any) -> Any:
        doc = connect(room, url=server.http_url, token=server.token, **kwargs)
        docs.append(doc)
        return doc

    yield open_room
    for doc in docs:
        doc.close()


def test_connect_returns_a_synced_document_with_a_32_bit_client_id(join):
    writer = join("basics")
    writer.text.insert(0, "Hello")
    reader = join("basics")
    assert reader.status is ConnectionStatus.SYNCED
    assert str(reader.text) == "Hello"  # content is there on return: connect() waits for sync
    assert 0 <= reader.client_id < 2**32


def test_reads_are_fresh_at_every_call(join):
    a, b = join("fresh"), join("fresh")
    a.text.insert(0, "ping")
    wait_until(lambda: str(b.text) == "ping")  # each str() applies what has arrived


def test_transaction_origin_and_remote_flag_reach_on_change(join):
    a, b = join("events"), join("events")
    seen: list[ChangeEvent] = []
    a.on_change(seen.append)
    with a.transaction(origin="report-bot"):
        a.text.insert(0, "one ")
        a.text.insert(4, "two")
    wait_until(lambda: str(b.text) == "one two")
    b.text.insert(0, ">")
    wait_until(lambda: str(a.text) == ">one two")
    local, remote = seen[0], seen[-1]
    assert local.delta == [{"insert": "one two"}]  # one transaction, one event
    assert (local.origin, local.remote) == ("report-bot", False)
    assert (remote.origin, remote.remote, remote.delta) == (None, True, [{"insert": ">"}])


def test_on_change_counts_characters_not_bytes(join):
    doc = join("unicode")
    doc.text.insert(0, "héllo wörld")
    seen: list[ChangeEvent] = []
    doc.on_change(seen.append)
    doc.text.insert(6, "→ ")
    doc.text.delete(0, 2)
    assert seen[0].delta == [{"retain": 6}, {"insert": "→ "}]
    assert seen[1].delta == [{"delete": 2}]
    assert str(doc.text) == "llo → wörld"


def test_undo_reverts_own_changes_only(join):
    mine, theirs = join("undo"), join("undo")
    mine.text.insert(0, "mine ")
    wait_until(lambda: str(theirs.text) == "mine ")
    theirs.text.insert(5, "theirs")
    wait_until(lambda: str(mine.text) == "mine theirs")
    with mine.transaction(origin="bot"):
        mine.text.insert(0, "[bot] ")
    assert mine.undo() is True  # the bot's transaction
    assert str(mine.text) == "mine theirs"
    assert mine.undo() is True  # the first insert; never the other peer's text
    assert str(mine.text) == "theirs"
    assert mine.undo() is False
    wait_until(lambda: str(theirs.text) == "theirs")
    assert mine.redo() is True
    wait_until(lambda: str(theirs.text) == "mine theirs")


def test_presence_and_caret_are_seen_by_other_peers(join):
    kernel = join("presence", presence={"name": "Analysis kernel", "color": "#e67e22"})
    other = join("presence")
    kernel.text.insert(0, "abc")
    wait_until(lambda: "cursor" in other.peers.get(kernel.client_id, {}))
    state = other.peers[kernel.client_id]
    assert state["user"] == {"name": "Analysis kernel", "color": "#e67e22"}
    assert state["kind"] == "kernel"  # browsers count it apart from the people
    assert state["cursor"]["anchor"]["tname"] == "content"  # a Yjs RelativePosition
    kernel.presence = {"name": "Renamed", "color": "#000000"}
    wait_until(lambda: other.peers[kernel.client_id]["user"]["name"] == "Renamed")
    kernel.close()
    wait_until(lambda: kernel.client_id not in other.peers)


def test_context_manager_closes(server):
    with connect("ctx", url=server.http_url, token=server.token) as doc:
        doc.text.insert(0, "x")
    assert doc.status is ConnectionStatus.CLOSED
    with connect("ctx", url=server.http_url, token=server.token) as again:
        assert str(again.text) == "x"  # sent before closing


def test_wrong_token_fails_fast_with_what_to_do(server):
    with pytest.raises(AuthenticationFailed, match="JUPYTER_YSYNC_TOKEN"):
        connect("auth", url=server.http_url, token="wrong", timeout=10)


def test_invalid_room_name_is_refused_before_connecting(server):
    with pytest.raises(InvalidRoomName, match="A-Z a-z 0-9"):
        connect("no spaces", url=server.http_url, token=server.token)


def test_a_refused_port_fails_at_once_and_says_so():
    """It used to wait out the whole timeout, then blame the sync."""
    url = f"http://127.0.0.1:{free_port()}/"
    with pytest.raises(ConnectionFailed, match=r"Nothing accepts connections at 127\.0\.0\.1:"):
        connect("nowhere", url=url, token="t", timeout=60)


def test_a_server_that_never_answers_fails_with_the_url_after_the_timeout():
    with socket.socket() as silent:  # accepts TCP connections (the backlog), never answers
        silent.bind(("127.0.0.1", 0))
        silent.listen()
        url = f"http://127.0.0.1:{silent.getsockname()[1]}/"
        with pytest.raises(ConnectionFailed, match="did not sync within 1"):
            connect("nowhere", url=url, token="t", timeout=1)


def test_connect_takes_the_url_a_browser_shows(server):
    page = f"{server.http_url}lab/tree/notes.ipynb?token={server.token}"
    with connect("pasted", url=page) as doc:
        assert doc.status is ConnectionStatus.SYNCED


@pytest.mark.parametrize(
    ("url", "base", "token"),
    [
        ("http://h:8888/lab?token=abc", "ws://h:8888/", "abc"),
        ("https://h/user/ada/lab/tree/a.ipynb?token=t", "wss://h/user/ada/", "t"),
        ("http://h:8888/jupyter/notebooks/x.ipynb", "ws://h:8888/jupyter/", None),
        ("http://h:8888/jupyter", "ws://h:8888/jupyter/", None),
        ("ws://h:8888/", "ws://h:8888/", None),
    ],
)
def test_a_pasted_page_url_resolves_to_the_server_and_its_token(url, base, token, monkeypatch):
    monkeypatch.delenv("JUPYTER_YSYNC_TOKEN", raising=False)
    assert resolve_server(url, None) == (base, token)
    assert resolve_server(url, "explicit") == (base, "explicit")


def test_no_server_anywhere_says_which_arguments_to_set(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path
):
    monkeypatch.delenv("JUPYTER_YSYNC_URL", raising=False)
    monkeypatch.delenv("JUPYTER_YSYNC_TOKEN", raising=False)
    monkeypatch.setenv("JUPYTER_RUNTIME_DIR", str(tmp_path))  # no running servers listed
    with pytest.raises(ServerNotFound) as missing:
        connect("notes")
    message = str(missing.value)
    assert "url=" in message and "JUPYTER_YSYNC_URL" in message and "JUPYTER_YSYNC_TOKEN" in message


def test_environment_credentials_are_used_when_no_arguments(
    server: ServerProcess, monkeypatch: pytest.MonkeyPatch
):
    monkeypatch.setenv("JUPYTER_YSYNC_URL", server.ws_url)
    monkeypatch.setenv("JUPYTER_YSYNC_TOKEN", server.token)
    with connect("env") as doc:
        assert doc.status is ConnectionStatus.SYNCED


def test_a_deleted_room_ends_the_peer_instead_of_reconnecting(ysync_process):
    """Close code 4404 is final: the peer fails with the server's reason, and says so."""
    server = ysync_process
    with connect("doomed", url=server.http_url, token=server.token) as doc:
        doc.text.insert(0, "x")
        request = urllib.request.Request(
            f"{server.http_url}ysync/rooms/doomed",
            method="DELETE",
            headers={"Authorization": f"token {server.token}"},
        )
        with urllib.request.urlopen(request) as response:
            assert response.status == 204
        wait_until(lambda: doc.status is ConnectionStatus.FAILED, 10, "the peer to fail")
        with pytest.raises(ConnectionFailed, match=r"4404.*was deleted"):
            doc.wait_synced(1)
