"""The ``Editor`` widget as the kernel side sees it: what goes over its comm, and its peer.

No browser and no kernel: ``comm.create_comm`` is replaced by a :class:`FakeComm` recording what
the widget sends (the pattern of ipywidgets' own tests), and ``connect`` by a fake that records
which rooms were joined.
"""

from __future__ import annotations

import uuid
from collections.abc import Callable, Iterator
from typing import Any

import comm
import pytest

import jupyter_ysync.client
from jupyter_ysync import Editor, InvalidRoomName
from jupyter_ysync._frontend import MODULE_NAME, MODULE_VERSION


class FakeComm:
    """A widget comm without a frontend: records the opening state and every message."""

    kernel = "fake"  # ipywidgets sends only on a comm with a kernel

    def __init__(self, **kwargs: Any) -> None:
        self.comm_id = uuid.uuid4().hex
        self.opened_with: dict[str, Any] = kwargs
        self.sent: list[dict[str, Any]] = []
        self.closed = False
        self.handler: Callable[[dict[str, Any]], None] | None = None

    @property
    def state(self) -> dict[str, Any]:
        """The widget state the frontend received when the comm opened."""
        return dict(self.opened_with["data"]["state"])

    def send(self, data: dict[str, Any], buffers: Any = None, **kwargs: Any) -> None:
        self.sent.append(data)

    def on_msg(self, handler: Callable[[dict[str, Any]], None]) -> None:
        self.handler = handler

    def close(self, *args: Any, **kwargs: Any) -> None:
        self.closed = True

    def from_frontend(self, state: dict[str, Any]) -> None:
        """Deliver a state update as the frontend's model sends it."""
        assert self.handler is not None
        self.handler({"content": {"data": {"method": "update", "state": state}}, "buffers": []})


class FakeDocument:
    """What ``connect`` returns here: a text, and whether it was closed."""

    def __init__(self, room: str) -> None:
        self.room = room
        self.text = f"<text of {room}>"
        self.closed = False

    def close(self) -> None:
        self.closed = True


@pytest.fixture
def comms(monkeypatch: pytest.MonkeyPatch) -> Iterator[list[FakeComm]]:
    """Every comm the widgets open, in order; the widgets still open are closed at the end."""
    opened: list[FakeComm] = []

    def create_comm(**kwargs: Any) -> FakeComm:
        opened.append(FakeComm(**kwargs))
        return opened[-1]

    monkeypatch.setattr(comm, "create_comm", create_comm)
    yield opened
    for fake in opened:
        widget = getattr(fake.handler, "__self__", None)  # the widget's _handle_msg
        if widget is not None and not fake.closed:
            widget.close()


@pytest.fixture
def joined(monkeypatch: pytest.MonkeyPatch) -> list[FakeDocument]:
    """The documents ``connect`` opened, in order, instead of joining a server."""
    docs: list[FakeDocument] = []

    def connect(room: str, *args: Any, **kwargs: Any) -> FakeDocument:
        assert not args and not kwargs, "the widget joins with the kernel's own credential"
        docs.append(FakeDocument(room))
        return docs[-1]

    monkeypatch.setattr(jupyter_ysync.client, "connect", connect)
    return docs


def editor_comm(comms: list[FakeComm]) -> FakeComm:
    """The editor's comm (a DOMWidget opens one for its layout too)."""
    (found,) = [c for c in comms if c.state.get("_model_name") == "EditorModel"]
    return found


def test_the_frontend_receives_the_room_and_every_option_when_the_editor_opens(comms, joined):
    Editor(
        "notes",
        height="50vh",
        read_only=True,
        placeholder="Meeting notes…",
        toolbar=False,
        user_name="Report bot",
        user_color="#e67e22",
    )
    opened = editor_comm(comms)
    assert opened.opened_with["target_name"] == "jupyter.widget"
    assert (
        opened.state.items()
        >= {
            "_model_name": "EditorModel",
            "_model_module": MODULE_NAME,
            "_model_module_version": MODULE_VERSION,
            "_view_name": "EditorView",
            "_view_module": MODULE_NAME,
            "_view_module_version": MODULE_VERSION,
            "room": "notes",
            "height": "50vh",
            "read_only": True,
            "placeholder": "Meeting notes…",
            "toolbar": False,
            "user_name": "Report bot",
            "user_color": "#e67e22",
            "status": "connecting",
        }.items()
    )
    assert joined == []  # the document travels between browser and server, not over the comm


def test_the_defaults_are_an_editable_320px_editor_with_a_toolbar_and_the_lab_identity(comms):
    Editor("notes")
    assert (
        editor_comm(comms).state.items()
        >= {
            "height": "320px",
            "read_only": False,
            "placeholder": "",
            "toolbar": True,
            "user_name": None,
            "user_color": None,
        }.items()
    )


def test_an_option_changed_in_python_is_sent_to_the_frontend(comms):
    editor = Editor("notes")
    sent = editor_comm(comms).sent
    sent.clear()
    editor.read_only = True
    editor.room = "team:plan"
    assert [message["state"] for message in sent] == [{"read_only": True}, {"room": "team:plan"}]
    assert all(message["method"] == "update" for message in sent)


def test_an_invalid_room_name_is_refused_with_the_rule_and_nothing_is_sent(comms):
    with pytest.raises(InvalidRoomName, match=r"'a b'.*A-Z a-z 0-9"):
        Editor("a b")
    assert not any(c.state.get("_model_name") == "EditorModel" for c in comms)

    editor = Editor("notes")
    sent = editor_comm(comms).sent
    sent.clear()
    with pytest.raises(InvalidRoomName, match=r"'\.\.'"):
        editor.room = ".."
    assert editor.room == "notes"
    assert sent == []


def test_the_status_is_what_the_frontend_reports(comms):
    editor = Editor("notes")
    editor_comm(comms).from_frontend({"status": "synced"})
    assert editor.status == "synced"
    assert repr(editor) == "Editor(room='notes', status='synced')"


def test_the_kernel_peer_joins_the_room_on_first_use_and_only_once(comms, joined):
    editor = Editor("notes")
    repr(editor)
    assert joined == []  # neither creating nor showing the editor connects

    assert editor.text == "<text of notes>"
    assert editor.doc is joined[0]
    assert [doc.room for doc in joined] == ["notes"]


def test_moving_to_another_room_closes_the_peer_and_joins_the_new_room_lazily(comms, joined):
    editor = Editor("notes")
    first = editor.doc
    editor.room = "team:plan"
    assert first.closed
    assert len(joined) == 1  # not before it is used

    assert editor.doc.room == "team:plan"
    assert [doc.room for doc in joined] == ["notes", "team:plan"]


def test_close_closes_the_peer_and_the_widget_in_every_frontend(comms, joined):
    editor = Editor("notes")
    peer = editor.doc
    editor.close()
    assert peer.closed
    assert editor_comm(comms).closed

    unused = Editor("other")
    unused.close()
    assert [doc.room for doc in joined] == ["notes"]  # closing never connects
