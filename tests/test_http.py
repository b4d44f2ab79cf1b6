"""Rooms over plain HTTP (``jupyter_ysync.server.http_sync``) and the Python peer's HTTP
channel, against a real jupyter_server: long polls, committed POSTs, presence, bad input."""

from __future__ import annotations

import asyncio
import base64
import json
import threading
import time
import urllib.error
import urllib.request
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from pycrdt import Doc, Text
from traitlets.config import Config

from jupyter_ysync import SharedDocument, connect
from jupyter_ysync.server.http_sync import SESSION_HEADER, STATE_VECTOR_HEADER, decode_base64
from tests.raw_peer import RawPeer
from tests.servers import ServerProcess
from tests.waiting import eventually, wait_until

WRITER = {"Authorization": "token writer-token"}
READER = {"Authorization": "token reader-token"}
OUTSIDER = {"Authorization": "token outsider-token"}
OCTET = {"Content-Type": "application/octet-stream"}
SESSION_TIMEOUT = 0.5


@pytest.fixture
def jp_server_config(jp_server_config: Config) -> Config:
    jp_server_config.ServerApp.identity_provider_class = (
        "tests.auth_providers.TokenUsersIdentityProvider"
    )
    jp_server_config.ServerApp.authorizer_class = "tests.auth_providers.ReaderAuthorizer"
    jp_server_config.YSyncApp.max_message_size = 64 * 1024
    jp_server_config.YSyncApp.http_session_timeout = SESSION_TIMEOUT
    return jp_server_config


@pytest.fixture
def room_url(ysync_ws_url: Any) -> Any:
    return lambda room: ysync_ws_url(room, token=None)


@pytest.fixture
def request_(jp_fetch: Any) -> Any:
    """``await request_(room, route, ...)``: never raises on an error status."""

    async def send(
        room: str,
        route: str,
        *,
        method: str = "GET",
        headers: dict[str, str] | None = None,
        **kwargs: Any,
    ) -> Any:
        return await jp_fetch(
            "ysync",
            "rooms",
            room,
            route,
            method=method,
            headers={**WRITER, **(headers or {})},
            raise_error=False,
            **kwargs,
        )

    return send


