"""JupyterLab served through a reverse proxy that strips websocket upgrades (Debian's nginx):
the room panel falls back to HTTP, converges with a Python peer on the websocket, shows and
shares carets, says so in its status line, and returns to the websocket once it can."""

from __future__ import annotations

import contextlib
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest
from playwright.sync_api import Browser, Locator

from jupyter_ysync import SharedDocument
from tests.browser.conftest import VIEWPORT, Lab, LabServer, room_editor
from tests.browser.identities import login_token
from tests.nginx import NGINX, STRIP_UPGRADE, Nginx
from tests.waiting import wait_until

pytestmark = pytest.mark.browser

PASS_UPGRADE = """
        proxy_set_header Upgrade $http_upgrade;
        proxy_set_header Connection $http_connection;
"""
"""A proxy that lets websockets through, for the way back."""


class ProxiedLab:
    """The lab server as a browser behind ``proxy`` reaches it: same server, the proxy's URL."""

    def __init__(self, server: LabServer, proxy: Nginx) -> None:
        self.server = server
        self.proxy = proxy

    @property
    def url(self) -> str:
        return self.proxy.http_url

    def page_url(self, path: str, person: str) -> str:
        return f"{self.url}{path}?reset&token={login_token(person)}"

    def __getattr__(self, name: str) -> Any:
        return getattr(self.server, name)


@pytest.fixture
def proxy(lab_server: LabServer, tmp_path: Path) -> Iterator[Nginx]:
    if not Path(NGINX).exists():
        pytest.fail("nginx is not installed: apt-get install -y nginx (the CI image installs it)")
    nginx = Nginx(tmp_path / "nginx", upstream=lab_server.port, location=STRIP_UPGRADE)
    with nginx:
        yield nginx


@pytest.fixture
def open_proxied_lab(
    browser: Browser, lab_server: LabServer, proxy: Nginx, tmp_path: Path
) -> Iterator[Callable[[str], Lab]]:
    """``open_proxied_lab(person)``: a :class:`Lab` whose pages load through ``proxy``."""
    labs: list[Lab] = []

    def open_lab(person: str = "ada") -> Lab:
        context = browser.new_context(viewport=VIEWPORT)  # type: ignore[arg-type]
        context.set_default_timeout(30_000)
        lab = Lab(ProxiedLab(lab_server, proxy), context.new_page(), person)  # type: ignore[arg-type]
        labs.append(lab)
        return lab

    yield open_lab
    for lab in labs:
        with contextlib.suppress(Exception):
            lab.page.screenshot(path=str(tmp_path / f"last-{lab.person}.png"))
        lab.page.context.close()
    errors = [f"{lab.person}: {error}" for lab in labs for error in lab.errors]
    assert not errors, f"uncaught errors in the page: {errors}"


def carets(lab: Lab, room: str, name: str) -> list[int]:
    """Where ``lab``'s panel shows the carets named ``name`` (Quill indexes)."""
    return room_editor(  # type: ignore[no-any-return]
        lab,
        room,
        f"""return editor.quill.getModule('cursors').cursors()
            .filter(c => c.name === {name!r} && c.range).map(c => c.range.index);""",
    )


def channel(panel: Locator) -> str | None:
    return panel.locator(".jp-ysync-status").get_attribute("data-channel")


