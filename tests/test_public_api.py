"""The package's public surface and the import arrows between its layers."""

from __future__ import annotations

import subprocess
import sys
import types

import pytest

import jupyter_ysync

PUBLIC = [
    "AuthenticationFailed",
    "ChangeEvent",
    "ConnectionFailed",
    "ConnectionStatus",
    "Editor",
    "FileRefused",
    "InvalidRoomName",
    "ReadOnlyError",
    "RichText",
    "RoomNotFound",
    "ServerNotFound",
    "SharedDocument",
    "YSyncError",
    "__version__",
    "connect",
]


def test_all_is_pinned_and_every_name_in_it_imports():
    assert sorted(jupyter_ysync.__all__) == PUBLIC
    for name in PUBLIC:
        assert getattr(jupyter_ysync, name) is not None


def test_every_public_attribute_is_exported():
    """Anything without an underscore that is not a subpackage is in __all__ (as httpx does)."""
    names = {
        name
        for name, value in vars(jupyter_ysync).items()
        if not name.startswith("_") and not isinstance(value, types.ModuleType)
    }
    names.discard("annotations")  # from __future__
    names.discard("TYPE_CHECKING")
    names.discard("Any")
    assert names <= set(PUBLIC)


# module -> modules it must never load, however it is imported
CONTRACT = {
    "jupyter_ysync.protocol": ["tornado", "jupyter_server"],
    "jupyter_ysync.server.store": ["tornado", "jupyter_server"],
    "jupyter_ysync.server.room": ["tornado", "jupyter_server"],
    "jupyter_ysync.server.manager": ["tornado", "jupyter_server"],
    "jupyter_ysync.client": ["jupyter_ysync.server", "tornado", "jupyter_server"],
    "jupyter_ysync.client._transport": ["jupyter_ysync.richtext"],
    "jupyter_ysync": ["jupyter_ysync.server", "ipywidgets", "markdown_it"],
}


@pytest.mark.parametrize(("module", "forbidden"), CONTRACT.items(), ids=list(CONTRACT))
def test_import_contract(module: str, forbidden: list[str]):
    """Checked in a fresh interpreter: this process has everything loaded already."""
    code = (
        f"import sys, {module}\n"
        f"bad = [m for m in {forbidden!r} if m in sys.modules]\n"
        "print(','.join(bad))\n"
    )
    result = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, check=True, timeout=60
    )
    assert result.stdout.strip() == "", f"importing {module} loaded {result.stdout.strip()}"
