"""The ``Editor`` widget in a JupyterLab notebook: typed in a browser, scripted from cells.

Each test opens a notebook written for it, runs its cells through JupyterLab,
and checks both sides: what the browser shows, and what Python reads (the
kernel's own ``editor.text``, and the test's Python peer of the room).
"""

from __future__ import annotations

import ast
import base64
import struct
import zlib
from collections.abc import Callable

import pytest

from jupyter_ysync import SharedDocument
from tests.browser.conftest import Lab
from tests.waiting import wait_until

pytestmark = pytest.mark.browser


def show(room: str, **options: object) -> str:
    """A cell that displays an editor on ``room``."""
    args = "".join(f", {key}={value!r}" for key, value in options.items())
    return f"from jupyter_ysync import Editor\neditor = Editor({room!r}{args})\neditor"


def png_data_url(rgb: tuple[int, int, int], size: int = 12) -> str:
    """A small single-colour PNG, as a data URL."""

    def chunk(kind: bytes, data: bytes) -> bytes:
        body = kind + data
        return struct.pack("!I", len(data)) + body + struct.pack("!I", zlib.crc32(body))

    row = b"\x00" + bytes(rgb) * size
    png = (
        b"\x89PNG\r\n\x1a\n"
        + chunk(b"IHDR", struct.pack("!IIBBBBB", size, size, 8, 2, 0, 0, 0))
        + chunk(b"IDAT", zlib.compress(row * size))
        + chunk(b"IEND", b"")
    )
    return "data:image/png;base64," + base64.b64encode(png).decode()


def test_typed_text_made_bold_reads_back_in_the_kernel(
    open_lab: Callable[[str], Lab], peer: SharedDocument, room: str
) -> None:
    lab = open_lab("ada")
    notebook = lab.open_notebook("bold.ipynb", [show(room), "print(editor.text.delta)"])
    widget = notebook.show_editor(0)
    keyboard = lab.page.keyboard

    widget.locator(".ql-editor").click()
    keyboard.type("Make this bold now")
    for _ in " now":
        keyboard.press("ArrowLeft")
    for _ in "bold":
        keyboard.press("Shift+ArrowLeft")
    keyboard.press("Control+b")

    assert widget.locator(".ql-editor strong").text_content() == "bold"
    expected = [
        {"insert": "Make this "},
        {"insert": "bold", "attributes": {"bold": True}},
        {"insert": " now\n"},
    ]
    wait_until(lambda: peer.text.delta == expected, what="the room to hold the bold text")
    printed = notebook.run(1)
    assert "{'insert': 'bold', 'attributes': {'bold': True}}" in printed
    assert ast.literal_eval(printed.strip()) == expected


SCRIPTED = """\
import base64
import io
import matplotlib.pyplot as plt

fig, ax = plt.subplots(figsize=(4.5, 1.6), dpi=80)
ax.plot([1, 2, 3, 4, 5, 6], [3, 5, 4, 7, 8, 11], marker="o", color="#e67e22")
ax.set_title("Weekly sign-ups")
fig.tight_layout()
png = io.BytesIO()
fig.savefig(png, format="png")
plt.close(fig)

t = editor.text
t.insert(0, "Weekly report\\n", {"header": 1})
t.insert(len(t), "Sign-ups grew ")
t.insert(len(t), "38%", {"bold": True})
t.insert(len(t), " this week.\\n")
for item in ["Launch of the new onboarding", "Two talks accepted"]:
    t.insert(len(t), item)
    t.insert(len(t), "\\n", {"list": "bullet"})
url = "data:image/png;base64," + base64.b64encode(png.getvalue()).decode()
t.insert_embed(len(t), {"image": url})
t.insert(len(t), "\\n")
"""