def test_the_panel_falls_back_to_http_and_converges_with_a_websocket_peer(
    open_proxied_lab: Callable[[str], Lab], lab_server: LabServer, proxy: Nginx, room: str
) -> None:
    with lab_server.connect(room, presence={"name": "Direct", "color": "#16a085"}) as direct:
        direct.text.insert(0, "Written on the websocket.\n")
        assert direct.transport == "websocket"

        ada = open_proxied_lab("ada")
        panel = ada.open_room(room)
        assert ada.page.url.startswith(proxy.http_url)
        status = panel.locator(".jp-ysync-status")
        content = panel.locator(".ql-editor")
        content.get_by_text("Written on the websocket.").wait_for()

        # The websocket was refused at the proxy: the room goes over HTTP, and says so.
        assert channel(panel) == "http"
        assert room_editor(ada, room, "return editor.connection.channel;") == "http"
        line = status.text_content() or ""
        assert line.startswith(f"{room} · synced · HTTP (websocket blocked) · "), line
        assert status.get_attribute("title") == "via HTTP (websocket blocked)"

        # Typed in the browser, read by the Python peer on the websocket.
        content.get_by_text("Written on the websocket.").click()
        ada.page.keyboard.press("End")
        ada.page.keyboard.type(" Ada, behind the proxy.")
        wait_until(
            lambda: "websocket. Ada, behind the proxy." in str(direct.text),
            what=lambda: f"Ada's words in the room: {str(direct.text)!r}",
        )
        # Written by the Python peer, shown in the browser (the long poll).
        direct.text.insert(0, "Title\n")
        direct.edited(len("Title"))
        content.get_by_text("Title").wait_for()

        # Presence both ways: the peer sees Ada and her caret, Ada sees the peer's caret.
        ada_client: int = room_editor(ada, room, "return editor.doc.clientID;")
        ada_caret: int = room_editor(ada, room, "return editor.quill.getSelection().index;")
        seen = wait_until(
            lambda: direct.peers.get(ada_client, {}).get("cursor"), what="Ada's caret in Python"
        )
        assert seen is not None and seen["anchor"]
        assert direct.peers[ada_client]["user"]["name"] == "Ada Lovelace"
        wait_until(
            lambda: carets(ada, room, "Direct") == [len("Title")],
            what=lambda: f"the peer's caret in the browser: {carets(ada, room, 'Direct')}",
        )
        panel.locator(".jp-ysync-person", has_text="Direct").wait_for()
        assert ada_caret == len("Title\nWritten on the websocket. Ada, behind the proxy.")

        # Both hold the same document, as Python reads it.
        def converged() -> bool:
            shown = room_editor(ada, room, "return editor.text.toString();")
            return bool(shown == str(direct.text))

        wait_until(converged, what="the browser and Python to hold the same text")
        assert str(direct.text) == "Title\nWritten on the websocket. Ada, behind the proxy.\n"

        # The requests really went through the proxy, as HTTP.
        access = (proxy.root / "access.log").read_text()
        assert f"/ysync/rooms/{room}/updates" in access
        assert f"/ysync/rooms/{room}/awareness" in access

        # Ada leaves: the peer on the websocket sees her go at once.
        ada.page.evaluate(
            """room => [...window.jupyterapp.shell.widgets('main')]
                .find(w => w.id === 'jp-ysync-room-' + room).close()""",
            room,
        )
        wait_until(lambda: ada_client not in direct.peers, what="Ada leaving")


def test_the_panel_returns_to_the_websocket_once_the_proxy_lets_it_through(
    open_proxied_lab: Callable[[str], Lab], lab_server: LabServer, proxy: Nginx, room: str
) -> None:
    peer: SharedDocument
    with lab_server.connect(room, presence={"name": "Direct", "color": "#16a085"}) as peer:
        ada = open_proxied_lab("ada")
        panel = ada.open_room(room)
        assert channel(panel) == "http"
        content = panel.locator(".ql-editor")
        content.click()
        ada.page.keyboard.type("over HTTP")
        wait_until(lambda: "over HTTP" in str(peer.text), what="the edit over HTTP")

        # The proxy is reconfigured to pass upgrades, on the same port.
        port = proxy.port
        proxy.stop()
        proxy.location = PASS_UPGRADE
        proxy.port = port
        proxy.start()

        # The background probe (every 30-60 s) finds the websocket and switches back.
        status = panel.locator(".jp-ysync-status[data-channel='websocket']")
        status.wait_for(timeout=90_000)
        panel.locator(".jp-ysync-status[data-status='synced']").wait_for()
        assert "HTTP" not in (status.text_content() or "")
        assert room_editor(ada, room, "return editor.connection.http === null;") is True

        # Edits flow both ways on the websocket.
        ada.page.keyboard.type(", then the websocket")
        wait_until(
            lambda: "over HTTP, then the websocket" in str(peer.text),
            what=lambda: f"the edit over the websocket: {str(peer.text)!r}",
        )
        peer.text.insert(0, "Back. ")
        content.get_by_text("Back. over HTTP").wait_for()
        ada_client: int = room_editor(ada, room, "return editor.doc.clientID;")
        wait_until(lambda: ada_client in peer.peers, what="Ada's presence on the websocket")
