"""The room server: a jupyter_server extension hosting collaboration rooms."""

from .app import YSyncApp

__all__ = ["YSyncApp"]
