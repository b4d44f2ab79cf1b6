"""The main-area panel (command ``ysync:open-room``): people, carets, convergence, read-only."""

from __future__ import annotations

from collections.abc import Callable

import pytest
from playwright.sync_api import Locator

from jupyter_ysync import SharedDocument
from tests.browser.conftest import Lab, quill_delta, room_editor
from tests.waiting import wait_until

pytestmark = pytest.mark.browser


def carets(lab: Lab, room: str, name: str) -> list[int]:
    """Where ``lab``'s panel shows the carets named ``name`` (Quill indexes)."""
    return room_editor(  # type: ignore[no-any-return]
        lab,
        room,
        f"""return editor.quill.getModule('cursors').cursors()
            .filter(c => c.name === {name!r} && c.range).map(c => c.range.index);""",
    )


def seed_notes(peer: SharedDocument) -> None:
    text = peer.text
    text.insert(0, "Design review\n", {"header": 1})
    text.insert(len(text), "Decisions so far:")
    text.insert(len(text), "\n")
    for item in ["Rooms are named, one document each", "Python peers edit live"]:
        text.insert(len(text), item)
        text.insert(len(text), "\n", {"list": "bullet"})
    text.insert(len(text), "Open questions: ")
    text.insert(len(text), "offline mode", {"bold": True})
    text.insert(len(text), "\n")


@pytest.mark.parametrize("room", ["design-review"])
def test_two_people_see_each_others_caret_and_converge(
    open_lab: Callable[[str], Lab], peer: SharedDocument, room: str
) -> None:
    seed_notes(peer)
    ada, grace = open_lab("ada"), open_lab("grace")
    ada_panel, grace_panel = ada.open_room(room), grace.open_room(room)
    ada_text, grace_text = ada_panel.locator(".ql-editor"), grace_panel.locator(".ql-editor")
    grace_text.get_by_text("offline mode").wait_for()

    # Each types in their own place; each sees the other's named caret.
    ada_text.get_by_text("Decisions so far:").click()
    ada.page.keyboard.press("End")
    ada.page.keyboard.type(" (Ada)")
    grace_text.get_by_text("(Ada)").wait_for()
    grace_text.get_by_text("Python peers edit live").click()
    grace.page.keyboard.press("End")
    grace.page.keyboard.type(", and browsers too")
    ada_text.get_by_text("and browsers too").wait_for()
    # Named carets: the name shows as the caret moves, and the caret is where the person is.
    ada_panel.locator(".ql-cursor-flag", has_text="Grace Hopper").wait_for(state="visible")
    grace_panel.locator(".ql-cursor-name", has_text="Ada Lovelace").wait_for(state="attached")
    for viewer, other, name in ((ada, grace, "Grace Hopper"), (grace, ada, "Ada Lovelace")):
        own: int = room_editor(other, room, "return editor.quill.getSelection().index;")

        def sees_caret(viewer: Lab = viewer, name: str = name, own: int = own) -> bool:
            return carets(viewer, room, name) == [own]

        wait_until(sees_caret, what=f"{viewer.person} to see {name}'s caret at {own}")
    people = ada_panel.locator(".jp-ysync-person-name").all_text_contents()
    assert people[0] == "Ada Lovelace (you)"
    assert sorted(people[1:]) == ["Grace Hopper", "Test script"]
    ada.show_name(ada_panel.locator(".ql-cursor-name", has_text="Grace Hopper"))
    ada.screenshot("panel")

    # Typing at the same time, keystroke by keystroke.
    for a, g in zip(" +ada", " +grc", strict=True):
        ada.page.keyboard.type(a)
        grace.page.keyboard.type(g)
    # Offline, both type at the very start: a true conflict, resolved on reconnect.
    for lab in (ada, grace):
        room_editor(lab, room, "editor.provider.disconnect();")
    ada.page.keyboard.press("Control+Home")
    ada.page.keyboard.type("[A] ")
    grace.page.keyboard.press("Control+Home")
    grace.page.keyboard.type("[G] ")
    for lab in (ada, grace):
        room_editor(lab, room, "editor.provider.connect();")

    def converged() -> bool:
        # Both editors show the text as Python reads it, final newline included.
        return quill_delta(ada, room) == quill_delta(grace, room) == peer.text.delta

    wait_until(converged, timeout=20, what="Ada, Grace and Python to hold the same document")
    text = str(peer.text)
    for part in ["(Ada) +ada", ", and browsers too +grc"]:
        assert part in text
    assert text.startswith(("[A] [G] Design review", "[G] [A] Design review"))
    assert ada_text.text_content() == grace_text.text_content()
    bold = {"insert": "offline mode", "attributes": {"bold": True}}
    assert bold in peer.text.delta
    assert bold in quill_delta(ada, room)


