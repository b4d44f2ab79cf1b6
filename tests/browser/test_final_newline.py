"""The final newline: every editor and every Python peer show the same document.

The contract (``RichText.delta`` in ``jupyter_ysync/richtext/_text.py``, and
``labextension/src/richtext.ts``): the room's ``Y.Text`` is the document; it is shown with
its own final newline when it ends with one, else with an implicit plain one. An editor keeps
to it whoever changes the end of the text, and whenever it was opened.
"""

from __future__ import annotations

import random
from collections.abc import Callable
from typing import Any

import pytest
from playwright.sync_api import Locator

from jupyter_ysync import SharedDocument
from tests.browser.conftest import Lab, quill_delta, room_editor
from tests.waiting import wait_until

pytestmark = pytest.mark.browser


def all_show(peer: SharedDocument, labs: list[Lab], room: str) -> list[dict[str, Any]]:
    """Wait until every lab's editor shows what the Python peer reads; return that delta."""

    def shown() -> list[tuple[str, Any]]:
        return [("python", peer.text.delta)] + [
            (lab.person, quill_delta(lab, room)) for lab in labs
        ]

    def agreed() -> list[dict[str, Any]] | None:
        deltas = [delta for _, delta in shown()]
        return deltas[0] if all(delta == deltas[0] for delta in deltas) else None

    delta = wait_until(agreed, what=lambda: f"every peer to show the same document: {shown()}")
    assert delta is not None
    return delta


def click_below_the_text(lab: Lab, content: Locator) -> None:
    """Click in the empty part of the editor, under the last line (the caret goes to its end)."""
    box = content.bounding_box()
    assert box is not None, "the editor is not displayed"
    lab.page.mouse.click(box["x"] + box["width"] / 2, box["y"] + box["height"] - 10)


def test_an_open_editor_shows_no_extra_line_after_python_writes(
    open_lab: Callable[[str], Lab], peer: SharedDocument, room: str
) -> None:
    ada = open_lab("ada")
    content = ada.open_room(room).locator(".ql-editor")  # open on the empty room

    text = peer.text
    text.insert(0, "Title\n", {"header": 1})
    text.insert(len(text), "First point")
    text.insert(len(text), "\n", {"list": "bullet"})
    text.insert(len(text), "Closing words\n")

    expected = all_show(peer, [ada], room)
    assert expected == [
        {"insert": "Title"},
        {"insert": "\n", "attributes": {"header": 1}},
        {"insert": "First point"},
        {"insert": "\n", "attributes": {"list": "bullet"}},
        {"insert": "Closing words\n"},
    ]
    assert content.locator(":scope > *").count() == 3
    grace = open_lab("grace")
    grace.open_room(room)
    assert quill_delta(grace, room) == expected


def test_typing_at_the_end_of_the_last_line_keeps_the_final_newline(
    open_lab: Callable[[str], Lab], peer: SharedDocument, room: str
) -> None:
    ada = open_lab("ada")
    content = ada.open_room(room).locator(".ql-editor")
    peer.text.insert(0, "Title\n", {"header": 1})
    peer.text.insert(len(peer.text), "Notes\n")
    content.get_by_text("Notes").wait_for()

    click_below_the_text(ada, content)
    ada.page.keyboard.type(" typed")

    wait_until(
        lambda: str(peer.text) == "Title\nNotes typed\n",
        what=lambda: f"the words typed at the end of 'Notes' in the room: {str(peer.text)!r}",
    )
    grace = open_lab("grace")
    grace.open_room(room)
    all_show(peer, [ada, grace], room)
    assert content.locator(":scope > *").count() == 2


def test_a_header_set_on_the_last_line_reaches_everyone(
    open_lab: Callable[[str], Lab], peer: SharedDocument, room: str
) -> None:
    peer.text.insert(0, "Intro\nLast line")  # no final newline: the editors add one
    ada, grace = open_lab("ada"), open_lab("grace")
    panel = ada.open_room(room)
    grace_content = grace.open_room(room).locator(".ql-editor")

    panel.locator(".ql-editor").get_by_text("Last line").click()
    panel.locator(".ql-toolbar .ql-header .ql-picker-label").click()
    panel.locator(".ql-toolbar .ql-header .ql-picker-item[data-value='2']").click()

    header = [{"insert": "Intro\nLast line"}, {"insert": "\n", "attributes": {"header": 2}}]
    wait_until(
        lambda: peer.text.delta == header,
        what=lambda: f"the header in the room: {peer.text.delta}",
    )
    assert all_show(peer, [ada, grace], room) == header
    assert grace_content.locator("h2").text_content() == "Last line"
    assert grace_content.locator(":scope > *").count() == 2


@pytest.mark.parametrize("opened", ["before", "after"], ids=lambda when: f"opened-{when}")
def test_python_deleting_the_final_newline_leaves_a_plain_last_line(
    open_lab: Callable[[str], Lab], peer: SharedDocument, room: str, opened: str
) -> None:
    """The editor was opened before or after Python wrote the final newline it then deletes."""
    text = peer.text
    text.insert(0, "Title\n", {"header": 1})
    text.insert(len(text), "A quote")
    ada = open_lab("ada")
    if opened == "before":
        ada.open_room(room)
    text.insert(len(text), "\n", {"blockquote": True})
    if opened == "after":
        ada.open_room(room)
    title = [{"insert": "Title"}, {"insert": "\n", "attributes": {"header": 1}}]
    assert all_show(peer, [ada], room) == [
        *title,
        {"insert": "A quote"},
        {"insert": "\n", "attributes": {"blockquote": True}},
    ]

    text.delete(len(text) - 1)

    plain = [*title, {"insert": "A quote\n"}]
    assert all_show(peer, [ada], room) == plain
    grace = open_lab("grace")
    grace.open_room(room)
    assert quill_delta(grace, room) == plain