@pytest.mark.parametrize("room", ["weekly-report"])
def test_cell_scripts_header_list_bold_and_image(open_lab: Callable[[str], Lab], room: str) -> None:
    lab = open_lab("ada")
    notebook = lab.open_notebook("report.ipynb", [show(room, height="400px"), SCRIPTED])
    widget = notebook.show_editor(0)
    notebook.run(1)

    content = widget.locator(".ql-editor")
    content.locator("img").wait_for()
    assert content.locator("h1").text_content() == "Weekly report"
    assert content.locator("li").all_text_contents() == [
        "Launch of the new onboarding",
        "Two talks accepted",
    ]
    assert content.locator("strong").text_content() == "38%"
    image = content.locator("img")
    assert (image.get_attribute("src") or "").startswith("data:image/png;base64,")
    lab.page.wait_for_function(
        "img => img.complete && img.naturalWidth > 0", arg=image.element_handle()
    )
    # The kernel's named caret, where it last wrote.
    python_caret = widget.locator(".ql-cursor-name")
    assert python_caret.all_text_contents() == ["Python"]
    lab.show_name(python_caret)
    lab.screenshot("widget")


LIVE = """\
import time
words = "one two three four five six seven eight nine ten".split()
for w in words:
    editor.text.insert(len(editor.text), w + " ")
    time.sleep(0.4)
"""


def test_words_from_a_running_cell_appear_while_it_runs(
    open_lab: Callable[[str], Lab], room: str
) -> None:
    lab = open_lab("ada")
    notebook = lab.open_notebook("live.ipynb", [show(room), LIVE])
    widget = notebook.show_editor(0)

    notebook.start(1)
    lab.page.wait_for_function(
        "el => el.textContent.includes('one two')",
        arg=widget.locator(".ql-editor").element_handle(),
    )
    seen = widget.locator(".ql-editor").text_content() or ""
    assert notebook.is_running(1), "the words arrived only after the cell finished"
    assert "ten" not in seen

    notebook.wait_done(1)
    expected = "one two three four five six seven eight nine ten"
    lab.page.wait_for_function(
        "([el, text]) => el.textContent.trim() === text",
        arg=[widget.locator(".ql-editor").element_handle(), expected],
    )


def test_image_inserted_in_the_browser_reads_back_in_python(
    open_lab: Callable[[str], Lab], peer: SharedDocument, room: str
) -> None:
    toolbar_image = png_data_url((230, 126, 34))
    pasted_image = png_data_url((41, 128, 185))
    lab = open_lab("ada")
    notebook = lab.open_notebook(
        "images.ipynb",
        [
            show(room),
            "print(editor.text.delta)\nprint(len(editor.text), repr(str(editor.text)))\n"
            "print(editor.text.to_markdown())",
        ],
    )
    widget = notebook.show_editor(0)
    page = lab.page

    # The toolbar's image button asks for a URL.
    widget.locator(".ql-editor").click()
    page.keyboard.type("Plot: ")
    widget.locator(".ql-toolbar button.ql-image").click()
    page.locator(".jp-Dialog input").fill(toolbar_image)
    page.locator(".jp-Dialog .jp-mod-accept").click()
    # Pasting HTML with an image (the seed bug crashed Python reading such a paste).
    widget.locator(".ql-editor").press("End")
    page.evaluate(
        """([el, src]) => {
            const data = new DataTransfer();
            data.setData('text/html', `<span> and pasted: </span><img src="${src}">`);
            data.setData('text/plain', ' and pasted: ');
            el.dispatchEvent(new ClipboardEvent('paste', {clipboardData: data, bubbles: true,
                                                          cancelable: true}));
        }""",
        [widget.locator(".ql-editor").element_handle(), pasted_image],
    )
    assert widget.locator(".ql-editor img").count() == 2

    def images() -> list[str]:
        return [op["insert"]["image"] for op in peer.text.delta if isinstance(op["insert"], dict)]

    wait_until(lambda: images() == [toolbar_image, pasted_image], what="both images in the room")
    delta_line, length_line, markdown = notebook.run(1).split("\n", 2)
    delta = ast.literal_eval(delta_line)
    assert delta[0] == {"insert": "Plot: "}
    assert delta[1] == {"insert": {"image": toolbar_image}}
    assert {"insert": {"image": pasted_image}} in delta
    assert int(length_line.split()[0]) == len(peer.text)
    assert f"![]({toolbar_image})" in markdown


