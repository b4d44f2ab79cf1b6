"""Versions: taken automatically and by name, listed, read, restored, retained, refused."""

from __future__ import annotations

import asyncio
import itertools
import json
from typing import Any

import pytest
from pycrdt import Text
from tornado.httpclient import HTTPClientError
from traitlets.config import Config

from jupyter_ysync.errors import VersionNotFound
from jupyter_ysync.protocol import ROOT_TEXT
from jupyter_ysync.richtext import RichText
from tests.waiting import eventually

QUIET = 0.3
INTERVAL = 1.0


@pytest.fixture
def jp_server_config(jp_server_config: Config) -> Config:
    jp_server_config.YSyncApp.version_quiet_delay = QUIET
    jp_server_config.YSyncApp.version_max_interval = INTERVAL
    jp_server_config.YSyncApp.version_retention = 3
    return jp_server_config


def server_text(app: Any, room: str) -> str:
    live = app.manager.rooms.get(room)
    return str(RichText(live.doc.get(ROOT_TEXT, type=Text))) if live else ""


async def versions_settled(app: Any, room: str) -> None:
    """Wait until every change of ``room`` is in a version (the quiet delay passed)."""
    history = app.history
    await eventually(
        lambda: history._rooms[room].first_change is None and not history._tasks,
        what=f"an automatic version of room {room}",
    )


async def fetch_json(jp_fetch: Any, *parts: str, **kwargs: Any) -> Any:
    return json.loads((await jp_fetch("ysync", "rooms", *parts, **kwargs)).body)


async def refused(jp_fetch: Any, *parts: str, **kwargs: Any) -> tuple[int, str]:
    with pytest.raises(HTTPClientError) as caught:
        await jp_fetch("ysync", "rooms", *parts, **kwargs)
    assert caught.value.response is not None
    return caught.value.code, json.loads(caught.value.response.body)["message"]


async def test_a_named_version_round_trips(ysync_app, ysync_connect, jp_fetch):
    doc = await ysync_connect("notes")
    doc.text.insert(0, "Title\n", {"header": 1})
    doc.text.insert(6, "Body text.\n")
    await eventually(lambda: server_text(ysync_app, "notes") == "Title\nBody text.\n")

    saved = await asyncio.to_thread(doc.save_version, "sent to review")
    doc.text.delete(0, 6)  # what follows must not change the version

    assert saved["name"] == "sent to review" and saved["auto"] is False
    assert saved["size"] > 0 and saved["created"].endswith("Z")
    assert saved["authors"] and saved["authors"][0]["kind"] == "kernel"
    listed = await asyncio.to_thread(doc.versions)
    assert listed[0] == saved
    assert await fetch_json(jp_fetch, "notes", "versions", str(saved["id"])) == saved
    delta = await asyncio.to_thread(doc.version_content, saved["id"])
    assert delta == [
        {"insert": "Title"},
        {"insert": "\n", "attributes": {"header": 1}},
        {"insert": "Body text.\n"},
    ]
    content = await fetch_json(
        jp_fetch, "notes", "versions", str(saved["id"]), "content", params={"format": "markdown"}
    )
    assert content == {
        "room": "notes",
        "version": saved["id"],
        "markdown": "# Title\n\nBody text.\n",
    }


async def test_a_quiet_room_gets_an_automatic_version(ysync_app, ysync_connect, jp_fetch):
    doc = await ysync_connect("quiet")
    doc.text.insert(0, "Hello\n")
    await eventually(lambda: server_text(ysync_app, "quiet") == "Hello\n")

    await versions_settled(ysync_app, "quiet")

    listed = await fetch_json(jp_fetch, "quiet", "versions")
    assert len(listed) == 1
    assert listed[0]["auto"] is True and listed[0]["name"] is None
    text = await fetch_json(jp_fetch, "quiet", "versions", str(listed[0]["id"]), "content")
    assert text["text"] == "Hello\n"


async def test_continuous_editing_gets_a_version_at_most_every_interval(ysync_app, ysync_connect):
    doc = await ysync_connect("busy")
    loop = asyncio.get_running_loop()
    start = loop.time()
    while loop.time() - start < 2.5 * INTERVAL:  # never quiet for QUIET seconds
        doc.text.insert(len(doc.text), "x")
        await asyncio.sleep(QUIET / 5)
    typing = await ysync_app.store.versions("busy")

    assert 2 <= len(typing) <= 3
    times = sorted(version.created for version in typing)
    assert all(b - a >= INTERVAL * 0.9 for a, b in itertools.pairwise(times))
    # Once the typing stops, the room is quiet: one more version, with all of it.
    await versions_settled(ysync_app, "busy")
    last = (await ysync_app.store.versions("busy"))[0]
    assert last.created > times[-1]


