"""Markdown and HTML files open as collaborative rich-text documents ("Rich Text (collaborative)").

Each test writes a real file into the server's root, opens it with "Open With", and checks
what the user sees and what lands on disk: the rendered content, the tab's dirty indicator,
Ctrl+S writing the room's live content, verbatim source kept byte for byte, and a deleted
file shown as such (close code 4410).
"""

from __future__ import annotations

import re
import subprocess
import sys
import time
from collections.abc import Callable
from pathlib import Path

import pytest
from playwright.sync_api import Locator

from tests.browser.conftest import Lab, LabServer

pytestmark = pytest.mark.browser

FACTORY = "Rich Text (collaborative)"


def _wait_for(condition: Callable[[], bool], what: str, timeout: float = 20) -> None:
    """Wait until ``condition()`` holds (polling the disk, which has no event to wait on)."""
    deadline = time.monotonic() + timeout
    while not condition():
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out after {timeout} s waiting for {what}")
        time.sleep(0.1)


def _write(server: LabServer, name: str, text: str) -> Path:
    path = server.root / name
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_bytes(text.encode("utf-8"))
    return path


def _open_with(lab: Lab, path: str) -> None:
    """Open ``path`` in the file browser's "Open With" > "Rich Text (collaborative)"."""
    lab.goto_launcher()
    lab.page.evaluate(
        "path => window.jupyterapp.commands.execute('filebrowser:go-to-path', {path})",
        str(Path(path).parent) if "/" in path else "",
    )
    item = lab.page.locator(".jp-DirListing-item", has_text=Path(path).name)
    item.click(button="right")
    lab.page.locator(".lm-Menu-item", has_text="Open With").hover()
    lab.page.locator(".lm-Menu-item", has_text=FACTORY).click()
    document(lab).locator(".jp-ysync-status[data-status='synced']").wait_for()


def document(lab: Lab) -> Locator:
    """The open file document (the active main-area tab)."""
    return lab.page.locator(".jp-ysync-fileDocument:not(.lm-mod-hidden)")


def tab(lab: Lab, name: str) -> Locator:
    return lab.page.locator(".jp-mod-current.lm-TabBar-tab", has_text=name)


def test_markdown_file_opens_renders_and_saves_with_ctrl_s(
    open_lab: Callable[[str], Lab], lab_server: LabServer
) -> None:
    disk = _write(lab_server, "report.md", "# Weekly report\n\nThis is **bold** text.\n")
    lab = open_lab("ada")
    _open_with(lab, "report.md")
    editor = document(lab).locator(".ql-editor")
    editor.locator("h1", has_text="Weekly report").wait_for()
    editor.locator("strong", has_text="bold").wait_for()
    # The people list shows Ada only: the server's file state is no person.
    assert document(lab).locator(".jp-ysync-person").count() == 1
    assert not tab(lab, "report.md").evaluate("t => t.classList.contains('jp-mod-dirty')")

    editor.locator("h1").click()
    lab.page.keyboard.press("End")
    lab.page.keyboard.type(" (draft)")
    lab.page.wait_for_selector(".jp-mod-current.lm-TabBar-tab.jp-mod-dirty")

    lab.page.keyboard.press("Control+s")
    _wait_for(lambda: "Weekly report (draft)" in disk.read_text(), "the typed text on disk")
    lab.page.wait_for_selector(".jp-mod-current.lm-TabBar-tab:not(.jp-mod-dirty)")
    assert "**bold**" in disk.read_text()
    status = document(lab).locator(".jp-ysync-status").text_content() or ""
    assert status.startswith("report.md"), status
    assert lab.console_errors == [], lab.console_errors


def test_reload_from_disk_makes_the_room_equal_the_file(
    open_lab: Callable[[str], Lab], lab_server: LabServer
) -> None:
    disk = _write(lab_server, "reload.md", "First line\n")
    lab = open_lab("ada")
    _open_with(lab, "reload.md")
    editor = document(lab).locator(".ql-editor")
    editor.locator("p", has_text="First line").wait_for()
    disk.write_text("Changed on disk\n")
    lab.page.evaluate("window.jupyterapp.commands.execute('docmanager:reload')")
    editor.locator("p", has_text="Changed on disk").wait_for()