def test_italics_toggled_from_the_browser_and_from_python(
    open_lab: Callable[[str], Lab], peer: SharedDocument, room: str
) -> None:
    lab = open_lab("ada")
    notebook = lab.open_notebook(
        "italics.ipynb",
        [
            show(room),
            'editor.text.insert(0, "Some words to emphasise")',
            "print(editor.text.delta)",
            'editor.text.format(5, 5, {"italic": None})\n'
            'editor.text.format(14, 9, {"italic": True})',
            "print(editor.text.delta)",
        ],
    )
    widget = notebook.show_editor(0)
    content = widget.locator(".ql-editor")
    keyboard = lab.page.keyboard
    notebook.run(1)
    content.get_by_text("Some words to emphasise").wait_for()

    def select(start: int, length: int) -> None:
        content.click()
        keyboard.press("Control+Home")
        for _ in range(start):
            keyboard.press("ArrowRight")
        for _ in range(length):
            keyboard.press("Shift+ArrowRight")

    # Browser on: the toolbar's italic button on "words".
    select(5, 5)
    widget.locator(".ql-toolbar button.ql-italic").click()
    assert content.locator("em").all_text_contents() == ["words"]
    with_words = [
        {"insert": "Some "},
        {"insert": "words", "attributes": {"italic": True}},
        {"insert": " to emphasise\n"},
    ]
    wait_until(lambda: peer.text.delta == with_words, what="italic 'words' in the room")
    assert ast.literal_eval(notebook.run(2).strip()) == with_words

    # Python off on "words", on for "emphasise": the browser follows.
    notebook.run(3)
    lab.page.wait_for_function(
        "el => [...el.querySelectorAll('em')].map(e => e.textContent).join() === 'emphasise'",
        arg=content.element_handle(),
    )

    # Browser off: Ctrl+I on "emphasise"; Python reads plain text again.
    select(14, 9)
    keyboard.press("Control+i")
    assert content.locator("em").count() == 0
    plain = [{"insert": "Some words to emphasise\n"}]
    wait_until(lambda: peer.text.delta == plain, what="no italics left in the room")
    assert ast.literal_eval(notebook.run(4).strip()) == plain


def test_read_only_editor_cannot_change_the_room(
    open_lab: Callable[[str], Lab], peer: SharedDocument, room: str
) -> None:
    original = "Read me, but do not change me.\n"
    peer.text.insert(0, original)
    lab = open_lab("ada")
    notebook = lab.open_notebook("readonly.ipynb", [show(room, read_only=True)])
    widget = notebook.show_editor(0)
    content = widget.locator(".ql-editor")
    content.get_by_text("Read me").wait_for()

    assert content.get_attribute("contenteditable") == "false"
    assert not widget.locator(".ql-toolbar").is_visible()
    assert "read-only" in (widget.locator(".jp-ysync-status").text_content() or "")
    cells = lab.page.locator(".jp-Notebook .jp-Cell")
    content.click()
    # Plain keys reach neither the document nor the notebook's command mode (X cuts a cell).
    for key in ["End", "X", "Y", "Z", "Backspace", "Enter", "D", "D", "Control+b"]:
        lab.page.keyboard.press(key)
    assert content.text_content() == original.strip()
    assert cells.count() == 1
    assert notebook.editor(0).count() == 1

    # A round trip through the room: anything the browser had sent would be there by now.
    peer.text.insert(len(peer.text) - 1, " Checked.")
    content.get_by_text("Checked.").wait_for()
    assert str(peer.text) == original.strip() + " Checked.\n"
