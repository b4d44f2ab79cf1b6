"""Authorship: which user, browser or kernel or the server itself, wrote each range."""

from __future__ import annotations

import asyncio
import getpass
import json
from pathlib import Path
from typing import Any

import pytest
from jupyter_server.auth.identity import User
from pycrdt import Doc, Text, create_update_message
from traitlets.config import Config

from jupyter_ysync.richtext import RichText
from jupyter_ysync.richtext.authors import Authorship, author_runs
from tests.auth_providers import TokenUsersIdentityProvider
from tests.raw_peer import RawPeer
from tests.waiting import eventually

WRITER = {"Authorization": "token writer-token"}
EDITOR = {"Authorization": "token editor-token"}


class TwoWritersIdentityProvider(TokenUsersIdentityProvider):
    """The test users, and ``editor``, a second writer with a display name."""

    def get_user(self, handler: Any) -> User | None:
        if self.get_token(handler) == "editor-token":
            handler._token_authenticated = True
            return User(username="editor", display_name="Ed Itor")
        return super().get_user(handler)


@pytest.fixture
def jp_server_config(jp_server_config: Config) -> Config:
    jp_server_config.ServerApp.identity_provider_class = (
        "tests.test_authorship.TwoWritersIdentityProvider"
    )
    jp_server_config.ServerApp.authorizer_class = "tests.auth_providers.ReaderAuthorizer"
    jp_server_config.YSyncApp.version_quiet_delay = 0.2
    return jp_server_config


async def authors(jp_fetch: Any, room: str, headers: dict[str, str] = WRITER) -> Any:
    response = await jp_fetch("ysync", "rooms", room, "authors", headers=headers)
    return json.loads(response.body)


def spans(answer: dict[str, Any], text: str) -> list[tuple[str, str]]:
    """The text of each range, with the user name of its writer."""
    clients = answer["clients"]
    return [
        (text[r["index"] : r["index"] + r["length"]], clients[str(r["client"])]["username"])
        for r in answer["ranges"]
    ]


async def test_concurrent_browser_and_kernel_edits_are_attributed(
    ysync_app, ysync_ws_url, ysync_connect, jp_fetch
):
    browser = await RawPeer(ysync_ws_url("team", token=None), headers=WRITER).connect()
    other = await RawPeer(ysync_ws_url("team", token=None), headers=EDITOR).connect()
    await asyncio.gather(browser.synced.wait(), other.synced.wait())
    kernel = await ysync_connect("team", token=ysync_app.kernel_token)
    browser.text.insert(0, "Hello from the writer.\n")
    await other.wait_for(lambda: len(str(other.text)) == 23)
    await eventually(lambda: len(kernel.text) == 23)
    # Concurrent: neither has the other's edit when making its own.
    other.text.insert(0, "Editor here. ")
    kernel.text.insert(len(kernel.text), "Computed: 42\n")
    expected = "Editor here. Hello from the writer.\nComputed: 42\n"
    await eventually(lambda: str(kernel.text) == expected, what=lambda: str(kernel.text))
    await browser.wait_for(lambda: str(browser.text) == expected)

    answer = await authors(jp_fetch, "team", EDITOR)

    owner = getpass.getuser()
    assert spans(answer, expected) == [
        ("Editor here. ", "editor"),
        ("Hello from the writer.\n", "writer"),
        ("Computed: 42\n", owner),
    ]
    clients = answer["clients"]
    assert clients[str(browser.doc.client_id)] == {
        "username": "writer",
        "display_name": "writer",
        "kind": "browser",
    }
    assert clients[str(other.doc.client_id)]["display_name"] == "Ed Itor"
    assert clients[str(kernel.client_id)]["kind"] == "kernel"
    # The Python peer computes the ranges from its own replica, the names from the server.
    runs = await asyncio.to_thread(kernel.text.authors)
    assert [(r.length, r.user and r.user["username"]) for r in runs] == [
        (13, "editor"),
        (23, "writer"),
        (13, owner),
    ]
    assert runs[2] == Authorship(36, 13, kernel.client_id, clients[str(kernel.client_id)])
    for peer in (browser, other):
        await peer.close()


