"""Browser tests: JupyterLab with jupyter_ysync in its own process, driven by Playwright.

The browser is Debian's ``/usr/bin/chromium`` (``make browser`` installs it);
these tests never download one. Fixtures:

- ``lab_server`` (package): ``jupyter lab`` on a free port in 18900-18999, with
  isolated config, settings and workspaces, no news toast, ``window.jupyterapp``
  exposed, and named people (``tests.browser.identities``);
- ``browser`` (package): headless chromium;
- ``open_lab`` (test): ``open_lab("ada")`` opens JupyterLab in a fresh browser
  context logged in as Ada, and returns a :class:`Lab`; uncaught page errors
  fail the test;
- ``room``: a room name unique to the test; ``peer``: the test's own Python
  peer of that room, to arrange content and to check what the room holds.

Helpers: ``room_editor(lab, room, body)`` runs JavaScript on the editor of a
room's panel, ``quill_delta(lab, room)`` reads what its Quill shows.

Every wait is on a selector or a condition, inside a timeout.
"""

from __future__ import annotations

import contextlib
import json
import os
import re
import signal
import socket
import subprocess
import sys
import time
import urllib.request
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any, BinaryIO

import pytest

from jupyter_ysync import SharedDocument, connect
from tests.browser.identities import login_token

REPO = Path(__file__).resolve().parents[2]
CHROMIUM = Path("/usr/bin/chromium")
CHROMIUM_FLAGS = [
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
]
VIEWPORT = {"width": 1400, "height": 900}
PORTS = range(18900, 19000)
SERVER_TOKEN = "ysync-browser-token"
#: Where the README's screenshots are written (overwritten on every run).
SCREENSHOTS = Path(os.environ.get("YSYNC_SCREENSHOTS", REPO / "docs" / "screenshots"))
#: Settings every test session starts with: no "get notified about news" toast
#: and no update check covering the editors in screenshots.
OVERRIDES = {
    "@jupyterlab/apputils-extension:notification": {
        "fetchNews": "false",
        "checkForUpdates": False,
    }
}

with contextlib.suppress(ImportError):  # a clear failure below instead of a collection error
    from playwright.sync_api import (
        Browser,
        ConsoleMessage,
        Error,
        Locator,
        Page,
        sync_playwright,
    )


def _free_port() -> int:
    for port in PORTS:
        with socket.socket() as sock:
            try:
                sock.bind(("127.0.0.1", port))
            except OSError:
                continue
            return port
    raise RuntimeError(f"no free port in {PORTS.start}-{PORTS.stop - 1} for JupyterLab")


