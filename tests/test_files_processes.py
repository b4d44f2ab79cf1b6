"""File rooms across server processes: restarts that lose the store, two servers on one folder."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from jupyter_ysync import connect
from tests.servers import ServerProcess
from tests.waiting import wait_until

FAST_SAVES = ("--YSyncApp.save_delay=0.1", "--YSyncApp.file_poll_interval=0.2")


@pytest.fixture
def notebooks(tmp_path: Path) -> Path:
    path = tmp_path / "shared-notebooks"
    path.mkdir()
    (path / "report.md").write_text("# Report\n\nWritten before anyone opened it.\n")
    return path


@pytest.fixture
def server(tmp_path: Path, notebooks: Path) -> Iterator[ServerProcess]:
    process = ServerProcess(tmp_path / "a", notebook_dir=notebooks, extra=FAST_SAVES).start()
    yield process
    process.stop()


def test_a_restart_that_lost_the_store_duplicates_nothing(server, notebooks):
    """The room is edited and saved many times, then the server restarts without its store
    while a peer stays open (and keeps typing offline): its history is adopted, not doubled."""
    report = notebooks / "report.md"
    with connect(path="report.md", url=server.http_url, token=server.token) as doc:
        for word in ("one", "two", "three"):
            doc.text.insert(len(doc.text) - 1, f"\nSaved {word}.")
            wait_until(lambda word=word: f"Saved {word}." in report.read_text(), 10)
        server.kill()
        for suffix in ("", "-wal", "-shm"):
            Path(f"{server.store_path}{suffix}").unlink(missing_ok=True)
        doc.text.insert(len(doc.text) - 1, "\nTyped while the server was down.")
        server.start()
        wait_until(lambda: "Typed while the server was down." in report.read_text(), 20)
        expected = str(doc.text)
    assert expected.count("Written before anyone opened it.") == 1
    assert expected.count("Saved one.") == 1
    with connect(path="report.md", url=server.http_url, token=server.token) as fresh:
        assert str(fresh.text) == expected
    saved = report.read_text()
    for line in ("Written before", "Saved one.", "Saved three.", "Typed while the server"):
        assert saved.count(line) == 1


def test_two_servers_reconcile_the_same_outside_edit_identically(tmp_path, notebooks):
    """Two servers on one folder (one file id index, two stores) import the file and merge the
    same outside edit as the same system peer: byte-identical documents."""
    ids = ("--BaseFileIdManager.db_path=" + str(tmp_path / "file_ids.db"),)
    servers = [
        ServerProcess(tmp_path / name, notebook_dir=notebooks, extra=FAST_SAVES + ids).start()
        for name in ("a", "b")
    ]
    try:
        docs = [connect(path="report.md", url=s.http_url, token=s.token) for s in servers]
        try:
            assert docs[0].room == docs[1].room
            assert docs[0].ydoc.get_state() == docs[1].ydoc.get_state()
            with (notebooks / "report.md").open("a") as file:
                file.write("\nAppended by a script.\n")
            for doc in docs:
                wait_until(lambda doc=doc: "Appended by a script." in str(doc.text), 20)
            states = [doc.ydoc.get_state() for doc in docs]
            assert states[0] == states[1]
            assert docs[0].ydoc.get_update() == docs[1].ydoc.get_update()
            assert str(docs[0].text).count("Appended by a script.") == 1
        finally:
            for doc in docs:
                doc.close()
    finally:
        for s in servers:
            s.stop()


def test_the_embedded_history_travels_with_the_file_to_another_server(tmp_path):
    """With embed_state, a file saved on one server carries its history: another server (a
    copy, a git clone) continues that history, merging what was edited in the file meanwhile."""
    embed = ("--YSyncApp.embed_state=True",)
    first = ServerProcess(tmp_path / "a", extra=FAST_SAVES + embed).start()
    second = ServerProcess(tmp_path / "b", extra=FAST_SAVES + embed).start()
    try:
        source = first.notebook_dir / "travel.md"
        source.write_text("# Travel\n\nWritten first.\n")
        with connect(path="travel.md", url=first.http_url, token=first.token) as doc:
            doc.text.insert(len(doc.text) - 1, "\nTyped on the first server.")
            wait_until(lambda: "<!-- ysync version" in source.read_text(), 10)
            history = doc.ydoc.get_update()
        saved = source.read_text()
        visible, comment = saved.split("\n\n<!-- ysync ", 1)
        assert visible == "# Travel\n\nWritten first.\n\nTyped on the first server."
        # Copied elsewhere, and edited there by a tool that knows nothing of Yjs.
        copy = second.notebook_dir / "travel.md"
        copy.write_text(visible + "\n\nAdded in the copy.\n\n<!-- ysync " + comment)
        with connect(path="travel.md", url=second.http_url, token=second.token) as other:
            text = str(other.text)
            assert text.count("Written first.") == 1 and "Added in the copy." in text
            before = other.ydoc.get_state()
            other.ydoc.apply_update(history)  # the first server's history is already in it
            assert other.ydoc.get_state() == before
            assert str(other.text) == text

        tampered = second.notebook_dir / "tampered.md"
        tampered.write_text(saved.replace('state="', 'state="AAAA', 1))
        with connect(path="tampered.md", url=second.http_url, token=second.token) as doc:
            assert str(doc.text) == "Travel\nWritten first.\nTyped on the first server.\n"
        assert "does not match its sha256" in second.log_path.read_text()
    finally:
        first.stop()
        second.stop()