async def test_a_file_import_is_the_system_peers_and_a_script_is_a_kernel(
    ysync_app, ysync_connect, jp_fetch, jp_root_dir: Path
):
    (jp_root_dir / "report.md").write_text("# Report\n")
    doc = await ysync_connect(path="report.md", token="writer-token")
    doc.text.insert(len(doc.text), "Added by a script.\n")
    expected = "Report\nAdded by a script.\n"
    await eventually(lambda: str(RichText(live_text(ysync_app, doc.room))) == expected)

    answer = await authors(jp_fetch, doc.room)

    assert spans(answer, expected) == [
        ("Report\n", "jupyter-ysync"),
        ("Added by a script.\n", "writer"),
    ]
    kinds = {who["username"]: who["kind"] for who in answer["clients"].values()}
    assert kinds == {"jupyter-ysync": "system", "writer": "kernel"}
    versions = json.loads(
        (await jp_fetch("ysync", "rooms", doc.room, "versions", headers=WRITER)).body
    )
    if versions:  # the authors of a version are who changed the room since the last one
        assert {a["kind"] for v in versions for a in v["authors"]} <= {"system", "kernel"}


def live_text(app: Any, room: str) -> Text:
    return app.manager.rooms[room].doc.get("content", type=Text)


async def test_the_first_writer_of_a_client_id_keeps_it_and_it_is_stored(
    ysync_app, ysync_ws_url, jp_fetch
):
    relay = await RawPeer(ysync_ws_url("relay", token=None), headers=EDITOR).connect()
    late = await RawPeer(ysync_ws_url("relay", token=None), headers=WRITER).connect()
    await asyncio.gather(relay.synced.wait(), late.synced.wait())
    source: Doc[Any] = Doc(client_id=4242)
    text = source.get("content", type=Text)
    text.insert(0, "first ")
    await relay.ws.send(create_update_message(source.get_update()))
    await late.wait_for(lambda: str(late.text) == "first ")
    before = source.get_state()
    text.insert(6, "second")
    await late.ws.send(create_update_message(source.get_update(before)))  # the same client id
    await eventually(lambda: str(live_text(ysync_app, "relay")) == "first second")

    answer = await authors(jp_fetch, "relay")

    assert answer["clients"]["4242"]["username"] == "editor"
    assert spans(answer, "first second") == [("first second", "editor")]
    for peer in (relay, late):
        await peer.close()
    stored = await eventually(lambda: "relay" not in ysync_app.manager.rooms)  # unloaded
    assert stored
    assert json.loads((await ysync_app.store.clients("relay"))[4242])["username"] == "editor"
    assert (await authors(jp_fetch, "relay"))["clients"]["4242"]["username"] == "editor"


async def test_authors_of_unknown_rooms_and_forbidden_users_are_refused(jp_fetch):
    from tornado.httpclient import HTTPClientError

    for headers, code in (
        (WRITER, 404),
        ({"Authorization": "token outsider-token"}, 403),
        ({}, 403),
    ):
        with pytest.raises(HTTPClientError) as caught:
            await authors(jp_fetch, "nobody-here", headers)
        assert caught.value.code in (code, 401), headers


def test_ranges_are_exact_where_another_client_replaced_a_character() -> None:
    """A same-length replacement inside a run leaves the clocks after it aligned: the runs
    must still split there (see richtext/authors.py)."""
    alice: Doc[Any] = Doc(client_id=1)
    bob: Doc[Any] = Doc(client_id=2)
    text = RichText(alice.get("content", type=Text))
    text.insert(0, "a" * 40 + "\n")
    bob.apply_update(alice.get_update())
    theirs = RichText(bob.get("content", type=Text))
    theirs.delete(21, 1)
    theirs.insert(21, "B")
    alice.apply_update(bob.get_update())

    runs = author_runs(alice.get("content", type=Text))

    assert runs == [(0, 21, 1), (21, 1, 2), (22, 19, 1)]


def test_ranges_count_quill_units_after_emoji() -> None:
    doc: Doc[Any] = Doc(client_id=7)
    text = RichText(doc.get("content", type=Text))
    text.insert(0, "😀 é\n")
    other: Doc[Any] = Doc(client_id=8)
    other.apply_update(doc.get_update())
    RichText(other.get("content", type=Text)).insert(4, "x")
    doc.apply_update(other.get_update())

    native = doc.get("content", type=Text)
    assert author_runs(native) == [(0, 4, 7), (4, 1, 8)]
    assert author_runs(native, quill=True) == [(0, 5, 7), (5, 1, 8)]
