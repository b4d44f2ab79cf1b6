"""Files as shared documents, against a real jupyter_server, real files and real peers."""

from __future__ import annotations

import asyncio
import json
from pathlib import Path
from typing import Any

import pytest
from tornado.httpclient import HTTPClientError
from traitlets.config import Config

from jupyter_ysync.protocol import CloseCode
from jupyter_ysync.richtext.lossless import parse
from jupyter_ysync.server.system_peer import system_client_id, system_update
from tests.raw_peer import RawPeer
from tests.waiting import eventually

REPORT = "# Report\n\nFirst paragraph.\n\nSecond paragraph.\n"


@pytest.fixture
def jp_server_config(jp_server_config: Config) -> Config:
    jp_server_config.YSyncApp.save_delay = 0.1
    jp_server_config.YSyncApp.max_save_delay = 1.0
    jp_server_config.YSyncApp.file_poll_interval = 0.2
    jp_server_config.YSyncApp.max_file_size = 64 * 1024
    return jp_server_config


@pytest.fixture
def report(jp_root_dir: Path) -> Path:
    path = jp_root_dir / "notes" / "report.md"
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(REPORT)
    return path


async def open_file(jp_fetch: Any, path: str) -> dict[str, Any]:
    response = await jp_fetch("ysync", "files", *path.split("/"))
    return dict(json.loads(response.body))


async def refused(jp_fetch: Any, *parts: str, **kwargs: Any) -> tuple[int, str]:
    with pytest.raises(HTTPClientError) as caught:
        await jp_fetch(*parts, **kwargs)
    response = caught.value.response
    assert response is not None
    return caught.value.code, json.loads(response.body)["message"]


# -- opening -------------------------------------------------------------------------------


async def test_a_file_opens_as_the_room_named_by_its_file_id(jp_fetch, report, ysync_connect):
    info = await open_file(jp_fetch, "notes/report.md")
    ids = await jp_fetch("api", "fileid", "id", params={"path": "notes/report.md"})
    file_id = json.loads(ids.body)["id"]
    assert info["room"] == f"file:{file_id}"
    assert (info["path"], info["format"], info["writable"]) == ("notes/report.md", "markdown", True)

    doc = await ysync_connect(path="notes/report.md")
    assert doc.room == info["room"]
    assert doc.text.delta[:2] == [
        {"insert": "Report"},
        {"insert": "\n", "attributes": {"header": 1}},
    ]
    assert doc.text.to_markdown() == REPORT


async def test_importing_the_same_content_gives_byte_identical_updates():
    ops = parse(REPORT, "markdown").ops
    client = system_client_id("file:abc", b"", REPORT)
    assert client < 2**32
    first = system_update(b"", ops, client).update
    assert system_update(b"", ops, system_client_id("file:abc", b"", REPORT)).update == first
    other = system_client_id("file:abc", b"", REPORT + "more\n")
    assert other != client  # a function of the content as well as of the file


async def test_the_first_open_imports_once_however_many_peers_join(jp_fetch, report, ysync_connect):
    peers = await asyncio.gather(*(ysync_connect(path="notes/report.md") for _ in range(3)))
    for peer in peers:
        assert peer.text.to_markdown() == REPORT
    assert report.read_text() == REPORT  # opening writes nothing


# -- saving --------------------------------------------------------------------------------


async def test_edits_are_saved_to_the_file_as_markdown(report, ysync_connect):
    doc = await ysync_connect(path="notes/report.md")
    doc.text.insert(len("Report\n"), "Added by a peer.\n")
    await eventually(lambda: "Added by a peer." in report.read_text(), what="the save")
    assert report.read_text() == (
        "# Report\n\nAdded by a peer.\n\nFirst paragraph.\n\nSecond paragraph.\n"
    )


async def test_a_save_with_nothing_changed_does_not_touch_the_file(jp_fetch, report, ysync_connect):
    doc = await ysync_connect(path="notes/report.md")
    stamp = report.stat().st_mtime_ns
    saved = await jp_fetch("ysync", "rooms", doc.room, "save", method="POST", body=b"")
    assert json.loads(saved.body)["dirty"] is False
    assert report.stat().st_mtime_ns == stamp