def test_python_deleting_the_last_line_with_the_final_newline_keeps_the_line_before(
    open_lab: Callable[[str], Lab], peer: SharedDocument, room: str
) -> None:
    text = peer.text
    text.insert(0, "Title\n", {"header": 1})
    text.insert(len(text), "Body\n")
    ada = open_lab("ada")
    content = ada.open_room(room).locator(".ql-editor")
    content.get_by_text("Body").wait_for()

    text.delete(len("Title"), len("\nBody\n"))

    assert all_show(peer, [ada], room) == [{"insert": "Title\n"}]
    assert content.text_content() == "Title"


def test_enter_at_the_end_of_a_text_without_final_newline_adds_a_shared_line(
    open_lab: Callable[[str], Lab], peer: SharedDocument, room: str
) -> None:
    peer.text.insert(0, "Title")
    ada = open_lab("ada")
    content = ada.open_room(room).locator(".ql-editor")
    content.get_by_text("Title").click()
    keyboard = ada.page.keyboard

    keyboard.press("Control+End")
    keyboard.press("Enter")

    # Ada sees two lines, the second empty with her caret: so does everyone.
    wait_until(
        lambda: str(peer.text) == "Title\n\n",
        what=lambda: f"the new empty line in the room: {str(peer.text)!r}",
    )
    grace = open_lab("grace")
    grace.open_room(room)
    assert all_show(peer, [ada, grace], room) == [{"insert": "Title\n\n"}]
    assert room_editor(ada, room, "return editor.quill.getSelection().index;") == 6

    keyboard.type("Next")
    wait_until(lambda: str(peer.text) == "Title\nNext\n", what="the new line's words in the room")
    all_show(peer, [ada, grace], room)

    # One undo takes back the words, the next the line, as Ada made them.
    keyboard.press("Control+z")
    wait_until(lambda: str(peer.text) == "Title\n\n", what="the words undone")
    keyboard.press("Control+z")
    wait_until(lambda: str(peer.text) == "Title", what="the new line undone")
    assert all_show(peer, [ada, grace], room) == [{"insert": "Title\n"}]


def test_the_selection_stays_put_while_the_editor_adjusts_its_final_newline(
    open_lab: Callable[[str], Lab], peer: SharedDocument, room: str
) -> None:
    peer.text.insert(0, "Hello world")
    ada = open_lab("ada")
    content = ada.open_room(room).locator(".ql-editor")
    content.get_by_text("Hello world").click()
    room_editor(ada, room, "editor.quill.setSelection(6, 5, 'user');")  # "world"

    peer.text.insert(len(peer.text), "\nSecond line\n")

    all_show(peer, [ada], room)
    selection = room_editor(ada, room, "return editor.quill.getSelection();")
    assert selection == {"index": 6, "length": 5}
    ada.page.keyboard.type("there")
    wait_until(
        lambda: str(peer.text) == "Hello there\nSecond line\n",
        what=lambda: f"'world' replaced in the room: {str(peer.text)!r}",
    )
    all_show(peer, [ada], room)


LINE_FORMATS: list[dict[str, Any] | None] = [
    None,
    {"header": 1},
    {"list": "bullet"},
    {"blockquote": True},
    {"align": "center"},
]


def test_random_edits_at_the_end_from_python_and_the_keyboard_keep_everyone_equal(
    open_lab: Callable[[str], Lab], peer: SharedDocument, room: str
) -> None:
    ada, grace = open_lab("ada"), open_lab("grace")
    content = ada.open_room(room).locator(".ql-editor")
    grace.open_room(room)
    text, keyboard = peer.text, ada.page.keyboard
    rng = random.Random(7)

    for step in range(40):
        size, line_format = len(text), rng.choice(LINE_FORMATS)
        action = rng.choice(
            ["newline", "words", "line", "delete", "format", "type", "enter", "backspace"]
        )
        if action == "newline":
            text.insert(size, "\n", line_format)
        elif action == "words":
            text.insert(size, rng.choice(["ab", "cd"]))
        elif action == "line":
            text.insert(size, "w\n", line_format)
        elif action == "delete" and size:
            count = rng.randint(1, min(size, 6))
            text.delete(size - count, count)
        elif action == "format" and line_format:
            # One line format at a time: Quill shows a line as one of them.
            cleared = {name: None for name in ("header", "list", "blockquote")}
            last = size - 1 if str(text).endswith("\n") else size
            text.format(last, 1, {**cleared, **line_format})
        elif action in ("type", "enter", "backspace"):
            content.click()
            keyboard.press("Control+End")
            keyboard.press({"type": "K", "enter": "Enter", "backspace": "Backspace"}[action])
        try:
            all_show(peer, [ada, grace], room)
        except AssertionError as error:
            raise AssertionError(f"step {step}, {action}: {error}") from None
