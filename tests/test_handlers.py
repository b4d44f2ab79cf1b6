"""Authentication, authorization, REST routes and bad input, against a real jupyter_server."""

from __future__ import annotations

import asyncio
import contextlib
import json
import sqlite3
from typing import Any

import pytest
import websockets
from pycrdt import create_update_message
from tornado.httpclient import HTTPClientError
from traitlets.config import Config

from jupyter_ysync.protocol import CloseCode
from tests.raw_peer import RawPeer

WRITER = {"Authorization": "token writer-token"}
READER = {"Authorization": "token reader-token"}
OUTSIDER = {"Authorization": "token outsider-token"}


@pytest.fixture
def jp_server_config(jp_server_config: Config) -> Config:
    jp_server_config.ServerApp.identity_provider_class = (
        "tests.auth_providers.TokenUsersIdentityProvider"
    )
    jp_server_config.ServerApp.authorizer_class = "tests.auth_providers.ReaderAuthorizer"
    jp_server_config.YSyncApp.max_message_size = 64 * 1024
    return jp_server_config


@pytest.fixture
def room_url(ysync_ws_url: Any) -> Any:
    return lambda room: ysync_ws_url(room, token=None)


async def fetch(jp_fetch: Any, *parts: str, headers: dict[str, str] = WRITER, **kwargs: Any) -> Any:
    return await jp_fetch(*parts, headers=headers, **kwargs)


def stored_rows(path: Any, room: str) -> int:
    """Rows of ``room`` in the store's file (none while the store is still being created)."""
    if not path.exists():
        return 0
    with contextlib.closing(sqlite3.connect(path)) as db:
        exists = db.execute("SELECT 1 FROM sqlite_master WHERE name = 'updates'").fetchone()
        if not exists:
            return 0
        return int(db.execute("SELECT COUNT(*) FROM updates WHERE room = ?", (room,)).fetchone()[0])


# -- authentication and authorization ---------------------------------------------------------


async def test_websocket_without_credential_is_refused_with_401(room_url):
    with pytest.raises(websockets.InvalidStatus) as refused:
        await websockets.connect(room_url("notes"))
    assert refused.value.response.status_code == 401
    assert b"credential" in refused.value.response.body


async def test_rest_without_credential_is_refused_with_401(jp_fetch):
    with pytest.raises(HTTPClientError) as refused:
        await jp_fetch("ysync", "rooms", headers={"Authorization": ""})
    assert refused.value.code == 401


async def test_user_without_ysync_permission_is_refused_with_403(room_url, jp_fetch):
    with pytest.raises(websockets.InvalidStatus) as refused:
        await websockets.connect(room_url("notes"), additional_headers=OUTSIDER)
    assert refused.value.response.status_code == 403
    with pytest.raises(HTTPClientError) as rest:
        await fetch(jp_fetch, "ysync", "rooms", headers=OUTSIDER)
    assert rest.value.code == 403


async def test_read_only_peer_receives_everything_but_its_edits_go_nowhere(
    room_url, ysync_store_path
):
    writer = await RawPeer(room_url("ro"), headers=WRITER).connect()
    await writer.synced.wait()
    writer.text += "shared"
    reader = await RawPeer(room_url("ro"), headers=READER).connect()
    await reader.wait_for(lambda: str(reader.text) == "shared")
    rows_before = stored_rows(ysync_store_path, "ro")

    reader.text += " vandalism"
    reader.text.insert(0, "more ")
    await reader.wait_for(lambda: any(m[0] == 2 for m in reader.received))
    writer.text += "!"  # a later edit: once it reaches the reader, the server is past the drop
    await reader.wait_for(lambda: "!" in str(reader.text))

    assert str(writer.text) == "shared!"
    assert stored_rows(ysync_store_path, "ro") == rows_before + 1
    late = await RawPeer(room_url("ro"), headers=WRITER).connect()
    await late.wait_for(lambda: str(late.text) == "shared!")
    permission_messages = [m for m in reader.received if m[0] == 2]
    assert len(permission_messages) == 1  # told once, not per update
    assert b"read-only" in permission_messages[0]
    for peer in (writer, reader, late):
        await peer.close()