async def test_restore_while_another_peer_types_keeps_both_and_is_undoable(
    ysync_app, ysync_connect
):
    alice = await ysync_connect("story")
    bob = await ysync_connect("story")
    alice.text.insert(0, "Title\nOnce upon a time.\n")
    await eventually(lambda: str(bob.text) == "Title\nOnce upon a time.\n")
    version = await asyncio.to_thread(alice.save_version, "first draft")
    alice.text.set_text("Title\nA rewrite nobody liked.\n")
    await eventually(lambda: str(bob.text) == "Title\nA rewrite nobody liked.\n")
    ops = await asyncio.to_thread(alice.version_content, version["id"])

    # No await between Bob's typing and Alice's restore: the server (on this loop) cannot
    # relay either before both are made, so they are truly concurrent. The version's content
    # was fetched above, as restore_version does first.
    alice.version_content = lambda *args, **kwargs: ops  # type: ignore[method-assign]
    bob.text.insert(5, " by Bob")
    alice.restore_version(version["id"])

    expected = "Title by Bob\nOnce upon a time.\n"
    await eventually(
        lambda: str(alice.text) == expected == str(bob.text),
        what=lambda: f"{str(alice.text)!r} {str(bob.text)!r}",
    )
    assert server_text(ysync_app, "story") == expected

    assert alice.undo()
    undone = "Title by Bob\nA rewrite nobody liked.\n"
    await eventually(lambda: str(alice.text) == undone == str(bob.text))


async def test_the_server_restores_a_version_as_an_edit_every_peer_sees(
    ysync_app, ysync_connect, jp_fetch
):
    doc = await ysync_connect("memo")
    doc.text.insert(0, "Keep this.\n")
    await eventually(lambda: server_text(ysync_app, "memo") == "Keep this.\n")
    version = await asyncio.to_thread(doc.save_version, "good")
    doc.text.set_text("Lost it.\n")
    await eventually(lambda: server_text(ysync_app, "memo") == "Lost it.\n")

    answer = await fetch_json(
        jp_fetch, "memo", "versions", str(version["id"]), "restore", method="POST", body=""
    )

    assert answer == {"room": "memo", "version": version["id"], "changed": True}
    await eventually(lambda: str(doc.text) == "Keep this.\n")


async def test_automatic_versions_are_retained_up_to_the_limit_named_ones_stay(
    ysync_app, ysync_connect
):
    doc = await ysync_connect("kept")
    doc.text.insert(0, "v0\n")
    await eventually(lambda: server_text(ysync_app, "kept") == "v0\n")
    named = await asyncio.to_thread(doc.save_version, "named")
    for number in range(1, 6):
        doc.text.insert(0, f"v{number}\n")
        await eventually(lambda n=number: server_text(ysync_app, "kept").startswith(f"v{n}\n"))
        await ysync_app.history.save("kept")  # as the timer does

    listed = await asyncio.to_thread(doc.versions)

    automatic = [version for version in listed if version["auto"]]
    assert len(automatic) == 3  # version_retention
    assert [v["id"] for v in listed if not v["auto"]] == [named["id"]]
    assert listed == sorted(listed, key=lambda v: v["id"], reverse=True)


async def test_deleting_a_room_deletes_its_versions(ysync_app, ysync_connect, jp_fetch):
    doc = await ysync_connect("gone")
    doc.text.insert(0, "bye\n")
    await eventually(lambda: server_text(ysync_app, "gone") == "bye\n")
    await asyncio.to_thread(doc.save_version, "last")
    await asyncio.to_thread(doc.close)

    await jp_fetch("ysync", "rooms", "gone", method="DELETE")

    assert await ysync_app.store.versions("gone") == []
    assert (await refused(jp_fetch, "gone", "versions"))[0] == 404


async def test_bad_version_requests_are_refused_with_reasons(ysync_app, ysync_connect, jp_fetch):
    doc = await ysync_connect("strict")
    doc.text.insert(0, "x\n")
    await eventually(lambda: server_text(ysync_app, "strict") == "x\n")
    version = await asyncio.to_thread(doc.save_version, "one")
    vid = str(version["id"])
    post = {"method": "POST"}

    assert (await refused(jp_fetch, "nowhere", "versions"))[0] == 404
    assert (await refused(jp_fetch, "strict", "versions", "999999"))[0] == 404
    assert (await refused(jp_fetch, "strict", "versions", "abc"))[0] == 400
    assert (await refused(jp_fetch, "strict", "versions", "-1", "content"))[0] == 400
    code, message = await refused(
        jp_fetch, "strict", "versions", vid, "content", params={"format": "pdf"}
    )
    assert code == 400 and "pdf" in message
    for body in (
        "",
        "{}",
        '{"name": ""}',
        '{"name": 3}',
        "not json",
        json.dumps({"name": "x" * 201}),
    ):
        assert (await refused(jp_fetch, "strict", "versions", body=body, **post))[0] == 400, body
    assert (await refused(jp_fetch, "strict", "versions", "999999", "restore", body="", **post))[
        0
    ] == 404
    with pytest.raises(VersionNotFound):
        await asyncio.to_thread(doc.version_content, 999999)
    with pytest.raises(ValueError):
        await asyncio.to_thread(doc.version_content, version["id"], "pdf")
    with pytest.raises(ValueError):
        await asyncio.to_thread(doc.save_version, "")
