"""The start/stop contract shared by the store, the room manager and the peer's transport."""

from __future__ import annotations

from .errors import AlreadyRunning, NotRunning


class Lifecycle:
    """Started once, stopped once: anything else is a bug, and the error says which.

    Subclasses call :meth:`_mark_started` at the top of ``start()``, :meth:`_mark_stopped` at
    the top of ``stop()``, and :meth:`_require_running` before using what ``start()`` opened.
    """

    _running: bool = False

    @property
    def running(self) -> bool:
        """Whether ``start()`` was called and ``stop()`` not yet."""
        return self._running

    def _mark_started(self) -> None:
        if self._running:
            raise AlreadyRunning(f"{type(self).__name__} is already running: start it once.")
        self._running = True

    def _mark_stopped(self) -> None:
        self._require_running()
        self._running = False

    def _require_running(self) -> None:
        if not self._running:
            raise NotRunning(f"{type(self).__name__} is not running: call start() first.")