async def test_kernel_credential_opens_rooms_but_not_kernels_or_contents(
    ysync_app, ysync_ws_url, jp_fetch
):
    kernel = {"Authorization": f"token {ysync_app.kernel_token}"}
    peer = await RawPeer(ysync_ws_url("k", token=None), headers=kernel).connect()
    await peer.synced.wait()
    rooms = json.loads((await fetch(jp_fetch, "ysync", "rooms", headers=kernel)).body)
    assert [room["name"] for room in rooms] == ["k"]
    for path in (("api", "kernels"), ("api", "contents"), ("api", "terminals")):
        with pytest.raises(HTTPClientError) as refused:
            await fetch(jp_fetch, *path, headers=kernel, follow_redirects=False)
        # Some handlers (terminals) send a GET from nobody to the login page instead.
        location = refused.value.response.headers.get("Location", "")
        to_login = refused.value.code == 302 and "/login" in location
        assert refused.value.code in (401, 403) or to_login, (path, refused.value.code, location)
    await peer.close()


# -- REST -------------------------------------------------------------------------------------


async def test_rooms_are_listed_described_and_deleted(room_url, jp_fetch, ysync_store_path):
    peer = await RawPeer(room_url("team:plan"), headers=WRITER).connect()
    await peer.synced.wait()
    peer.text += "agenda"
    other = await RawPeer(room_url("team:plan"), headers=WRITER).connect()
    await other.wait_for(lambda: str(other.text) == "agenda")

    listed = json.loads((await fetch(jp_fetch, "ysync", "rooms")).body)
    assert [(r["name"], r["peers"]) for r in listed] == [("team:plan", 2)]
    info = json.loads((await fetch(jp_fetch, "ysync", "rooms", "team:plan")).body)
    assert info["size"] > 0 and info["updates"] >= 1 and info["last_modified"]

    response = await fetch(jp_fetch, "ysync", "rooms", "team:plan", method="DELETE")
    assert response.code == 204
    await peer.wait_for(lambda: peer.closed.is_set())
    assert peer.close_code == CloseCode.ROOM_DELETED
    assert stored_rows(ysync_store_path, "team:plan") == 0
    with pytest.raises(HTTPClientError) as missing:
        await fetch(jp_fetch, "ysync", "rooms", "team:plan")
    assert missing.value.code == 404
    assert "GET ysync/rooms" in json.loads(missing.value.response.body)["message"]


async def test_reader_may_not_delete(jp_fetch):
    with pytest.raises(HTTPClientError) as refused:
        await fetch(jp_fetch, "ysync", "rooms", "x", method="DELETE", headers=READER)
    assert refused.value.code == 403


async def test_unknown_room_is_a_json_404(jp_fetch):
    with pytest.raises(HTTPClientError) as missing:
        await fetch(jp_fetch, "ysync", "rooms", "nobody-here")
    body = json.loads(missing.value.response.body)
    assert missing.value.code == 404 and "nobody-here" in body["message"]


# -- bad input --------------------------------------------------------------------------------


@pytest.mark.parametrize("name", ["a b", "x" * 129, "..", "semi;colon", "per%25cent", "é"])
async def test_invalid_room_names_are_refused_before_touching_the_store(
    name, room_url, jp_fetch, ysync_store_path
):
    from urllib.parse import quote

    quoted = quote(name, safe="")
    with pytest.raises(HTTPClientError) as rest:
        await fetch(jp_fetch, "ysync", "rooms", quoted)
    assert rest.value.code == 400
    assert "A-Z a-z 0-9" in json.loads(rest.value.response.body)["message"]
    with pytest.raises(websockets.InvalidStatus) as ws:
        await websockets.connect(room_url(quoted), additional_headers=WRITER)
    assert ws.value.response.status_code == 400
    assert not ysync_store_path.exists() or stored_rows(ysync_store_path, name) == 0


