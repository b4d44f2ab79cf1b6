"""A room's history in JupyterLab: versions saved, previewed, diffed, restored; who wrote what.

The room panel's toolbar holds "Save version", "History" (the "Version history" side panel)
and "Authors" (tints over the text, with a legend). A restore in the browser is the user's
own edit: Ctrl+Z takes it back, and other peers see an edit like any.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import pytest
from playwright.sync_api import Error as PlaywrightError
from playwright.sync_api import Locator

from jupyter_ysync import SharedDocument
from tests.browser.conftest import Lab, LabServer, quill_delta
from tests.waiting import wait_until

pytestmark = pytest.mark.browser


def toolbar_button(lab: Lab, room: str, name: str) -> Locator:
    """A toolbar item of ``room``'s panel (``ysync-save-version``, ``ysync-history``,
    ``ysync-authors``)."""
    return lab.page.locator(f"[id='jp-ysync-room-{room}'] [data-jp-item-name='{name}']")


def save_version(lab: Lab, room: str, name: str, button: Locator | None = None) -> None:
    """Save a version named ``name`` with the toolbar's "Save version" and its dialog."""
    (button or toolbar_button(lab, room, "ysync-save-version")).click()
    dialog = lab.page.locator(".jp-Dialog")
    dialog.locator("input").fill(name)
    dialog.locator(".jp-mod-accept").click()
    dialog.wait_for(state="detached")


def box_center_y(locator: Locator) -> float:
    box = locator.bounding_box()
    assert box is not None, "not displayed"
    return box["y"] + box["height"] / 2


def within(y: float, locator: Locator) -> bool:
    box = locator.bounding_box()
    return box is not None and box["y"] <= y <= box["y"] + box["height"]


def covers(mark: Locator, line: Locator) -> bool:
    """Whether ``mark`` sits on ``line``; False while the overlay redraws it (gone, or not
    laid out yet), so that a wait polls again."""
    try:
        box = mark.bounding_box(timeout=1000)
    except PlaywrightError:
        return False
    return box is not None and within(box["y"] + box["height"] / 2, line)


@pytest.mark.parametrize("room", ["launch-plan"])
def test_saved_version_is_listed_previewed_diffed_and_restored_undoably(
    open_lab: Callable[[str], Lab], peer: SharedDocument, room: str
) -> None:
    peer.text.insert(0, "Launch plan\n", {"header": 1})
    peer.text.insert(len(peer.text), "Ship on Friday\n")
    lab = open_lab("ada")
    panel = lab.open_room(room)
    text = panel.locator(".ql-editor")
    text.get_by_text("Ship on Friday").wait_for()
    saved: list[dict[str, Any]] = peer.text.delta

    save_version(lab, room, "sent to review")
    # The user types on, then looks at the history.
    text.get_by_text("Ship on Friday").click()
    lab.page.keyboard.press("End")
    lab.page.keyboard.type(" and Monday")
    wait_until(lambda: "and Monday" in str(peer.text), what="the typing to reach the room")
    toolbar_button(lab, room, "ysync-history").click()
    history = lab.page.locator("#jp-ysync-history")
    version = history.locator(".jp-ysync-version", has_text="sent to review")
    version.wait_for()
    # The seed was the script's: the version names it as its author, and its size.
    assert "(script)" in (version.locator(".jp-ysync-version-authors").text_content() or "")
    assert (version.locator(".jp-ysync-version-size").text_content() or "").endswith("B")

    # The preview shows the version; the changes mark what was typed since.
    version.click()
    preview = history.locator(".jp-ysync-history-preview .ql-editor")
    preview.get_by_text("Ship on Friday").wait_for()
    assert "Monday" not in (preview.text_content() or "")
    assert preview.locator("h1", has_text="Launch plan").count() == 1
    history.locator(".jp-ysync-history-tab[data-view='changes']").click()
    diff = history.locator(".jp-ysync-history-diff .ql-editor")
    diff.locator(".jp-ysync-diff-insert", has_text="and Monday").wait_for()
    assert diff.locator(".jp-ysync-diff-delete").count() == 0
    summary = history.locator(".jp-ysync-history-summary")
    assert summary.get_attribute("data-inserted") == str(len(" and Monday"))

    # Typing on updates the diff: the text removed since shows struck through.
    text.get_by_text("Launch plan").click()
    lab.page.keyboard.press("End")
    for _ in range(len(" plan")):
        lab.page.keyboard.press("Backspace")
    diff.locator(".jp-ysync-diff-delete", has_text="plan").wait_for()

    # Restore: the room holds the version again, for every peer.
    history.locator(".jp-ysync-history-restore").click()
    wait_until(lambda: peer.text.delta == saved, what="the room to hold the version again")
    wait_until(lambda: quill_delta(lab, room) == saved, what="the editor to show the version")
    diff.locator(".jp-ysync-diff-insert").wait_for(state="detached")
    assert summary.text_content() == "The current text is this version."

    # The restore was Ada's own edit: Ctrl+Z in the editor takes it back.
    text.get_by_text("Ship on Friday").click()
    lab.page.keyboard.press("Control+z")
    wait_until(
        lambda: (
            "Ship on Friday and Monday" in str(peer.text) and str(peer.text).startswith("Launch\n")
        ),
        what="undo to bring the typed text back",
    )
    text.get_by_text("Ship on Friday and Monday").wait_for()