def test_panel_shows_the_same_document_as_the_widget(
    open_lab: Callable[[str], Lab], room: str
) -> None:
    lab = open_lab("ada")
    notebook = lab.open_notebook(
        "panel.ipynb",
        [
            f"from jupyter_ysync import Editor\neditor = Editor({room!r})\neditor",
            'editor.text.insert(0, "Shared notes\\n", {"header": 2})\n'
            'editor.text.insert(len(editor.text), "Written from ")\n'
            'editor.text.insert(len(editor.text), "Python", {"italic": True})\n'
            'editor.text.insert(len(editor.text), "\\nfirst")\n'
            'editor.text.insert(len(editor.text), "\\n", {"list": "ordered"})',
            "print(repr(str(editor.text)))",
        ],
    )
    widget = notebook.show_editor(0)
    notebook.run(1)
    widget.locator(".ql-editor li").wait_for()
    widget_html = widget.locator(".ql-editor").inner_html()

    panel = lab.open_room(room)
    content = panel.locator(".ql-editor")
    content.locator("li").wait_for()
    assert content.inner_html() == widget_html
    # Ada, with the widget and the panel open, is one person; the kernel's peer is there too.
    panel.locator(".jp-ysync-person[data-peers='2']", has_text="Ada Lovelace (you)").wait_for()
    panel.locator(".jp-ysync-person", has_text="Python").wait_for()
    names = panel.locator(".jp-ysync-person-name")
    assert sorted(names.all_text_contents()) == ["Ada Lovelace (you)", "Python"]

    # And it is one document: typed in the panel, read in the widget and the kernel.
    content.locator("li").click()
    lab.page.keyboard.press("End")
    lab.page.keyboard.type(" item")
    lab.page.wait_for_function(
        "el => el.textContent.includes('first item')",
        arg=widget.locator(".ql-editor").element_handle(),
    )
    assert notebook.run(2).strip() == repr("Shared notes\nWritten from Python\nfirst item\n")


def test_people_are_counted_not_connections(open_lab: Callable[[str], Lab], room: str) -> None:
    ada = open_lab("ada")
    notebook = ada.open_notebook(
        "people.ipynb", [f"from jupyter_ysync import Editor\nEditor({room!r})"]
    )
    widget_status = notebook.show_editor(0).locator(".jp-ysync-status")
    ada_panel = ada.open_room(room)
    grace_panel = open_lab("grace").open_room(room)

    # Ada has two peers on the room (the widget and the panel), Grace one: two people.
    ada_panel.locator(".jp-ysync-person[data-peers='2']", has_text="Ada Lovelace (you)").wait_for()
    ada_panel.locator(".jp-ysync-person[data-peers='1']", has_text="Grace Hopper").wait_for()
    assert ada_panel.locator(".jp-ysync-person").count() == 2
    grace_names = grace_panel.locator(".jp-ysync-person-name")
    grace_panel.locator(".jp-ysync-person", has_text="Ada Lovelace").wait_for()
    assert grace_names.all_text_contents() == ["Grace Hopper (you)", "Ada Lovelace"]
    # Every status line, the widget's included, counts people too.
    line = f"{room} · synced · 2 people"
    panels = (ada_panel, grace_panel)
    for status in (widget_status, *(panel.locator(".jp-ysync-status") for panel in panels)):

        def counts_two(status: Locator = status) -> bool:
            return status.text_content() == line

        wait_until(counts_two, what=f"{line!r} in the status line")