def b64(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode()


def text_update(text: str, *, client_id: int | None = None) -> tuple[Doc[Any], bytes]:
    doc: Doc[Any] = Doc() if client_id is None else Doc(client_id=client_id)
    doc.get("content", type=Text).insert(0, text)
    return doc, doc.get_update()


def content_of(update: bytes, doc: Doc[Any] | None = None) -> str:
    doc = doc or Doc()
    doc.apply_update(update)
    return str(doc.get("content", type=Text))


async def stored_text(app: Any, room: str) -> str:
    doc: Doc[Any] = Doc()
    for update in await app.store.load(room):
        doc.apply_update(update)
    return str(doc.get("content", type=Text))


# -- GET updates: pull and long poll -----------------------------------------------------------


async def test_get_returns_the_update_the_caller_lacks_with_the_servers_state_vector(
    request_, room_url
):
    writer = await RawPeer(room_url("pull"), headers=WRITER).connect()
    await writer.synced.wait()
    writer.text += "hello"
    await eventually(lambda: writer.doc.get_state() != b"\x00")
    response = await request_("pull", "updates")
    assert response.code == 200
    assert response.headers["Content-Type"] == "application/octet-stream"
    assert content_of(response.body) == "hello"
    assert decode_base64(response.headers[STATE_VECTOR_HEADER]) == writer.doc.get_state()
    assert response.headers["ETag"]

    mine, _ = text_update("")
    mine.apply_update(response.body)
    writer.text += " world"  # the long poll below answers once it reaches the room
    later = await request_(
        "pull",
        "updates",
        params={"sv": b64(mine.get_state()), "wait": "10"},
        headers={"If-None-Match": response.headers["ETag"]},
    )
    assert later.code == 200
    assert content_of(later.body, mine) == "hello world"
    assert later.headers["ETag"] != response.headers["ETag"]
    await writer.close()


async def test_long_poll_answers_as_soon_as_an_update_arrives(request_, room_url):
    first = await request_("poll", "updates")
    tag, state = first.headers["ETag"], decode_base64(first.headers[STATE_VECTOR_HEADER])
    started = time.monotonic()
    poll = asyncio.ensure_future(
        request_(
            "poll",
            "updates",
            params={"sv": b64(state), "wait": "20"},
            headers={"If-None-Match": tag},
        )
    )
    await asyncio.sleep(0.3)
    assert not poll.done()  # nothing new: it waits
    writer = await RawPeer(room_url("poll"), headers=WRITER).connect()
    await writer.synced.wait()
    writer.text += "news"
    response = await asyncio.wait_for(poll, 10)
    assert response.code == 200
    assert content_of(response.body) == "news"
    assert time.monotonic() - started < 10  # not the 20 s it could have waited
    await writer.close()


async def test_long_poll_times_out_with_304_and_the_same_tag(request_):
    first = await request_("quiet", "updates")
    tag = first.headers["ETag"]
    sv = b64(decode_base64(first.headers[STATE_VECTOR_HEADER]))
    started = time.monotonic()
    response = await request_(
        "quiet", "updates", params={"sv": sv, "wait": "0.5"}, headers={"If-None-Match": tag}
    )
    assert response.code == 304
    assert time.monotonic() - started >= 0.5
    assert response.headers["ETag"] == tag
    assert response.headers[STATE_VECTOR_HEADER] == first.headers[STATE_VECTOR_HEADER]


async def test_an_unchanged_room_costs_no_encoding(request_, room_url, ysync_app):
    writer = await RawPeer(room_url("cheap"), headers=WRITER).connect()
    await writer.synced.wait()
    writer.text += "content"
    await eventually(lambda: ysync_app.manager.rooms["cheap"].version > 0)
    session = {SESSION_HEADER: "cheap-session"}
    first = await request_("cheap", "updates", headers=session)  # joins: the room encodes once
    room = ysync_app.manager.rooms["cheap"]
    calls: list[str] = []
    for name in ("get_update", "get_state"):
        original = getattr(room.doc, name)
        setattr(room.doc, name, lambda *a, _n=name, _o=original: calls.append(_n) or _o(*a))
    params = {"sv": b64(writer.doc.get_state()), "wait": "0.2"}
    headers = {"If-None-Match": first.headers["ETag"], **session}
    polls = await asyncio.gather(
        *(request_("cheap", "updates", params=params, headers=headers) for _ in range(20))
    )
    assert {poll.code for poll in polls} == {304}
    assert calls == []  # no encoding, no state vector: the cached ones per version
    await writer.close()


# -- POST updates -----------------------------------------------------------------------------


async def test_a_posted_update_is_stored_when_200_returns_and_reaches_websocket_peers(
    request_, room_url, ysync_app
):
    watcher = await RawPeer(room_url("push"), headers=WRITER).connect()
    await watcher.synced.wait()
    doc, update = text_update("from curl")
    response = await request_("push", "updates", method="POST", body=update, headers=OCTET)
    assert response.code == 200
    assert await stored_text(ysync_app, "push") == "from curl"  # committed before the answer
    reply = json.loads(response.body)
    assert decode_base64(reply["state_vector"]) == doc.get_state()
    assert reply["held"] == 0
    await watcher.wait_for(lambda: str(watcher.text) == "from curl")
    await watcher.close()


async def test_a_read_only_users_post_changes_nothing(request_, ysync_app):
    _, update = text_update("vandalism")
    response = await request_(
        "guarded", "updates", method="POST", body=update, headers={**READER, **OCTET}
    )
    assert response.code == 403
    assert json.loads(response.body)["reason"] == "Forbidden"
    assert await stored_text(ysync_app, "guarded") == ""
    assert "guarded" not in ysync_app.manager.rooms or not ysync_app.manager.rooms[
        "guarded"
    ].doc.get_state().strip(b"\x00")
    pulled = await request_("guarded", "updates", headers=READER)  # reading is allowed
    assert pulled.code == 200 and content_of(pulled.body) == ""


async def test_an_update_with_a_gap_is_refused_without_a_session_and_held_with_one(
    request_, ysync_app
):
    doc, first = text_update("a", client_id=7)
    before = doc.get_state()
    doc.get("content", type=Text).insert(1, "b")
    second = doc.get_update(before)  # builds on "a", which the room lacks

    alone = await request_("gap", "updates", method="POST", body=second, headers=OCTET)
    assert alone.code == 409
    assert "X-YSync-Session" in json.loads(alone.body)["message"]
    assert await stored_text(ysync_app, "gap") == ""

    session = {**OCTET, SESSION_HEADER: "gap-session-1"}
    held = await request_("gap", "updates", method="POST", body=second, headers=session)
    assert held.code == 202
    assert json.loads(held.body)["held"] == 1
    done = await request_("gap", "updates", method="POST", body=first, headers=session)
    assert done.code == 200
    assert json.loads(done.body)["held"] == 0
    assert await stored_text(ysync_app, "gap") == "ab"


# -- bad input --------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("method", "route", "params", "headers", "body", "status", "words"),
    [
        ("POST", "updates", {}, OCTET, b"\x05\x01garbage", 400, "not a Yjs update"),
        ("POST", "updates", {}, OCTET, b"", 400, "empty body"),
        ("POST", "updates", {}, {}, b"\x00\x00", 415, "application/octet-stream"),
        ("POST", "updates", {}, OCTET, b"\x00" * (65 * 1024), 413, "max_message_size"),
        ("GET", "updates", {"sv": "not base64!"}, {}, None, 400, "state vector"),
        ("GET", "updates", {"sv": b64(b"\x05\x01")}, {}, None, 400, "state vector"),
        ("GET", "updates", {"wait": "31"}, {}, None, 400, "http_max_wait"),
        ("GET", "updates", {"wait": "nan"}, {}, None, 400, "seconds from 0"),
        ("GET", "awareness", {"wait": "-1"}, {}, None, 400, "seconds from 0"),
        ("GET", "updates", {"session": "short"}, {}, None, 400, "8-64 characters"),
        ("POST", "awareness", {}, OCTET, b"\x01\x01", 400, "session"),
        ("GET", "updates", {}, {"Authorization": ""}, None, 401, "credential"),
        ("POST", "updates", {}, {"Authorization": "", **OCTET}, b"\x00\x00", 401, "credential"),
        ("GET", "awareness", {}, {"Authorization": ""}, None, 401, "credential"),
        ("GET", "updates", {}, OUTSIDER, None, 403, "not allowed"),
    ],
    ids=[
        "malformed-update",
        "empty-update",
        "not-octet-stream",
        "oversized",
        "sv-not-base64",
        "sv-not-a-state-vector",
        "wait-too-large",
        "wait-nan",
        "wait-negative",
        "bad-session",
        "awareness-without-session",
        "no-credential-get",
        "no-credential-post",
        "no-credential-awareness",
        "not-allowed",
    ],
)
async def test_bad_input_is_refused_with_json_saying_what_to_send(
    request_, ysync_app, method, route, params, headers, body, status, words
):
    response = await request_(
        "bad", route, method=method, params=params, headers=headers, body=body
    )
    assert response.code == status
    error = json.loads(response.body)
    assert set(error) >= {"message", "reason"}
    assert words in error["message"]
    assert await stored_text(ysync_app, "bad") == ""