async def test_what_the_editor_cannot_show_survives_byte_for_byte(jp_root_dir, ysync_connect):
    source = (
        "---\ntitle: Kept\n---\n\n# Title\n\n| a | b |\n|---|---|\n| 1 | 2 |\n\n"
        "Text with a footnote[^1].\n\n[^1]: The note.\n\n<div align=center>raw</div>\n"
    )
    (jp_root_dir / "rich.md").write_text(source)
    doc = await ysync_connect(path="rich.md")
    doc.text.insert(len(doc.text) - 1, " More.")  # edit the last line
    await eventually(lambda: "More." in (jp_root_dir / "rich.md").read_text())
    saved = (jp_root_dir / "rich.md").read_text()
    assert saved.startswith("---\ntitle: Kept\n---\n\n# Title\n\n| a | b |\n|---|---|\n| 1 | 2 |\n")
    assert "[^1]: The note." in saved


# -- outside edits -------------------------------------------------------------------------


async def test_an_outside_append_and_concurrent_typing_both_appear_once(report, ysync_connect):
    doc = await ysync_connect(path="notes/report.md")
    doc.text.insert(len("Report\n"), "Typed in the room.\n")
    with report.open("a") as file:  # another process appends, unaware of the room
        file.write("\nAppended on disk.\n")
    await eventually(
        lambda: "Appended on disk." in str(doc.text) and "Typed in the room." in str(doc.text),
        what="both edits in the room",
    )
    await eventually(lambda: "Typed in the room." in report.read_text(), what="the merge saved")
    text = str(doc.text)
    assert text.count("Appended on disk.") == 1 and text.count("Typed in the room.") == 1
    on_disk = report.read_text()
    assert on_disk.count("Appended on disk.") == 1 and on_disk.count("Typed in the room.") == 1


class TestUnsavedEdits:
    """An outside edit made while the room has unsaved changes (a longer save delay)."""

    @pytest.fixture
    def jp_server_config(self, jp_server_config: Config) -> Config:
        jp_server_config.YSyncApp.save_delay = 3.0
        jp_server_config.YSyncApp.max_save_delay = 10.0
        return jp_server_config

    async def test_the_same_words_changed_on_both_sides_are_kept_side_by_side(
        self, report, ysync_connect
    ):
        doc = await ysync_connect(path="notes/report.md")
        start = str(doc.text).index("First")
        with doc.transaction():
            doc.text.delete(start, len("First"))
            doc.text.insert(start, "Typed")
        await asyncio.sleep(0.2)  # the room has it, unsaved
        report.write_text(REPORT.replace("First", "Disk"))
        await eventually(lambda: "Disk" in str(doc.text), what="the outside edit")
        line = str(doc.text).splitlines()[1]
        assert "Typed" in line and "Disk" in line and "First" not in line
        await eventually(lambda: "Typed" in report.read_text(), what="the merge saved")
        assert "Disk" in report.read_text()

    async def test_a_paragraph_changed_on_disk_and_another_typed_both_survive(
        self, report, ysync_connect
    ):
        doc = await ysync_connect(path="notes/report.md")
        doc.text.insert(str(doc.text).index("Second") + len("Second"), " (typed)")
        await asyncio.sleep(0.2)
        report.write_text(REPORT.replace("First paragraph.", "First paragraph, edited on disk."))
        await eventually(lambda: "edited on disk" in str(doc.text), what="the outside edit")
        assert "Second (typed) paragraph." in str(doc.text)
        await eventually(lambda: "(typed)" in report.read_text(), what="the merge saved")
        assert "First paragraph, edited on disk." in report.read_text()


async def test_an_outside_write_through_the_contents_api_is_merged(jp_fetch, report, ysync_connect):
    doc = await ysync_connect(path="notes/report.md")
    doc.text.insert(len("Report\n"), "Typed meanwhile.\n")
    body = {"type": "file", "format": "text", "content": REPORT + "\nFrom the API.\n"}
    await jp_fetch("api", "contents", "notes", "report.md", method="PUT", body=json.dumps(body))
    await eventually(lambda: "From the API." in str(doc.text), what="the API write merged")
    assert "Typed meanwhile." in str(doc.text)