class LabServer:
    """``jupyter lab`` with jupyter_ysync, in its own process, on a loopback port."""

    def __init__(self, base: Path) -> None:
        self.base = base
        self.root = base / "root"
        self.port = _free_port()
        self.token = SERVER_TOKEN
        self.log_path = base / "lab.log"
        self.proc: subprocess.Popen[bytes] | None = None
        self._log: BinaryIO | None = None

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}/"

    def page_url(self, path: str, person: str) -> str:
        """A page of JupyterLab, logged in as ``person``, with the saved workspace reset."""
        return f"{self.url}{path}?reset&token={login_token(person)}"

    def start(self, timeout: float = 90.0) -> LabServer:
        for folder in ("root", "config", "data", "runtime", "app-settings", "workspaces"):
            (self.base / folder).mkdir(parents=True, exist_ok=True)
        (self.base / "app-settings" / "overrides.json").write_text(json.dumps(OVERRIDES))
        env = dict(
            os.environ,
            # Config, data and runtime of their own; the labextension and the kernel
            # spec are still found in the environment's share/jupyter.
            JUPYTER_CONFIG_DIR=str(self.base / "config"),
            JUPYTER_DATA_DIR=str(self.base / "data"),
            JUPYTER_RUNTIME_DIR=str(self.base / "runtime"),
            # The server imports tests.browser.identities; kernels import jupyter_ysync.
            PYTHONPATH=os.pathsep.join(filter(None, [str(REPO), os.environ.get("PYTHONPATH")])),
        )
        env.pop("JUPYTER_YSYNC_URL", None)
        env.pop("JUPYTER_YSYNC_TOKEN", None)
        cmd = [
            sys.executable,
            "-m",
            "jupyterlab",
            "--no-browser",
            "--allow-root",
            "--ServerApp.ip=127.0.0.1",
            f"--ServerApp.port={self.port}",
            "--ServerApp.port_retries=0",
            f"--ServerApp.root_dir={self.root}",
            f"--IdentityProvider.token={self.token}",
            "--ServerApp.identity_provider_class=tests.browser.identities.PeopleIdentityProvider",
            "--ServerApp.authorizer_class=tests.browser.identities.ReaderAuthorizer",
            "--LabApp.expose_app_in_browser=True",
            f"--LabApp.app_settings_dir={self.base / 'app-settings'}",
            f"--LabApp.user_settings_dir={self.base / 'config' / 'user-settings'}",
            f"--LabApp.workspaces_dir={self.base / 'workspaces'}",
            f"--YSyncApp.store_path={self.base / 'rooms.sqlite'}",
        ]
        self._log = open(self.log_path, "ab")  # noqa: SIM115 - closed by stop()
        self.proc = subprocess.Popen(
            cmd, stdout=self._log, stderr=subprocess.STDOUT, env=env, cwd=REPO
        )
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.proc.poll() is not None:
                raise RuntimeError(f"JupyterLab exited:\n{self.log_tail()}")
            status = f"{self.url}api/status?token={self.token}"
            with contextlib.suppress(OSError), urllib.request.urlopen(status, timeout=2):
                return self
            time.sleep(0.1)
        raise TimeoutError(f"JupyterLab did not start in {timeout} s:\n{self.log_tail()}")

    def stop(self) -> None:
        """Stop the server (and, through it, its kernels) by its PID; close its log."""
        if self.proc is not None:
            self.proc.send_signal(signal.SIGTERM)
            try:
                self.proc.wait(20)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()
            self.proc = None
        if self._log is not None:
            self._log.close()
            self._log = None

    def log_tail(self, chars: int = 4000) -> str:
        return self.log_path.read_text(errors="replace")[-chars:]

    def connect(self, room: str, **kwargs: Any) -> SharedDocument:
        """A Python peer of ``room`` in the test process."""
        return connect(room, url=self.url, token=self.token, **kwargs)

    def connect_file(self, path: str, **kwargs: Any) -> SharedDocument:
        """A Python peer of the room of the file ``path`` in the test process."""
        return connect(path=path, url=self.url, token=self.token, **kwargs)

    def write_notebook(self, name: str, cells: list[str]) -> str:
        """Write a notebook of code cells into the server's root; return its path."""
        notebook = {
            "cells": [
                {
                    "cell_type": "code",
                    "execution_count": None,
                    "id": f"cell-{index}",
                    "metadata": {},
                    "outputs": [],
                    "source": source,
                }
                for index, source in enumerate(cells)
            ],
            "metadata": {
                "kernelspec": {"name": "python3", "display_name": "Python 3", "language": "python"},
                "language_info": {"name": "python"},
            },
            "nbformat": 4,
            "nbformat_minor": 5,
        }
        (self.root / name).write_text(json.dumps(notebook, indent=1))
        return name


_ANSI = re.compile(r"\x1b\[[0-9;]*m")

#: Find an open notebook panel by path (JupyterLab's main area), once JupyterLab has started.
_FIND_NOTEBOOK = """path => window.jupyterapp && [...window.jupyterapp.shell.widgets('main')]
    .find(w => w.context && w.context.path === path && w.content && w.content.widgets)"""