async def test_awareness_json_that_is_not_a_state_is_refused(request_):
    session = {SESSION_HEADER: "json-session", "Content-Type": "application/json"}
    for body in (b"{not json", b'{"state": {}}', b'{"client": -1, "state": null}'):
        response = await request_("aw-bad", "awareness", method="POST", body=body, headers=session)
        assert response.code == 400, body


# -- awareness --------------------------------------------------------------------------------


async def test_presence_goes_both_ways_between_http_and_websocket_peers(request_, room_url):
    ws = await RawPeer(room_url("presence"), headers=WRITER).connect()
    await ws.synced.wait()
    await ws.send_awareness({"user": {"name": "Browser"}})

    session = {SESSION_HEADER: "presence-http-1", "Content-Type": "application/json"}
    posted = await request_(
        "presence",
        "awareness",
        method="POST",
        body=json.dumps({"client": 4242, "state": {"user": {"name": "curl"}}}),
        headers=session,
    )
    assert posted.code == 200
    states = {s["client"]: s["state"] for s in json.loads(posted.body)["states"]}
    assert states[ws.awareness.client_id] == {"user": {"name": "Browser"}}
    assert states[4242] == {"user": {"name": "curl"}}
    await ws.wait_for(lambda: ws.awareness.states.get(4242) == {"user": {"name": "curl"}})

    # A long poll on awareness answers when the websocket peer moves.
    tag = posted.headers["ETag"]
    poll = asyncio.ensure_future(
        request_(
            "presence",
            "awareness",
            params={"wait": "20"},
            headers={"If-None-Match": tag, SESSION_HEADER: "presence-http-1"},
        )
    )
    await asyncio.sleep(0.2)
    assert not poll.done()
    await ws.send_awareness({"user": {"name": "Browser"}, "cursor": 3})
    moved = await asyncio.wait_for(poll, 10)
    assert moved.code == 200
    states = {s["client"]: s["state"] for s in json.loads(moved.body)["states"]}
    assert states[ws.awareness.client_id]["cursor"] == 3
    await ws.close()


