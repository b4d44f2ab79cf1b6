"""The ``Editor`` ipywidget: a live rich-text editor on a room.

Twin of ``labextension/src/widget.ts``. The widget comm carries only the
options below; the document travels over the room's websocket, between the
browser and the Jupyter server, so a busy kernel never delays the editor.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from ipywidgets import DOMWidget
from traitlets import Bool, Unicode, observe, validate

from ._frontend import MODULE_NAME, MODULE_VERSION
from .protocol import ROOM_NAME_RULE, validate_room_name

if TYPE_CHECKING:
    from traitlets.utils.bunch import Bunch

    from .client import SharedDocument
    from .richtext import RichText

__all__ = ["Editor"]


class Editor(DOMWidget):
    """A shared rich-text editor (Quill) on a room, shown in notebook outputs.

    Everyone who displays an editor on the same room, or joins it with
    :func:`jupyter_ysync.connect`, edits the same document live.

    Example::

        from jupyter_ysync import Editor

        editor = Editor("notes", height="240px", placeholder="Meeting notes…")
        editor                                # display it (last expression of a cell)
        editor.text.insert(0, "Agenda\\n", {"header": 1})  # edit it from Python
        editor.read_only = True               # freeze the view in the browser

    Args:
        room: the room name (see :attr:`room`).
        **kwargs: initial values of the other traits.
    """

    _model_name = Unicode("EditorModel").tag(sync=True)
    _model_module = Unicode(MODULE_NAME).tag(sync=True)
    _model_module_version = Unicode(MODULE_VERSION).tag(sync=True)
    _view_name = Unicode("EditorView").tag(sync=True)
    _view_module = Unicode(MODULE_NAME).tag(sync=True)
    _view_module_version = Unicode(MODULE_VERSION).tag(sync=True)

    room = Unicode(
        help=f"The room name: {ROOM_NAME_RULE}. Changing it moves the editor to another room."
    ).tag(sync=True)
    height = Unicode(
        "320px", help="The editor's height, a CSS length such as '320px' or '50vh'."
    ).tag(sync=True)
    read_only = Bool(
        False,
        help="Forbid edits in the browser and hide the toolbar. Python edits are unaffected.",
    ).tag(sync=True)
    placeholder = Unicode("", help="Text shown while the document is empty.").tag(sync=True)
    toolbar = Bool(True, help="Show the formatting toolbar.").tag(sync=True)
    user_name = Unicode(
        None,
        allow_none=True,
        help="The name other peers see on this editor's caret; None uses JupyterLab's identity.",
    ).tag(sync=True)
    user_color = Unicode(
        None,
        allow_none=True,
        help="The caret's CSS colour, e.g. '#e67e22'; None uses JupyterLab's identity.",
    ).tag(sync=True)
    status = Unicode(
        "connecting",
        help="The browser's connection state, set by the frontend: "
        "'connecting', 'connected', 'synced' or 'disconnected'.",
    ).tag(sync=True)

    #: This kernel's own peer of the room, opened on first use of :attr:`doc`.
    _doc: SharedDocument | None = None

    def __init__(self, room: str | None = None, *, path: str | None = None, **kwargs: Any) -> None:
        """
        Args:
            room: The room to edit.
            path: Instead of ``room``: a ``.md``/``.html`` file (relative to the server's root)
                to edit as a shared document; the server saves it and merges outside edits.
            kwargs: The traits below (``height``, ``read_only``, ``placeholder``...).

        Raises:
            FileRefused: ``path`` cannot open as a shared document (see ``connect``).
        """
        if (room is None) == (path is None):
            raise TypeError("Editor() takes a room name or path=..., not both (nor neither)")
        doc = None
        if path is not None:
            from .client import connect

            doc = connect(path=path)
            room = doc.room
        super().__init__(room=room, **kwargs)
        self._doc = doc

    @validate("room")
    def _validate_room(self, proposal: Bunch) -> str:
        return validate_room_name(proposal["value"])

    @observe("room")
    def _room_changed(self, change: Bunch) -> None:
        # The kernel's peer follows the editor: reopen it lazily on the new room.
        self._close_doc()

    @property
    def doc(self) -> SharedDocument:
        """This kernel's peer of the room, connected on first access.

        Raises:
            ServerNotFound, AuthenticationFailed, ConnectionFailed: as
                :func:`jupyter_ysync.connect` does.
        """
        if self._doc is None:
            from .client import connect

            self._doc = connect(self.room)
        return self._doc

    @property
    def text(self) -> RichText:
        """The room's rich text: the same as ``editor.doc.text``."""
        return self.doc.text

    def close(self) -> None:
        """Close the widget in every frontend, and the kernel's peer if it was opened."""
        self._close_doc()
        super().close()

    def _close_doc(self) -> None:
        doc, self._doc = self._doc, None
        if doc is not None:
            doc.close()

    def __repr__(self) -> str:
        # Cheap on purpose: never connects, whatever the state of the peer.
        return f"{type(self).__name__}(room={self.room!r}, status={self.status!r})"