class Notebook:
    """An open notebook in a :class:`Lab` page: run its cells, read their outputs."""

    def __init__(self, lab: Lab, path: str) -> None:
        self.lab = lab
        self.page = lab.page
        self.path = path

    def _js(self, body: str, arg: Any = None) -> Any:
        """Evaluate ``body`` with ``nb`` (the NotebookPanel) and ``arg`` in scope."""
        return self.page.evaluate(
            f"([path, arg]) => {{ const nb = ({_FIND_NOTEBOOK})(path); {body} }}",
            [self.path, arg],
        )

    def wait_ready(self, timeout: float = 60) -> Notebook:
        """Wait until the notebook is shown and its kernel is idle."""
        self.page.wait_for_function(
            f"""path => {{
                const nb = ({_FIND_NOTEBOOK})(path);
                const kernel = nb && nb.sessionContext.session && nb.sessionContext.session.kernel;
                return !!kernel && kernel.connectionStatus === 'connected'
                    && kernel.status === 'idle' && nb.content.widgets.length > 0;
            }}""",
            arg=self.path,
            timeout=timeout * 1000,
        )
        return self

    def cell(self, index: int) -> Locator:
        return self.page.locator(".jp-Notebook .jp-Cell").nth(index)

    def editor(self, index: int) -> Locator:
        """The ``Editor`` widget shown in the output of cell ``index``."""
        return self.cell(index).locator(".jp-ysync-widget")

    def start(self, index: int) -> None:
        """Run cell ``index`` without waiting for it to finish."""
        self._js(
            """nb.content.activeCellIndex = arg;
               nb.content.deselectAll();
               window.jupyterapp.shell.activateById(nb.id);
               void window.jupyterapp.commands.execute('notebook:run-cell');""",
            index,
        )
        # Started: the prompt turns into [*] (or straight into [n] for a quick cell).
        self.page.wait_for_function(
            f"""([path, i]) => {{
                const nb = ({_FIND_NOTEBOOK})(path);
                const prompt = nb.content.widgets[i].node.querySelector('.jp-InputPrompt');
                return /\\[(\\*|\\d+)\\]/.test(prompt.textContent);
            }}""",
            arg=[self.path, index],
        )

    def is_running(self, index: int) -> bool:
        prompt = self.cell(index).locator(".jp-InputPrompt").text_content() or ""
        return "[*]" in prompt

    def wait_done(self, index: int, timeout: float = 60) -> str:
        """Wait until cell ``index`` has run; return its printed output.

        Raises:
            AssertionError: the cell raised (with the kernel's traceback).
        """
        self.page.wait_for_function(
            f"""([path, i]) => {{
                const nb = ({_FIND_NOTEBOOK})(path);
                const prompt = nb.content.widgets[i].node.querySelector('.jp-InputPrompt');
                return /\\[\\d+\\]/.test(prompt.textContent);
            }}""",
            arg=[self.path, index],
            timeout=timeout * 1000,
        )
        outputs = self._js("return nb.content.widgets[arg].model.outputs.toJSON();", index)
        for output in outputs:
            if output["output_type"] == "error":
                traceback = _ANSI.sub("", "\n".join(output["traceback"]))
                raise AssertionError(f"cell {index} raised:\n{traceback}")
        return "".join(
            "".join(output["text"]) if isinstance(output["text"], list) else output["text"]
            for output in outputs
            if output["output_type"] == "stream"
        )

    def run(self, index: int, timeout: float = 60) -> str:
        """Run cell ``index`` and wait for it; return its printed output."""
        self.start(index)
        return self.wait_done(index, timeout)

    def show_editor(self, index: int) -> Locator:
        """Run cell ``index``, which displays an ``Editor``; wait until it has synced."""
        self.run(index)
        widget = self.editor(index)
        widget.locator(".jp-ysync-status[data-status='synced']").wait_for()
        return widget


class Lab:
    """One person's JupyterLab page, in a browser context of its own."""

    def __init__(self, server: LabServer, page: Page, person: str) -> None:
        self.server = server
        self.page = page
        self.person = person
        self.errors: list[str] = []
        self.console_errors: list[str] = []
        #: Every console message of the page, as ``(type, text)``, in order.
        self.console: list[tuple[str, str]] = []
        page.on("pageerror", self._on_page_error)
        page.on("console", self._on_console)

    def _on_page_error(self, error: Error) -> None:
        self.errors.append(str(error))

    def _on_console(self, message: ConsoleMessage) -> None:
        self.console.append((message.type, message.text))
        if message.type == "error":
            self.console_errors.append(message.text)

    def goto_launcher(self) -> Lab:
        self.page.goto(self.server.page_url("lab", self.person))
        self.page.locator(".jp-Launcher").wait_for()
        return self

    def open_notebook(self, name: str, cells: list[str]) -> Notebook:
        """Write a notebook with ``cells``, open it, and wait for its kernel."""
        path = self.server.write_notebook(name, cells)
        self.page.goto(self.server.page_url(f"lab/tree/{path}", self.person))
        notebook = Notebook(self, path).wait_ready()
        # More room for the outputs: the file browser is not needed.
        self.page.evaluate("window.jupyterapp.shell.collapseLeft()")
        return notebook

    def open_room(self, room: str) -> Locator:
        """Open ``room`` in a main-area panel with the ``ysync:open-room`` command."""
        if not self.page.url.startswith(self.server.url):
            self.goto_launcher()
        self.page.evaluate(
            "room => window.jupyterapp.commands.execute('ysync:open-room', {room})", room
        )
        panel = self.page.locator(f"[id='jp-ysync-room-{room}'] .jp-ysync-panel")
        panel.locator(".jp-ysync-status[data-status='synced']").wait_for()
        self.page.evaluate("window.jupyterapp.shell.collapseLeft()")
        return panel

    def show_name(self, caret_name: Locator) -> None:
        """Point the mouse at a remote caret, so that its name stays shown."""
        box = caret_name.locator("xpath=../..").locator(".ql-cursor-caret").bounding_box()
        assert box is not None, "the caret is not displayed"
        self.page.mouse.move(box["x"] + box["width"] / 2, box["y"] + box["height"] / 2)
        caret_name.wait_for(state="visible")

    def screenshot(self, name: str) -> Path:
        """Save the page as ``<SCREENSHOTS>/<name>.png`` (for the README)."""
        SCREENSHOTS.mkdir(parents=True, exist_ok=True)
        path = SCREENSHOTS / f"{name}.png"
        self.page.screenshot(path=str(path))
        return path