async def test_a_deleted_file_closes_its_peers_with_4410(jp_fetch, report, ysync_ws_url):
    info = await open_file(jp_fetch, "notes/report.md")
    peer = await RawPeer(ysync_ws_url(info["room"])).connect()
    await asyncio.wait_for(peer.synced.wait(), 10)
    report.unlink()
    await asyncio.wait_for(peer.closed.wait(), 10)
    assert peer.close_code == CloseCode.FILE_GONE
    assert "notes/report.md was deleted" in peer.close_reason


async def test_a_file_made_invalid_outside_leaves_the_room_untouched(report, ysync_connect):
    doc = await ysync_connect(path="notes/report.md")
    report.write_bytes(b"\xff\xfe not utf-8")
    await asyncio.sleep(1.0)  # several polls and the inotify event
    assert doc.text.to_markdown() == REPORT
    report.write_text(REPORT + "\nValid again.\n")
    await eventually(lambda: "Valid again." in str(doc.text), what="the file valid again")


async def test_a_rename_keeps_the_room_and_its_history(jp_fetch, report, ysync_connect):
    doc = await ysync_connect(path="notes/report.md")
    doc.text.insert(0, "Kept ")
    await eventually(lambda: report.read_text().startswith("# Kept Report"))
    body = json.dumps({"path": "notes/renamed.md"})
    await jp_fetch("api", "contents", "notes", "report.md", method="PATCH", body=body)
    info = await open_file(jp_fetch, "notes/renamed.md")
    assert info["room"] == doc.room
    doc.text.insert(0, "Still ")
    renamed = report.parent / "renamed.md"
    await eventually(lambda: renamed.read_text().startswith("# Still Kept Report"))


# -- legacy writes -------------------------------------------------------------------------


async def test_a_legacy_put_keeps_what_was_typed_since_its_read(jp_fetch, report, ysync_connect):
    doc = await ysync_connect(path="notes/report.md")
    read = await jp_fetch("ysync", "rooms", doc.room, "content", params={"format": "markdown"})
    assert json.loads(read.body)["markdown"] == REPORT
    typed = "Typed concurrently."
    doc.text.insert(len(doc.text) - 1, "\n" + typed)  # after the tool read the content
    await eventually(lambda: typed in report.read_text())
    body = REPORT.replace("Second paragraph.", "Second paragraph, rewritten.").encode()
    response = await jp_fetch(
        "ysync",
        "rooms",
        doc.room,
        "content",
        method="PUT",
        body=body,
        params={"format": "markdown"},
        headers={"If-Match": read.headers["ETag"]},
    )
    assert json.loads(response.body)["changed"] > 0
    await eventually(lambda: "rewritten" in str(doc.text))
    assert "Typed concurrently." in str(doc.text)
    await eventually(lambda: "rewritten" in report.read_text(), what="the write saved")


async def test_a_legacy_put_without_if_match_replaces_the_content(jp_fetch, ysync_connect):
    doc = await ysync_connect("legacy-replace")
    doc.text.insert(0, "old line\nkept line\n")
    await asyncio.sleep(0.1)
    await jp_fetch(
        "ysync", "rooms", "legacy-replace", "content", method="PUT", body=b"new line\nkept line\n"
    )
    await eventually(lambda: str(doc.text) == "new line\nkept line\n")


async def test_a_put_with_an_unknown_etag_is_refused_with_412(jp_fetch, ysync_connect):
    await ysync_connect("legacy-412")
    code, message = await refused(
        jp_fetch,
        "ysync",
        "rooms",
        "legacy-412",
        "content",
        method="PUT",
        body=b"x",
        headers={"If-Match": '"0123"'},
    )
    assert code == 412 and "GET the content again" in message


