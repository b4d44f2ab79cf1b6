"""The quickstart notebook runs top to bottom against a real server, and does what it says."""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

import nbformat
from nbclient import NotebookClient

from jupyter_ysync import connect
from tests.servers import ServerProcess

NOTEBOOKS = Path(__file__).parent.parent / "notebooks"


def run_quickstart(server: ServerProcess, extra_env: dict[str, str] | None = None) -> None:
    """Run the quickstart in a fresh kernel, as one the server started would be; no errors."""
    notebook = nbformat.read(NOTEBOOKS / "quickstart.ipynb", as_version=4)
    env = dict(
        os.environ,
        JUPYTER_YSYNC_URL=server.ws_url,
        JUPYTER_YSYNC_TOKEN=server.token,
        **(extra_env or {}),
    )
    client = NotebookClient(notebook, timeout=120, kernel_name="python3")
    client.execute(cwd=str(NOTEBOOKS), env=env)
    errors = [
        output
        for cell in notebook.cells
        if cell.cell_type == "code"
        for output in cell.get("outputs", [])
        if output.get("output_type") == "error"
    ]
    assert errors == []


def room_delta(server: ServerProcess) -> tuple[list[dict[str, Any]], str]:
    with connect("quickstart", url=server.http_url, token=server.token) as doc:
        return doc.text.delta, str(doc.text)


def test_quickstart_runs_and_leaves_the_room_as_described(ysync_process: ServerProcess):
    run_quickstart(ysync_process)
    delta, text = room_delta(ysync_process)
    assert {"insert": "\n", "attributes": {"header": 1}} in delta
    assert {"insert": "live", "attributes": {"bold": True}} in delta
    assert any(isinstance(op["insert"], dict) and "image" in op["insert"] for op in delta)
    assert "typed by a loop" in text
    assert not text.startswith("DRAFT")  # the kernel's last edit was undone


def test_quickstart_needs_no_matplotlib_and_adds_nothing_when_run_again(
    ysync_process: ServerProcess, tmp_path: Path
):
    """A plain `pip install` has no matplotlib; a second run appended the whole tour again,
    its heading glued onto the last line someone had typed."""
    with connect("quickstart", url=ysync_process.http_url, token=ysync_process.token) as doc:
        doc.text.insert(0, "typed by someone")
    blocked = tmp_path / "no-matplotlib" / "matplotlib"
    blocked.mkdir(parents=True)
    (blocked / "__init__.py").write_text("raise ImportError('matplotlib is not installed')\n")
    no_matplotlib = {"PYTHONPATH": str(blocked.parent)}
    run_quickstart(ysync_process, no_matplotlib)
    once, _ = room_delta(ysync_process)
    run_quickstart(ysync_process, no_matplotlib)
    twice, text = room_delta(ysync_process)
    assert twice == once
    assert text.count("Weekly report") == 1
    assert text.startswith("typed by someone\nWeekly report\n")
