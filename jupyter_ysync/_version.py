"""The package version, read from the installed distribution."""

from __future__ import annotations

from importlib.metadata import PackageNotFoundError, version

try:
    __version__ = version("jupyter_ysync")
except PackageNotFoundError:  # running from a source tree
    __version__ = "0.0.0"
