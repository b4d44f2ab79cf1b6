"""One Yjs in the page: the extension consumes JupyterLab's shared ``yjs`` rather than its own.

A second copy of Yjs in the page breaks Yjs's ``instanceof`` checks, and Yjs says so in
the console ("Yjs was already imported. This breaks constructor checks ..."), once for
every document JupyterLab opens.
"""

from __future__ import annotations

from collections.abc import Callable

import pytest

from jupyter_ysync import SharedDocument
from tests.browser.conftest import Lab
from tests.waiting import wait_until

pytestmark = pytest.mark.browser


def yjs_messages(lab: Lab) -> list[str]:
    """The page's console messages that mention Yjs, as ``type: text``."""
    return [f"{kind}: {text}" for kind, text in lab.console if "Yjs" in text]


def test_a_notebook_a_widget_and_a_panel_share_jupyterlabs_yjs(
    open_lab: Callable[[str], Lab], peer: SharedDocument, room: str
) -> None:
    peer.text.insert(0, "From Python\n")
    lab = open_lab("ada")
    # A notebook is a Yjs document of JupyterLab's own; the widget and the panel are ours.
    notebook = lab.open_notebook(
        "one-yjs.ipynb", [f"from jupyter_ysync import Editor\nEditor({room!r})"]
    )
    widget = notebook.show_editor(0).locator(".ql-editor")
    widget.get_by_text("From Python").wait_for()
    panel = lab.open_room(room).locator(".ql-editor")
    panel.get_by_text("From Python").wait_for()

    # Still one room, synced both ways, on JupyterLab's Yjs (the notebook's tab is behind
    # the panel's now: its widget is attached, not visible).
    panel.get_by_text("From Python").click()
    lab.page.keyboard.press("End")
    lab.page.keyboard.type(" and the browser")
    widget.get_by_text("From Python and the browser").wait_for(state="attached")
    wait_until(
        lambda: str(peer.text) == "From Python and the browser\n",
        what="the typed words to reach the Python peer",
    )
    peer.text.insert(0, "Title\n")
    panel.get_by_text("Title").wait_for()
    widget.get_by_text("Title").wait_for(state="attached")

    assert yjs_messages(lab) == []