TABLE = "| a | b |\n|---|---|\n| 1 | 2 |\n"


def test_verbatim_table_shows_as_source_and_stays_byte_identical(
    open_lab: Callable[[str], Lab], lab_server: LabServer
) -> None:
    original = f"# Data\n\nIntro paragraph.\n\n{TABLE}\nOutro.\n"
    disk = _write(lab_server, "table.md", original)
    lab = open_lab("ada")
    _open_with(lab, "table.md")
    editor = document(lab).locator(".ql-editor")
    block = editor.locator(".ql-code-block[data-language='verbatim']").first
    block.wait_for()
    label = lab.page.evaluate(
        """el => getComputedStyle(el.closest('.ql-code-block-container'), '::before').content""",
        block.element_handle(),
    )
    assert "Markdown source" in label, label

    editor.locator("p", has_text="Intro paragraph.").click()
    lab.page.keyboard.press("End")
    lab.page.keyboard.type(" More.")
    lab.page.keyboard.press("Control+s")
    _wait_for(lambda: "Intro paragraph. More." in disk.read_text(), "the typed text on disk")
    assert TABLE in disk.read_text()
    # The attribute value is kept in the room, not normalised to "plain".
    formats = lab.page.evaluate(
        """() => [...document.querySelectorAll(
            '.jp-ysync-fileDocument .ql-editor .ql-code-block')].map(n => n.dataset.language)"""
    )
    assert set(formats) == {"verbatim"}, formats


def test_typing_inside_a_verbatim_block_keeps_it_verbatim(
    open_lab: Callable[[str], Lab], lab_server: LabServer
) -> None:
    disk = _write(lab_server, "inside.md", f"Intro.\n\n{TABLE}")
    lab = open_lab("ada")
    _open_with(lab, "inside.md")
    editor = document(lab).locator(".ql-editor")
    last = editor.locator(".ql-code-block[data-language='verbatim']").last
    last.click()
    lab.page.keyboard.press("End")
    lab.page.keyboard.press("Enter")
    lab.page.keyboard.type("| 3 | 4 |")
    languages = lab.page.evaluate(
        """() => [...document.querySelectorAll(
            '.jp-ysync-fileDocument .ql-editor .ql-code-block')].map(n => n.dataset.language)"""
    )
    assert languages == ["verbatim"] * 4, languages
    # The room's Y.Text holds the value itself, not Quill's default "plain".
    lines = lab.page.evaluate(
        """() => [...window.jupyterapp.shell.widgets('main')]
            .find(w => w.content && w.content.panel).content.panel.editor.text.toDelta()
            .filter(op => op.insert === '\\n').map(op => op.attributes)"""
    )
    assert lines == [{"code-block": "verbatim"}] * 4, lines
    lab.page.keyboard.press("Control+s")
    _wait_for(lambda: "| 3 | 4 |" in disk.read_text(), "the new table row on disk")
    assert TABLE + "| 3 | 4 |" in disk.read_text()


def test_html_file_opens_with_the_factory(
    open_lab: Callable[[str], Lab], lab_server: LabServer
) -> None:
    _write(lab_server, "page.html", "<h2>Title</h2>\n<p>Some <b>bold</b> words.</p>\n")
    lab = open_lab("ada")
    _open_with(lab, "page.html")
    editor = document(lab).locator(".ql-editor")
    editor.locator("h2", has_text="Title").wait_for()
    editor.locator("strong", has_text="bold").wait_for()


def test_deleted_file_shows_4410_and_is_read_only(
    open_lab: Callable[[str], Lab], lab_server: LabServer
) -> None:
    disk = _write(lab_server, "doomed.md", "Soon gone.\n")
    lab = open_lab("ada")
    _open_with(lab, "doomed.md")
    document(lab).locator(".ql-editor p", has_text="Soon gone.").wait_for()
    disk.unlink()
    status = document(lab).locator(".jp-ysync-status")
    status.filter(has_text=re.compile(r"4410")).wait_for(timeout=30_000)
    assert status.get_attribute("data-status") == "disconnected"
    assert "read-only" in (status.text_content() or "")
    assert document(lab).locator(".jp-ysync-editor.jp-mod-readOnly").count() == 1