def room_editor(lab: Lab, room: str, body: str) -> Any:
    """Evaluate ``body`` with ``editor``, the YEditor of ``room``'s panel, in scope."""
    return lab.page.evaluate(
        f"""room => {{
            const panel = [...window.jupyterapp.shell.widgets('main')]
                .find(w => w.id === 'jp-ysync-room-' + room);
            const editor = panel.content.editor;
            {body}
        }}""",
        room,
    )


def quill_delta(lab: Lab, room: str) -> list[dict[str, Any]]:
    """What the Quill of ``room``'s panel shows, as a delta (``getContents().ops``)."""
    return room_editor(lab, room, "return editor.quill.getContents().ops;")  # type: ignore[no-any-return]


@pytest.fixture(autouse=True)
def jp_asyncio_loop() -> None:
    """Replaces pytest-jupyter's: these tests are synchronous, and Playwright runs its own loop."""


@pytest.fixture(autouse=True)
def jp_server_cleanup() -> None:
    """Replaces pytest-jupyter's: no in-process server here (JupyterLab runs in a process)."""


@pytest.fixture(scope="package")
def lab_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[LabServer]:
    server = LabServer(tmp_path_factory.mktemp("lab"))
    try:  # stopped (and its log closed) even when it fails to start
        server.start()
        yield server
    finally:
        server.stop()


@pytest.fixture(scope="package")
def browser() -> Iterator[Browser]:
    if "sync_playwright" not in globals():
        pytest.fail("Python Playwright is missing: pip install -e '.[test]'")
    if not CHROMIUM.exists():
        pytest.fail(
            f"{CHROMIUM} is missing: run `make browser` (Debian's chromium; never"
            " `playwright install`), or deselect these tests with -m 'not browser'"
        )
    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(
            executable_path=str(CHROMIUM), headless=True, args=CHROMIUM_FLAGS
        )
        yield browser
        browser.close()


_FAILED = pytest.StashKey[bool]()
"""Whether a test's call phase failed, for its fixtures' teardown."""


@pytest.hookimpl(wrapper=True)
def pytest_runtest_makereport(item: pytest.Item, call: pytest.CallInfo[None]) -> Any:
    report = yield
    if report.when == "call":
        item.stash[_FAILED] = report.failed
    return report


@pytest.fixture
def open_lab(
    request: pytest.FixtureRequest,
    browser: Browser,
    lab_server: LabServer,
    tmp_path: Path,
) -> Iterator[Callable[[str], Lab]]:
    """``open_lab(person)``: a new browser context for ``person``; its :class:`Lab` methods
    load JupyterLab (``goto_launcher``, ``open_notebook``)."""
    labs: list[Lab] = []

    def open_lab(person: str = "ada") -> Lab:
        context = browser.new_context(viewport=VIEWPORT)  # type: ignore[arg-type]
        context.set_default_timeout(30_000)
        lab = Lab(lab_server, context.new_page(), person)
        labs.append(lab)
        return lab

    yield open_lab
    if request.node.stash.get(_FAILED, False):
        for number, lab in enumerate(labs):
            shot = tmp_path / f"failure-{number}-{lab.person}.png"
            with contextlib.suppress(Exception):
                lab.page.screenshot(path=str(shot))
                print(f"screenshot of {lab.person}'s page: {shot}")
            print(f"{lab.person}'s console errors: {lab.console_errors}")
        print(f"JupyterLab log:\n{lab_server.log_tail()}")
    for lab in labs:
        lab.page.context.close()
    errors = [f"{lab.person}: {error}" for lab in labs for error in lab.errors]
    assert not errors, f"uncaught errors in the page: {errors}"


@pytest.fixture
def room(request: pytest.FixtureRequest) -> str:
    """A room name unique to this test (the store lives as long as ``lab_server``).

    Tests whose screenshots go into the README choose a friendlier one with
    ``@pytest.mark.parametrize("room", ["weekly-report"])``.
    """
    return re.sub(r"[^A-Za-z0-9_-]", "-", request.node.name.removeprefix("test_"))[:100]


@pytest.fixture
def peer(lab_server: LabServer, room: str) -> Iterator[SharedDocument]:
    """The test's own Python peer of ``room``."""
    with lab_server.connect(room, presence={"name": "Test script", "color": "#16a085"}) as doc:
        yield doc