async def test_an_http_peer_that_stops_polling_leaves_after_the_timeout(request_, room_url):
    ws = await RawPeer(room_url("leaving"), headers=WRITER).connect()
    await ws.synced.wait()
    session = {SESSION_HEADER: "leaving-http-1", "Content-Type": "application/json"}
    body = json.dumps({"client": 99, "state": {"user": {"name": "gone soon"}}})
    response = await request_("leaving", "awareness", method="POST", body=body, headers=session)
    assert response.code == 200
    await ws.wait_for(lambda: 99 in ws.awareness.states)
    started = time.monotonic()
    await ws.wait_for(lambda: 99 not in ws.awareness.states, timeout=10)
    assert time.monotonic() - started >= SESSION_TIMEOUT * 0.8
    after = await request_("leaving", "awareness")
    assert 99 not in {s["client"] for s in json.loads(after.body)["states"]}
    await ws.close()


async def test_a_session_kept_busy_by_a_long_poll_does_not_expire(request_, room_url):
    ws = await RawPeer(room_url("staying"), headers=WRITER).connect()
    await ws.synced.wait()
    session = {SESSION_HEADER: "staying-http-1"}
    body = json.dumps({"client": 77, "state": {"user": {"name": "polling"}}})
    posted = await request_(
        "staying",
        "awareness",
        method="POST",
        body=body,
        headers={**session, "Content-Type": "application/json"},
    )
    poll = await request_(
        "staying",
        "awareness",
        params={"wait": str(SESSION_TIMEOUT * 3)},
        headers={**session, "If-None-Match": posted.headers["ETag"]},
    )
    assert poll.code == 304
    assert 77 in ws.awareness.states  # polled all along: still there
    await ws.close()


# -- the Python peer over HTTP ----------------------------------------------------------------


@pytest.fixture
def http_peer(jp_serverapp: Any, jp_http_port: int, jp_base_url: str, jp_asyncio_loop: Any):
    """``await http_peer(room, transport=...)``: a synced SharedDocument of the in-process
    server, made on the test's loop as ysync_connect makes them."""
    base = f"ws://127.0.0.1:{jp_http_port}{jp_base_url}"
    docs: list[SharedDocument] = []

    async def open_doc(room: str, transport: str = "http", **kwargs: Any) -> SharedDocument:
        doc = SharedDocument(room, base, "writer-token", transport=transport, **kwargs)
        docs.append(doc)
        await asyncio.to_thread(doc.wait_synced, 10)
        return doc

    yield open_doc

    async def close_all() -> None:
        await asyncio.gather(*(asyncio.to_thread(doc.close) for doc in docs))

    jp_asyncio_loop.run_until_complete(close_all())