def test_default_viewers_setting_opens_markdown_as_a_room(
    open_lab: Callable[[str], Lab], lab_server: LabServer
) -> None:
    _write(lab_server, "default.md", "# By default\n")
    lab = open_lab("ada")
    lab.goto_launcher()
    lab.page.evaluate(
        """factory => window.jupyterapp.serviceManager.settings.save(
            '@jupyterlab/docmanager-extension:plugin',
            JSON.stringify({defaultViewers: {markdown: factory}}))""",
        FACTORY,
    )
    try:
        lab.page.goto(lab.server.page_url("lab/tree/default.md", lab.person))
        document(lab).locator(".ql-editor h1", has_text="By default").wait_for()
    finally:
        lab.page.evaluate(
            """() => window.jupyterapp.serviceManager.settings.save(
                '@jupyterlab/docmanager-extension:plugin', '{}')"""
        )


def test_a_browser_types_while_a_process_appends_and_both_appear_once(
    open_lab: Callable[[str], Lab], lab_server: LabServer
) -> None:
    disk = _write(lab_server, "journal.md", "# Journal\n\nFirst entry.\n")
    lab = open_lab("ada")
    _open_with(lab, "journal.md")
    editor = document(lab).locator(".ql-editor")
    editor.locator("h1", has_text="Journal").click()
    lab.page.keyboard.press("End")
    lab.page.keyboard.type(" (shared)")
    # Another program appends to the file meanwhile, knowing nothing of the room.
    script = f"open({str(disk)!r}, 'a').write('\\nAppended by a script.\\n')"
    subprocess.run([sys.executable, "-c", script], check=True)
    editor.locator("p", has_text="Appended by a script.").wait_for()
    _wait_for(
        lambda: "Journal (shared)" in disk.read_text() and "Appended by" in disk.read_text(),
        "both edits on disk",
    )
    text = editor.inner_text()
    assert text.count("Appended by a script.") == 1 and text.count("(shared)") == 1
    on_disk = disk.read_text()
    assert on_disk.count("Appended by a script.") == 1 and on_disk.count("(shared)") == 1


def test_a_restart_that_lost_the_store_while_the_browser_stays_open_duplicates_nothing(
    open_lab: Callable[[str], Lab], lab_server: LabServer
) -> None:
    disk = _write(lab_server, "kept.md", "# Kept\n\nWritten before.\n")
    lab = open_lab("ada")
    _open_with(lab, "kept.md")
    editor = document(lab).locator(".ql-editor")
    editor.locator("p", has_text="Written before.").click()
    lab.page.keyboard.press("End")
    lab.page.keyboard.type(" Saved once.")
    _wait_for(lambda: "Saved once." in disk.read_text(), "the first save")
    lab.page.keyboard.type(" Saved twice.")
    _wait_for(lambda: "Saved twice." in disk.read_text(), "the second save")
    # kill -9, and the store is gone; the page stays open and reconnects.
    assert lab_server.proc is not None
    lab_server.proc.kill()
    lab_server.proc.wait()
    lab_server.proc = None
    lab_server.stop()
    for suffix in ("", "-wal", "-shm"):
        (lab_server.base / f"rooms.sqlite{suffix}").unlink(missing_ok=True)
    lab_server.start()
    document(lab).locator(".jp-ysync-status[data-status='synced']").wait_for(timeout=60_000)
    lab.page.keyboard.type(" After.")
    _wait_for(lambda: "After." in disk.read_text(), "a save after the restart")
    text = editor.inner_text()
    assert text.count("Written before.") == 1 and text.count("Saved once.") == 1, text
    with lab_server.connect_file("kept.md") as fresh:
        assert str(fresh.text).count("Written before.") == 1
    assert disk.read_text().count("Written before.") == 1