@pytest.mark.parametrize(
    ("fmt", "body", "expected"),
    [
        ("text", b"\xff\xfe", "not UTF-8"),
        ("delta", b"{not json", "not JSON"),
        ("delta", b'[{"insert": 5}]', ""),
        ("nonsense", b"x", "use one of"),
    ],
)
async def test_a_bad_legacy_put_is_refused_and_changes_nothing(
    jp_fetch, ysync_connect, fmt, body, expected
):
    doc = await ysync_connect("legacy")
    doc.text.insert(0, "kept\n")
    await asyncio.sleep(0.1)
    code, message = await refused(
        jp_fetch,
        "ysync",
        "rooms",
        "legacy",
        "content",
        method="PUT",
        body=body,
        params={"format": fmt},
    )
    assert code == 400 and expected in message
    assert str(doc.text) == "kept\n"


# -- bad files -----------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("name", "content", "status", "expected"),
    [
        ("missing.md", None, 404, "No file"),
        ("latin1.md", b"caf\xe9\n", 415, "not UTF-8"),
        ("binary.md", b"a\x00b\n", 415, "binary"),
        ("big.md", b"x" * (65 * 1024), 413, "max_file_size"),
        ("script.py", b"print(1)\n", 415, "not a Markdown or HTML file"),
    ],
)
async def test_a_file_that_cannot_be_shared_is_refused_clearly(
    jp_fetch, jp_root_dir, name, content, status, expected
):
    if content is not None:
        (jp_root_dir / name).write_bytes(content)
    code, message = await refused(jp_fetch, "ysync", "files", name)
    assert code == status
    assert expected in message


async def test_a_file_route_needs_a_credential(jp_fetch, report):
    code, _ = await refused(
        jp_fetch, "ysync", "files", "notes", "report.md", headers={"Authorization": ""}
    )
    assert code in (401, 403)


async def test_a_path_is_url_encoded_like_the_contents_api(jp_fetch, jp_root_dir):
    (jp_root_dir / "a dir").mkdir()
    (jp_root_dir / "a dir" / "é notes.md").write_text("Hi\n")
    response = await jp_fetch("ysync", "files", "a dir", "é notes.md")
    info = json.loads(response.body)
    assert info["path"] == "a dir/é notes.md"


async def test_the_editor_widget_and_set_markdown_work_on_a_file(report, ysync_connect, ysync_app):
    """Editor(path=...) joins the file's room; set_markdown from Python is merged as a diff."""
    from jupyter_ysync import Editor

    watcher = await ysync_connect(path="notes/report.md")
    url = f"http://127.0.0.1:{ysync_app.serverapp.port}{ysync_app.serverapp.base_url}"
    token = ysync_app.serverapp.identity_provider.token

    def make_editor() -> Editor:
        import os

        os.environ["JUPYTER_YSYNC_URL"], os.environ["JUPYTER_YSYNC_TOKEN"] = url, token
        try:
            return Editor(path="notes/report.md")
        finally:
            del os.environ["JUPYTER_YSYNC_URL"], os.environ["JUPYTER_YSYNC_TOKEN"]

    editor = await asyncio.to_thread(make_editor)
    try:
        assert editor.room == watcher.room
        assert editor.doc.file is not None and editor.doc.file["path"] == "notes/report.md"
        watcher.text.insert(0, "Kept ")  # concurrent, in a block set_markdown leaves alone
        await eventually(lambda: str(editor.text).startswith("Kept "))
        editor.text.set_markdown(editor.text.to_markdown().replace("First", "Replaced"))
        await eventually(lambda: "Replaced paragraph." in report.read_text())
        assert report.read_text().startswith("# Kept Report")
        assert len(editor.doc.peers) == 2  # the server's file status is not a person
    finally:
        await asyncio.to_thread(editor.close)


async def test_a_windows_file_keeps_its_line_endings(jp_root_dir, ysync_connect):
    path = jp_root_dir / "crlf.md"
    path.write_bytes(b"# Title\r\n\r\nFirst line.\r\n\r\nSecond line.\r\n")
    doc = await ysync_connect(path="crlf.md")
    doc.text.insert(str(doc.text).index("Second"), "New ")
    await eventually(lambda: b"New Second" in path.read_bytes(), what="the save")
    assert path.read_bytes() == b"# Title\r\n\r\nFirst line.\r\n\r\nNew Second line.\r\n"