async def test_oversized_message_closes_only_that_peer_with_4413(room_url):
    good = await RawPeer(room_url("big"), headers=WRITER).connect()
    bad = await RawPeer(room_url("big"), headers=WRITER).connect()
    await asyncio.gather(good.synced.wait(), bad.synced.wait())
    with bad.doc.transaction():
        bad.text += "x" * (70 * 1024)  # over the 64 KiB configured above
    await bad.wait_for(lambda: bad.closed.is_set())
    assert bad.close_code == CloseCode.TOO_LARGE
    assert "max_message_size" in bad.close_reason
    good.text += "still alive"
    third = await RawPeer(room_url("big"), headers=WRITER).connect()
    await third.wait_for(lambda: str(third.text) == "still alive")
    await good.close()
    await third.close()


@pytest.mark.parametrize(
    "garbage",
    [
        b"",
        b"\x09",
        b"\x00",
        b"\x00\x07\x01\x00",
        b"\x00\x02\xff",
        create_update_message(b"\x05\x01garbage"),
        b"\x01\x05\x01\x02{not json",
    ],
    ids=[
        "empty",
        "unknown-type",
        "truncated-sync",
        "unknown-sync",
        "bad-length",
        "bad-update",
        "bad-awareness",
    ],
)
async def test_malformed_message_closes_only_its_peer_with_4400(garbage, room_url):
    good = await RawPeer(room_url("mal"), headers=WRITER).connect()
    bad = await RawPeer(room_url("mal"), headers=WRITER).connect()
    await asyncio.gather(good.synced.wait(), bad.synced.wait())
    await bad.ws.send(garbage)
    await bad.wait_for(lambda: bad.closed.is_set())
    assert bad.close_code == CloseCode.MALFORMED
    good.text += "carry on"
    other = await RawPeer(room_url("mal"), headers=WRITER).connect()
    await other.wait_for(lambda: str(other.text) == "carry on")
    await good.close()
    await other.close()


async def test_text_frames_are_refused_with_4400(room_url):
    peer = await RawPeer(room_url("txt"), headers=WRITER).connect()
    await peer.ws.send("hello")
    await peer.wait_for(lambda: peer.closed.is_set())
    assert peer.close_code == CloseCode.MALFORMED
    assert "binary" in peer.close_reason


async def test_content_is_served_as_text_delta_html_and_markdown(room_url, jp_fetch):
    peer = await RawPeer(room_url("doc"), headers=WRITER).connect()
    await peer.synced.wait()
    with peer.doc.transaction():
        peer.text.insert(0, "Title\n", {"header": 1})
        peer.text.insert(6, "bold", {"bold": True})
        peer.text.insert(10, " <script>x</script>\n", {"bold": None})
    other = await RawPeer(room_url("doc"), headers=WRITER).connect()
    await other.wait_for(lambda: str(other.text) == str(peer.text))

    async def content(kind: str) -> Any:
        path = ("ysync", "rooms", "doc", "content")
        response = await fetch(jp_fetch, *path, params={"format": kind})
        return json.loads(response.body)[kind]

    assert await content("text") == "Title\nbold <script>x</script>\n"
    delta = await content("delta")
    assert {"insert": "bold", "attributes": {"bold": True}} in delta
    html = await content("html")
    assert "<h1>Title</h1>" in html and "<strong>bold</strong>" in html
    assert "<script>" not in html  # content is escaped, never injected
    markdown = await content("markdown")
    assert markdown.startswith("# Title\n") and "**bold**" in markdown
    with pytest.raises(HTTPClientError) as bad:
        await content("pdf")
    assert bad.value.code == 400 and "markdown" in json.loads(bad.value.response.body)["message"]
    await peer.close()
    await other.close()
