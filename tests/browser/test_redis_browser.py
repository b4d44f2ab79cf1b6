"""One room across two servers on Redis, with a browser: a Python peer on server A and
JupyterLab (server B) see each other's edits and carets."""

from __future__ import annotations

import json
from collections.abc import Callable, Iterator
from typing import Any

import pytest

from jupyter_ysync import connect
from tests.browser.conftest import Lab, LabServer, room_editor
from tests.redis_server import RedisProcess, running_redis
from tests.servers import ServerProcess
from tests.waiting import wait_until

pytestmark = [pytest.mark.browser, pytest.mark.slow]


@pytest.fixture(scope="module")
def redis(tmp_path_factory: pytest.TempPathFactory) -> Iterator[RedisProcess]:
    with running_redis(tmp_path_factory.mktemp("redis")) as process:
        yield process


@pytest.fixture(scope="module")
def lab_server(
    tmp_path_factory: pytest.TempPathFactory, redis: RedisProcess
) -> Iterator[LabServer]:
    """Server B: JupyterLab, its rooms shared through ``redis`` (overrides the package's)."""
    server = LabServer(tmp_path_factory.mktemp("lab-on-redis"))
    config = server.base / "config"
    config.mkdir(parents=True, exist_ok=True)
    (config / "jupyter_server_config.json").write_text(
        json.dumps({"YSyncApp": {"redis_url": redis.url, "redis_server_ttl": 1.5}})
    )
    try:
        server.start()
        yield server
    finally:
        server.stop()


@pytest.fixture(scope="module")
def server_a(
    tmp_path_factory: pytest.TempPathFactory, redis: RedisProcess
) -> Iterator[ServerProcess]:
    """Server A: a plain jupyter server on the same Redis."""
    server = ServerProcess(
        tmp_path_factory.mktemp("server-a"),
        extra=(f"--YSyncApp.redis_url={redis.url}", "--YSyncApp.redis_server_ttl=1.5"),
    ).start()
    try:
        yield server
    finally:
        server.stop()


def caret_names(lab: Lab, room: str) -> list[str]:
    """The names of the remote carets ``lab``'s panel shows."""
    return room_editor(  # type: ignore[no-any-return]
        lab,
        room,
        "return editor.quill.getModule('cursors').cursors().filter(c => c.range).map(c => c.name);",
    )


def test_a_python_peer_on_server_a_and_a_browser_on_server_b_see_edits_and_carets(
    open_lab: Callable[[str], Lab], server_a: ServerProcess, room: str
) -> None:
    script = {"name": "Script on A", "color": "#16a085"}
    with connect(room, url=server_a.http_url, token=server_a.token, presence=script) as peer:
        peer.text.insert(0, "Written on A\n")
        ada = open_lab("ada")
        panel = ada.open_room(room)  # on server B
        editor = panel.locator(".ql-editor")
        editor.get_by_text("Written on A").wait_for()

        # The browser's edit reaches A; the Python peer's caret reaches the browser.
        editor.get_by_text("Written on A").click()
        ada.page.keyboard.press("End")
        ada.page.keyboard.type(", read on B")
        wait_until(lambda: "Written on A, read on B" in str(peer.text), what="B's edit on A")
        peer.text.insert(len(peer.text), "Answered from A\n")
        editor.get_by_text("Answered from A").wait_for()
        wait_until(lambda: "Script on A" in caret_names(ada, room), what="A's caret in the browser")

        # The browser's caret and name reach A.
        def ada_on_a() -> dict[str, Any] | None:
            for state in peer.peers.values():
                if (state.get("user") or {}).get("name") == "Ada Lovelace" and state.get("cursor"):
                    return state
            return None

        wait_until(ada_on_a, what="Ada's caret on A")
        people = panel.locator(".jp-ysync-person-name").all_text_contents()
        assert "Script on A" in people
