"""Behind a reverse proxy that strips websocket upgrades (Debian's nginx), the Python peer
falls back to HTTP and works with websocket peers as if nothing were in between."""

from __future__ import annotations

import asyncio
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import websockets

from jupyter_ysync import connect
from tests.nginx import NGINX, STRIP_UPGRADE, Nginx
from tests.servers import ServerProcess
from tests.waiting import wait_until

pytestmark = pytest.mark.slow


@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[ServerProcess]:
    process = ServerProcess(tmp_path_factory.mktemp("proxied"))
    process.start()
    yield process
    process.stop()


@pytest.fixture(scope="module")
def proxy(server: ServerProcess, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Nginx]:
    if not Path(NGINX).exists():
        pytest.fail("nginx is not installed: apt-get install -y nginx (the CI image installs it)")
    with Nginx(
        tmp_path_factory.mktemp("nginx"), upstream=server.port, location=STRIP_UPGRADE
    ) as nginx:
        yield nginx


@pytest.fixture
def join(server: ServerProcess) -> Iterator[Any]:
    docs: list[Any] = []

    def open_room(room: str, url: str, **kwargs: Any) -> Any:
        doc = connect(room, url=url, token=server.token, **kwargs)
        docs.append(doc)
        return doc

    yield open_room
    for doc in docs:
        doc.close()


def test_the_proxy_really_strips_websocket_upgrades(proxy, server):
    async def handshake() -> None:
        url = f"ws://127.0.0.1:{proxy.port}/ysync/rooms/stripped?token={server.token}"
        await websockets.connect(url, open_timeout=10)

    with pytest.raises(websockets.InvalidStatus) as refused:
        asyncio.run(handshake())
    assert refused.value.response.status_code != 101


def test_auto_falls_back_to_http_behind_the_proxy_and_converges_with_a_websocket_peer(
    join, proxy, server
):
    behind = join("proxied", proxy.http_url, presence={"name": "Behind", "color": "#111111"})
    direct = join("proxied", server.http_url, presence={"name": "Direct", "color": "#222222"})
    assert behind.transport == "http"
    assert direct.transport == "websocket"

    behind.text.insert(0, "typed behind the proxy\n")
    direct.text.insert(0, "typed directly\n")
    # Concurrent inserts at 0: Yjs orders them by client id, the same way on every peer.
    wait_until(
        lambda: (
            str(behind.text) == str(direct.text)
            and sorted(str(direct.text).splitlines())
            == ["typed behind the proxy", "typed directly"]
        ),
        what=lambda: f"convergence: {str(behind.text)!r} and {str(direct.text)!r}",
    )

    # Edits keep flowing both ways while the peers stay connected (the long polls).
    for round_ in range(5):
        behind.text.insert(len(behind.text), f"b{round_}")
        direct.text.insert(0, f"d{round_}")
    wait_until(lambda: str(behind.text) == str(direct.text), what="later edits")
    assert "b4" in str(direct.text) and "d4" in str(behind.text)


def test_presence_and_carets_are_seen_both_ways_through_the_proxy(join, proxy, server):
    behind = join("carets", proxy.http_url, presence={"name": "Behind", "color": "#111111"})
    direct = join("carets", server.http_url, presence={"name": "Direct", "color": "#222222"})
    assert behind.transport == "http"

    behind.text.insert(0, "hello")  # moves its caret to 5
    direct.text.insert(0, ">")

    def caret_of(doc: Any, client: int) -> Any:
        return doc.peers.get(client, {}).get("cursor")

    seen_by_direct = wait_until(lambda: caret_of(direct, behind.client_id), what="behind's caret")
    seen_by_behind = wait_until(lambda: caret_of(behind, direct.client_id), what="direct's caret")
    assert direct.peers[behind.client_id]["user"]["name"] == "Behind"
    assert behind.peers[direct.client_id]["user"]["name"] == "Direct"
    assert seen_by_direct["anchor"] and seen_by_behind["anchor"]

    behind.close()  # leaving says goodbye over HTTP too
    wait_until(lambda: behind.client_id not in direct.peers, what="behind leaving")
