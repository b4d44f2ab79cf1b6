"""The quickstart notebook runs top to bottom against a real server, and does what it says."""

from __future__ import annotations

import os
from pathlib import Path

import nbformat
from nbclient import NotebookClient

from jupyter_ysync import connect
from tests.servers import ServerProcess

NOTEBOOKS = Path(__file__).parent.parent / "notebooks"


def test_quickstart_runs_and_leaves_the_room_as_described(ysync_process: ServerProcess):
    notebook = nbformat.read(NOTEBOOKS / "quickstart.ipynb", as_version=4)
    env = dict(
        os.environ, JUPYTER_YSYNC_URL=ysync_process.ws_url, JUPYTER_YSYNC_TOKEN=ysync_process.token
    )
    client = NotebookClient(notebook, timeout=120, kernel_name="python3")
    client.execute(cwd=str(NOTEBOOKS), env=env)  # as a kernel the server started would have

    errors = [
        output
        for cell in notebook.cells
        if cell.cell_type == "code"
        for output in cell.get("outputs", [])
        if output.get("output_type") == "error"
    ]
    assert errors == []
    with connect("quickstart", url=ysync_process.http_url, token=ysync_process.token) as doc:
        delta = doc.text.delta
        text = str(doc.text)
    assert {"insert": "\n", "attributes": {"header": 1}} in delta
    assert {"insert": "live", "attributes": {"bold": True}} in delta
    assert any(isinstance(op["insert"], dict) and "image" in op["insert"] for op in delta)
    assert "typed by a loop" in text
    assert not text.startswith("DRAFT")  # the kernel's last edit was undone
