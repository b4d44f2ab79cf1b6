"""``jupyter ysync``: against a live server's REST API and against a stopped server's store.

The CLI runs as a process (``python -m jupyter_ysync.cli``), as a script would run it: what
is checked is its exit code, its stdout and its stderr.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import urllib.request
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from jupyter_ysync import connect
from jupyter_ysync.cli import ExitCode, build_parser, main
from tests.servers import ServerProcess, free_port, room_info
from tests.waiting import wait_until

pytestmark = [pytest.mark.slow, pytest.mark.timeout(180)]

COMMANDS = ("rooms", "export", "import", "versions", "restore", "compact", "delete")

NOTES_MD = "# Plan\n\nShip the **CLI** on Friday.\n"


@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[ServerProcess]:
    """One live server for the tests that only need its REST API (each uses its own rooms)."""
    process = ServerProcess(tmp_path_factory.mktemp("cli-server")).start()
    yield process
    process.stop()


def cli_env(tmp: Path, **extra: str) -> dict[str, str]:
    """An environment that finds no server by itself: no ysync variables, no runtime files."""
    env = dict(os.environ, JUPYTER_RUNTIME_DIR=str(tmp / "runtime"))
    env.pop("JUPYTER_YSYNC_URL", None)
    env.pop("JUPYTER_YSYNC_TOKEN", None)
    env.update(extra)
    env.setdefault("JUPYTER_CONFIG_DIR", str(tmp / "config"))
    env.setdefault("JUPYTER_DATA_DIR", str(tmp / "data"))
    return env


def run(
    *args: str, tmp: Path, env: dict[str, str] | None = None, stdin: bytes | None = None
) -> subprocess.CompletedProcess[bytes]:
    return subprocess.run(
        [sys.executable, "-m", "jupyter_ysync.cli", *args],
        env=env or cli_env(tmp),
        input=stdin if stdin is not None else b"",
        capture_output=True,
        timeout=120,
    )


def live(server: ServerProcess, *args: str, tmp: Path, **kwargs: Any) -> Any:
    return run("--url", server.http_url, "--token", server.token, *args, tmp=tmp, **kwargs)


def stored(store: Path, *args: str, tmp: Path) -> subprocess.CompletedProcess[bytes]:
    return run("--store", str(store), *args, tmp=tmp)


def rest(server: ServerProcess, method: str, path: str, body: Any = None) -> Any:
    request = urllib.request.Request(
        server.http_url + path,
        data=None if body is None else json.dumps(body).encode(),
        method=method,
        headers={"Authorization": f"token {server.token}", "Content-Type": "application/json"},
    )
    with urllib.request.urlopen(request, timeout=10) as response:
        return json.load(response)


# -- usage ------------------------------------------------------------------------------------


@pytest.mark.parametrize("command", [None, *COMMANDS])
def test_every_command_has_help_that_names_the_exit_codes(command, capsys):
    with pytest.raises(SystemExit) as done:
        main([command, "--help"] if command else ["--help"])
    assert done.value.code == 0
    out = capsys.readouterr().out
    assert out.startswith("usage: jupyter ysync")
    assert "exit codes: 0 done, 1 failed, 2 usage, 3 not found" in out
    assert "--store" in out and "--offline" in out and "--url" in out


@pytest.mark.parametrize(
    "argv",
    [
        [],
        ["frobnicate"],
        ["export"],
        ["export", "notes", "--format", "docx"],
        ["import", "notes"],
        ["export", "bad name!"],
    ],
)
def test_usage_errors_exit_2_with_a_message_on_stderr(argv, capsys):
    with pytest.raises(SystemExit) as done:
        main(argv)
    assert done.value.code == ExitCode.USAGE
    captured = capsys.readouterr()
    assert captured.out == ""
    assert "error:" in captured.err


def test_import_of_a_file_whose_format_cannot_be_told_is_a_usage_error(tmp_path, server):
    (tmp_path / "notes.docx").write_bytes(b"?")
    done = live(server, "import", "cli-usage", str(tmp_path / "notes.docx"), tmp=tmp_path)
    assert done.returncode == ExitCode.USAGE
    assert b"pass --format" in done.stderr


def test_delete_without_yes_is_refused_when_no_one_can_confirm(tmp_path, server):
    done = live(server, "delete", "anything", tmp=tmp_path)
    assert done.returncode == ExitCode.USAGE
    assert b"pass --yes" in done.stderr


def test_the_package_declares_the_jupyter_subcommand():
    """`jupyter ysync` runs the `jupyter-ysync` script, which calls main()."""
    tomllib = pytest.importorskip("tomllib")
    pyproject = tomllib.loads((Path(__file__).parents[1] / "pyproject.toml").read_text())
    assert pyproject["project"]["scripts"]["jupyter-ysync"] == "jupyter_ysync.cli:main"
    assert build_parser().prog == "jupyter ysync"


# -- a live server ----------------------------------------------------------------------------


def test_import_then_export_every_format_through_a_live_server(tmp_path, server):
    (tmp_path / "plan.md").write_text(NOTES_MD)
    done = live(server, "import", "cli-formats", str(tmp_path / "plan.md"), tmp=tmp_path)
    assert done.returncode == 0, done.stderr
    assert b"updated" in done.stderr

    def export(fmt: str) -> bytes:
        done = live(server, "export", "cli-formats", "--format", fmt, tmp=tmp_path)
        assert done.returncode == 0, done.stderr
        return done.stdout

    assert export("md").decode() == NOTES_MD
    assert export("html").decode() == "<h1>Plan</h1><p>Ship the <strong>CLI</strong> on Friday.</p>"
    assert export("text").decode() == "Plan\nShip the CLI on Friday.\n"
    assert {"insert": "CLI", "attributes": {"bold": True}} in json.loads(export("delta"))
    # A room's Yjs state, imported whole into another room, holds the same document.
    done = live(
        server, "export", "cli-formats", "-f", "yjs", "-o", str(tmp_path / "s.yjs"), tmp=tmp_path
    )
    assert done.returncode == 0 and (tmp_path / "s.yjs").stat().st_size > 0
    done = live(server, "import", "cli-formats-copy", str(tmp_path / "s.yjs"), tmp=tmp_path)
    assert done.returncode == 0, done.stderr
    assert live(server, "export", "cli-formats-copy", tmp=tmp_path).stdout.decode() == NOTES_MD


def test_import_is_merged_as_a_diff_and_the_same_content_changes_nothing(tmp_path, server):
    doc = connect("cli-merge", url=server.http_url, token=server.token)
    try:
        doc.text.insert(0, "Intro\nBody\n")
        wait_until(lambda: (room_info(server, "cli-merge") or {}).get("updates"), what="stored")
        (tmp_path / "new.txt").write_text("Intro\nBody, edited\n")
        done = live(server, "import", "cli-merge", str(tmp_path / "new.txt"), tmp=tmp_path)
        assert done.returncode == 0, done.stderr
        # The peer sees an edit, not a reload: the text it had is still the same items.
        wait_until(lambda: str(doc.text) == "Intro\nBody, edited\n", what="the import")
        same = live(
            server,
            "import",
            "cli-merge",
            "-",
            "-f",
            "text",
            tmp=tmp_path,
            stdin=b"Intro\nBody, edited\n",
        )
        assert same.returncode == 0, same.stderr
        assert b"unchanged" in same.stderr
    finally:
        doc.close()


def test_rooms_are_listed_as_a_table_and_as_json(tmp_path, server):
    (tmp_path / "a.md").write_text("A\n")
    assert (
        live(server, "import", "cli-listed", str(tmp_path / "a.md"), tmp=tmp_path).returncode == 0
    )
    table = live(server, "rooms", tmp=tmp_path)
    assert table.returncode == 0
    lines = table.stdout.decode().splitlines()
    assert lines[0].split()[:3] == ["NAME", "LOADED", "PEERS"]
    assert any(line.startswith("cli-listed ") for line in lines[1:])
    listed = json.loads(live(server, "rooms", "--json", tmp=tmp_path).stdout)
    room = next(room for room in listed if room["name"] == "cli-listed")
    assert set(room) == {"name", "loaded", "peers", "size", "updates", "last_modified"}


def test_compact_merges_a_live_rooms_log_into_one_update(tmp_path, server):
    doc = connect("cli-compact", url=server.http_url, token=server.token)
    try:
        for rows, word in enumerate(("one ", "two ", "three "), start=1):
            doc.text.insert(len(doc.text), word)
            wait_until(lambda n=rows: (room_info(server, "cli-compact") or {}).get("updates") == n)
        done = live(server, "compact", "cli-compact", tmp=tmp_path)
        assert done.returncode == 0, done.stderr
        assert b"1 stored update" in done.stderr
        assert room_info(server, "cli-compact")["updates"] == 1
        doc.text.insert(0, "zero ")  # the room goes on after its log was replaced
        wait_until(lambda: room_info(server, "cli-compact")["updates"] == 2)
        exported = live(server, "export", "cli-compact", "-f", "text", tmp=tmp_path).stdout
        assert exported.decode() == str(doc.text) == "zero one two three "
    finally:
        doc.close()


def test_versions_are_listed_and_restored_through_a_live_server(tmp_path, server):
    (tmp_path / "v1.md").write_text("First draft\n")
    (tmp_path / "v2.md").write_text("Second draft\n")
    assert (
        live(server, "import", "cli-versions", str(tmp_path / "v1.md"), tmp=tmp_path).returncode
        == 0
    )
    saved = rest(server, "POST", "ysync/rooms/cli-versions/versions", {"name": "draft one"})
    assert (
        live(server, "import", "cli-versions", str(tmp_path / "v2.md"), tmp=tmp_path).returncode
        == 0
    )

    listed = json.loads(live(server, "versions", "cli-versions", "--json", tmp=tmp_path).stdout)
    assert saved["id"] in [version["id"] for version in listed]
    table = live(server, "versions", "cli-versions", tmp=tmp_path).stdout.decode()
    assert "draft one" in table

    done = live(server, "restore", "cli-versions", str(saved["id"]), tmp=tmp_path)
    assert done.returncode == 0, done.stderr
    assert live(server, "export", "cli-versions", tmp=tmp_path).stdout == b"First draft\n"
    missing = live(server, "restore", "cli-versions", "999999", tmp=tmp_path)
    assert missing.returncode == ExitCode.NOT_FOUND


def test_delete_removes_the_room_and_a_second_delete_is_not_found(tmp_path, server):
    (tmp_path / "a.md").write_text("Doomed\n")
    assert (
        live(server, "import", "cli-delete", str(tmp_path / "a.md"), tmp=tmp_path).returncode == 0
    )
    done = live(server, "delete", "cli-delete", "--yes", tmp=tmp_path)
    assert done.returncode == 0, done.stderr
    assert room_info(server, "cli-delete") is None
    again = live(server, "delete", "cli-delete", "--yes", tmp=tmp_path)
    assert again.returncode == ExitCode.NOT_FOUND
    assert b"No room named 'cli-delete'" in again.stderr


@pytest.mark.parametrize(
    "args",
    [
        ("export", "cli-never"),
        ("export", "cli-never", "-f", "yjs"),
        ("compact", "cli-never"),
        ("versions", "cli-never"),
    ],
)
def test_an_unknown_room_exits_3_and_is_not_created(tmp_path, server, args):
    done = live(server, *args, tmp=tmp_path)
    assert done.returncode == ExitCode.NOT_FOUND, done.stderr
    assert done.stdout == b""
    assert room_info(server, "cli-never") is None


def test_a_refused_credential_exits_4(tmp_path, server):
    done = run("--url", server.http_url, "--token", "wrong", "rooms", tmp=tmp_path)
    assert done.returncode == ExitCode.AUTH
    assert b"401" in done.stderr


def test_no_server_exits_5_and_says_how_to_name_one(tmp_path):
    unreachable = run("--url", f"http://127.0.0.1:{free_port()}/", "rooms", tmp=tmp_path)
    assert unreachable.returncode == ExitCode.UNREACHABLE
    assert b"Could not reach" in unreachable.stderr
    none_found = run("rooms", tmp=tmp_path)
    assert none_found.returncode == ExitCode.UNREACHABLE
    assert b"--offline" in none_found.stderr


def test_the_server_is_found_like_connect_finds_it(tmp_path, server):
    env = cli_env(tmp_path, JUPYTER_YSYNC_URL=server.ws_url, JUPYTER_YSYNC_TOKEN=server.token)
    done = run("rooms", "--json", tmp=tmp_path, env=env)
    assert done.returncode == 0, done.stderr
    assert isinstance(json.loads(done.stdout), list)


# -- a stopped server's store -----------------------------------------------------------------


def test_a_store_a_running_server_holds_is_refused_with_exit_6(tmp_path, server):
    done = stored(server.store_path, "rooms", tmp=tmp_path)
    assert done.returncode == ExitCode.STORE_BUSY
    assert b"running Jupyter server is using the room store" in done.stderr


def test_a_missing_store_exits_3(tmp_path):
    done = stored(tmp_path / "nowhere.sqlite", "rooms", tmp=tmp_path)
    assert done.returncode == ExitCode.NOT_FOUND
    assert b"No room store at" in done.stderr
    assert not (tmp_path / "nowhere.sqlite").exists()


def test_a_stopped_servers_store_is_read_and_changed_and_the_server_serves_the_result(tmp_path):
    server = ServerProcess(tmp_path / "server").start()
    try:
        (tmp_path / "v1.md").write_text(NOTES_MD)
        assert (
            live(server, "import", "notes", str(tmp_path / "v1.md"), tmp=tmp_path).returncode == 0
        )
        saved = rest(server, "POST", "ysync/rooms/notes/versions", {"name": "before"})
        (tmp_path / "x.md").write_text("Scratch\n")
        assert (
            live(server, "import", "scratch", str(tmp_path / "x.md"), tmp=tmp_path).returncode == 0
        )
    finally:
        server.stop()
    store = server.store_path

    listed = json.loads(stored(store, "rooms", "--json", tmp=tmp_path).stdout)
    assert [room["name"] for room in listed] == ["notes", "scratch"]
    assert not any(room["loaded"] for room in listed)
    assert stored(store, "export", "notes", tmp=tmp_path).stdout.decode() == NOTES_MD

    (tmp_path / "v2.md").write_text("# Plan\n\nShip it **now**.\n")
    done = stored(store, "import", "notes", str(tmp_path / "v2.md"), tmp=tmp_path)
    assert done.returncode == 0, done.stderr
    assert stored(store, "export", "notes", tmp=tmp_path).stdout == b"# Plan\n\nShip it **now**.\n"
    versions = json.loads(stored(store, "versions", "notes", "--json", tmp=tmp_path).stdout)
    assert [v["name"] for v in versions if v["id"] == saved["id"]] == ["before"]
    done = stored(store, "compact", "notes", tmp=tmp_path)
    assert done.returncode == 0 and b"1 stored update" in done.stderr
    done = stored(store, "restore", "notes", str(saved["id"]), tmp=tmp_path)
    assert done.returncode == 0, done.stderr
    assert stored(store, "delete", "scratch", "--yes", tmp=tmp_path).returncode == 0
    assert stored(store, "export", "scratch", tmp=tmp_path).returncode == ExitCode.NOT_FOUND

    server.start()  # the restarted server serves what the CLI left in its store
    try:
        assert live(server, "export", "notes", tmp=tmp_path).stdout.decode() == NOTES_MD
        assert room_info(server, "scratch") is None
    finally:
        server.stop()


def test_offline_without_a_path_opens_the_configured_store(tmp_path):
    server = ServerProcess(tmp_path / "server").start()
    try:
        (tmp_path / "a.md").write_text("Configured\n")
        assert (
            live(server, "import", "configured", str(tmp_path / "a.md"), tmp=tmp_path).returncode
            == 0
        )
    finally:
        server.stop()
    config = tmp_path / "config"
    config.mkdir()
    (config / "jupyter_server_config.json").write_text(
        json.dumps({"YSyncApp": {"store_path": str(server.store_path)}})
    )
    done = run("--offline", "rooms", "--json", tmp=tmp_path, env=cli_env(tmp_path))
    assert done.returncode == 0, done.stderr
    assert [room["name"] for room in json.loads(done.stdout)] == ["configured"]