async def test_the_python_peer_over_http_converges_with_a_websocket_peer(
    http_peer, room_url, ysync_app
):
    doc = await http_peer("py-http", presence={"name": "Kernel", "color": "#000000"})
    assert doc.transport == "http"
    ws = await RawPeer(room_url("py-http"), headers=WRITER).connect()
    await ws.synced.wait()
    await ws.send_awareness({"user": {"name": "Browser"}})

    doc.text.insert(0, "from python ")
    await ws.wait_for(lambda: str(ws.text) == "from python ")
    ws.text += "and the browser"
    await eventually(lambda: str(doc.text) == "from python and the browser")
    assert await stored_text(ysync_app, "py-http") == "from python and the browser"

    await eventually(lambda: ws.awareness.client_id in doc.peers, what="the browser's state")
    await ws.wait_for(lambda: doc.client_id in ws.awareness.states)
    assert ws.awareness.states[doc.client_id]["user"]["name"] == "Kernel"
    await asyncio.to_thread(doc.close)
    await ws.wait_for(lambda: doc.client_id not in ws.awareness.states)
    await ws.close()


# -- against a server process: offline edits, kill -9 -----------------------------------------


@pytest.fixture
def process(tmp_path: Path) -> Iterator[ServerProcess]:
    server = ServerProcess(tmp_path / "server")
    server.start()
    yield server
    server.stop()


def test_the_python_peer_over_http_keeps_working_offline_and_merges_on_reconnect(process):
    http = connect("offline", url=process.http_url, token=process.token, transport="http")
    ws = connect("offline", url=process.http_url, token=process.token, transport="websocket")
    try:
        http.text.insert(0, "before ")
        wait_until(lambda: str(ws.text) == "before ")
        process.kill()
        wait_until(lambda: http.status.value == "disconnected", what="the HTTP peer to notice")
        http.text.insert(len(http.text), "offline ")  # nobody to send it to
        process.start()
        wait_until(lambda: http.status.value == "synced", what="the HTTP peer to reconnect")
        wait_until(lambda: ws.status.value == "synced", what="the websocket peer to reconnect")
        wait_until(lambda: str(ws.text) == "before offline ", what="the offline edit")
        ws.text.insert(0, "> ")
        wait_until(lambda: str(http.text) == "> before offline ", what="later edits")
        assert http.transport == "http"
    finally:
        http.close()
        ws.close()


def _post(server: ServerProcess, room: str, update: bytes) -> int:
    request = urllib.request.Request(
        f"{server.http_url}ysync/rooms/{room}/updates",
        data=update,
        method="POST",
        headers={"Authorization": f"token {server.token}", **OCTET},
    )
    with urllib.request.urlopen(request, timeout=10) as response:
        return int(response.status)


def test_every_post_that_got_200_is_in_the_store_after_a_kill_9(process):
    doc: Doc[Any] = Doc(client_id=1234)
    text = doc.get("content", type=Text)
    acknowledged: list[str] = []
    stop = threading.Event()

    def stream() -> None:
        index = 0
        while not stop.is_set():
            state = doc.get_state()
            word = f"<{index}>"
            text.insert(len(text), word)
            try:
                if _post(process, "durable", doc.get_update(state)) == 200:
                    acknowledged.append(word)
            except (OSError, urllib.error.URLError):
                return  # the server is gone: this one may or may not have been stored
            index += 1

    writer = threading.Thread(target=stream)
    writer.start()
    try:
        wait_until(lambda: len(acknowledged) >= 50, what="50 acknowledged POSTs")
        process.kill()  # in the middle of the stream
    finally:
        stop.set()
        writer.join(10)
    assert not writer.is_alive()
    process.start()
    request = urllib.request.Request(
        f"{process.http_url}ysync/rooms/durable/updates",
        headers={"Authorization": f"token {process.token}"},
    )
    with urllib.request.urlopen(request, timeout=10) as response:
        stored = content_of(response.read())
    missing = [word for word in acknowledged if word not in stored]
    assert not missing, f"{len(missing)} acknowledged updates lost: {missing[:5]}"
    assert stored.startswith("".join(acknowledged))