def test_show_authors_tints_each_authors_text_and_lists_them(
    open_lab: Callable[[str], Lab], lab_server: LabServer, room: str
) -> None:
    lab = open_lab("ada")
    panel = lab.open_room(room)
    text = panel.locator(".ql-editor")
    text.click()
    lab.page.keyboard.type("Ada wrote this line.")
    with lab_server.connect(room, presence={"name": "Analysis", "color": "#16a085"}) as script:
        wait_until(lambda: str(script.text).startswith("Ada wrote"), what="Ada's line")
        script.text.insert(len(script.text), "\nThe script wrote this one.")
        text.get_by_text("The script wrote this one.").wait_for()

        toolbar_button(lab, room, "ysync-authors").click()
        legend = panel.locator(".jp-ysync-authors-legend")
        entries = legend.locator(".jp-ysync-author")
        wait_until(lambda: entries.count() == 2, what="two authors in the legend")
        ada = legend.locator(".jp-ysync-author[data-kind='browser']")
        kernel = legend.locator(".jp-ysync-author[data-kind='kernel']")
        assert ada.locator(".jp-ysync-author-name").text_content() == "Ada Lovelace (you)"
        assert kernel.locator(".jp-ysync-author-kind").text_content() == "script"

        # Each line is tinted in its author's colour.
        lines = text.locator("p")
        ada_marks = panel.locator(".jp-ysync-author-mark[data-author='browser/ada']")
        kernel_key = kernel.get_attribute("data-author")
        kernel_marks = panel.locator(f".jp-ysync-author-mark[data-author='{kernel_key}']")
        ada_marks.first.wait_for()
        kernel_marks.first.wait_for()
        assert within(box_center_y(ada_marks.first), lines.nth(0))
        assert within(box_center_y(kernel_marks.first), lines.nth(1))
        colors = {
            mark.evaluate("m => m.style.getPropertyValue('--jp-ysync-author-color')")
            for mark in (ada_marks.first, kernel_marks.first)
        }
        assert len(colors) == 2

        # More text from the script: the tints follow, a moment later.
        script.text.insert(len(script.text), "\nAnd a third line.")
        text.get_by_text("And a third line.").wait_for()
        wait_until(
            lambda: any(covers(mark, lines.nth(2)) for mark in kernel_marks.all()),
            what="the third line to be tinted as the script's",
        )
        # The tints are no formats: the room's text is as the peers wrote it.
        assert all(set(op.get("attributes", {})) == set() for op in script.text.delta)

        # Off again: no tint and no legend.
        toolbar_button(lab, room, "ysync-authors").click()
        legend.wait_for(state="detached")
        assert panel.locator(".jp-ysync-author-mark").count() == 0


def test_file_document_saves_and_lists_its_versions(
    open_lab: Callable[[str], Lab], lab_server: LabServer
) -> None:
    (lab_server.root / "history-notes.md").write_text("# Notes\n\nFirst draft.\n")
    lab = open_lab("ada").goto_launcher()
    lab.page.evaluate(
        """path => window.jupyterapp.commands.execute(
            'docmanager:open', {path, factory: 'Rich Text (collaborative)'})""",
        "history-notes.md",
    )
    document = lab.page.locator(".jp-ysync-fileDocument:not(.lm-mod-hidden)")
    document.locator(".jp-ysync-status[data-status='synced']").wait_for()
    text = document.locator(".ql-editor")
    text.get_by_text("First draft.").wait_for()

    save_version(
        lab, "", "first draft", document.locator("[data-jp-item-name='ysync-save-version']")
    )
    text.get_by_text("First draft.").click()
    lab.page.keyboard.press("End")
    lab.page.keyboard.type(" Second thoughts.")
    document.locator("[data-jp-item-name='ysync-history']").click()
    history = lab.page.locator("#jp-ysync-history")
    assert history.locator(".jp-ysync-history-room").text_content() == "history-notes.md"
    history.locator(".jp-ysync-version", has_text="first draft").click()
    preview = history.locator(".jp-ysync-history-preview .ql-editor")
    preview.get_by_text("First draft.").wait_for()
    assert preview.locator("h1", has_text="Notes").count() == 1
    history.locator(".jp-ysync-history-tab[data-view='changes']").click()
    history.locator(".jp-ysync-diff-insert", has_text="Second thoughts.").wait_for()