def test_undo_takes_back_only_your_own_edits(
    open_lab: Callable[[str], Lab], peer: SharedDocument, room: str
) -> None:
    peer.text.insert(0, "Python wrote this.\n")
    ada = open_lab("ada")
    content = ada.open_room(room).locator(".ql-editor")
    content.get_by_text("Python wrote this.").click()
    ada.page.keyboard.press("End")
    ada.page.keyboard.type(" Ada too.")
    wait_until(lambda: "Ada too." in str(peer.text), what="Ada's words to reach Python")
    # Someone else edits after Ada: undo must leave that alone.
    peer.text.insert(0, "Title\n")
    content.get_by_text("Title").wait_for()

    ada.page.keyboard.press("Control+z")
    wait_until(
        lambda: str(peer.text) == "Title\nPython wrote this.\n",
        what="Ada's words, and only hers, to be undone in the room",
    )
    # The caret goes back where the undone words were.
    caret = room_editor(ada, room, "return editor.quill.getSelection().index;")
    assert caret == len("Title\nPython wrote this.")

    ada.page.keyboard.press("Control+Shift+z")
    wait_until(
        lambda: str(peer.text) == "Title\nPython wrote this. Ada too.\n",
        what="Ada's words to be redone",
    )


def test_a_reader_is_told_the_room_is_read_only(
    open_lab: Callable[[str], Lab], peer: SharedDocument, room: str
) -> None:
    peer.text.insert(0, "Only writers may change this.\n")
    reader = open_lab("reader")
    panel = reader.open_room(room)
    content = panel.locator(".ql-editor")
    content.get_by_text("Only writers").wait_for()
    status = panel.locator(".jp-ysync-status")
    assert "read-only" not in (status.text_content() or "")

    content.click()
    reader.page.keyboard.press("End")
    reader.page.keyboard.type("!?")
    panel.locator(".jp-ysync-status.jp-mod-writeDenied").wait_for()
    assert "read-only" in (status.text_content() or "")
    assert (status.get_attribute("title") or "").startswith("read-only:")
    assert content.get_attribute("contenteditable") == "false"
    # What the reader typed is taken back: the editor shows the room as it is.
    reader.page.wait_for_function(
        "el => el.textContent === 'Only writers may change this.'", arg=content.element_handle()
    )

    # The room is unchanged, as a round trip through it shows.
    peer.text.insert(0, "Checked. ")
    content.get_by_text("Checked.").wait_for()
    assert str(peer.text) == "Checked. Only writers may change this.\n"


def test_open_room_dialog_explains_a_refused_name_and_trims_spaces(
    open_lab: Callable[[str], Lab], room: str
) -> None:
    lab = open_lab("ada").goto_launcher()
    lab.page.evaluate("void window.jupyterapp.commands.execute('ysync:open-room')")
    dialog = lab.page.locator(".jp-Dialog")
    name = dialog.locator("input")
    name.fill(f"  {room} notes ")
    dialog.get_by_role("button", name="Open").click()

    # Refused: the rule is explained, then the name is offered again to be fixed.
    dialog.get_by_text("Cannot open room").wait_for()
    message = dialog.text_content() or ""
    assert f'Invalid room name "  {room} notes "' in message
    assert "1-128 characters of A-Z a-z 0-9 . _ - ~ : (not only dots)" in message
    dialog.get_by_role("button", name="Close").click()
    assert name.input_value() == f"  {room} notes "
    name.fill(f"  {room}  ")
    dialog.get_by_role("button", name="Open").click()

    # Accepted without the spaces around it.
    panel = lab.page.locator(f"[id='jp-ysync-room-{room}'] .jp-ysync-panel")
    panel.locator(".jp-ysync-status[data-status='synced']").wait_for()
    assert (panel.locator(".jp-ysync-status").text_content() or "").startswith(f"{room} · ")
    assert lab.page.locator(".jp-Dialog").count() == 0


def test_open_room_refuses_a_name_made_of_dots(open_lab: Callable[[str], Lab]) -> None:
    lab = open_lab("ada").goto_launcher()
    lab.page.evaluate("void window.jupyterapp.commands.execute('ysync:open-room', {room: '..'})")
    dialog = lab.page.locator(".jp-Dialog")
    dialog.get_by_text("Cannot open room").wait_for()
    assert "not only dots" in (dialog.text_content() or "")
    assert lab.page.locator(".jp-ysync-panel").count() == 0
