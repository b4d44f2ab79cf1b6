"""An asyncio event loop in a background thread, for work that must go on while the user's
thread is busy (a cell looping with ``time.sleep``)."""

from __future__ import annotations

import asyncio
import contextlib
import threading
from collections.abc import Callable, Coroutine
from typing import Any


class BackgroundLoop:
    """Runs one coroutine on its own event loop in a daemon thread.

    Example::

        loop = BackgroundLoop("ysync-transport")
        loop.start(main())                  # returns once the loop runs
        loop.call_soon(callback, argument)  # from any thread
        loop.join(timeout=5)
    """

    loop: asyncio.AbstractEventLoop | None
    _thread: threading.Thread
    _started: threading.Event
    _tasks: set[asyncio.Task[Any]]

    def __init__(self, name: str) -> None:
        self.loop = None
        self._name = name
        self._started = threading.Event()
        self._tasks = set()

    def start(self, main: Callable[[], Coroutine[Any, Any, None]]) -> None:
        """Start the thread running ``main()``; return once its loop is running."""
        self._thread = threading.Thread(target=self._run, args=(main,), name=self._name)
        self._thread.daemon = True
        self._thread.start()
        self._started.wait()

    def _run(self, main: Callable[[], Coroutine[Any, Any, None]]) -> None:
        loop = self.loop = asyncio.new_event_loop()
        asyncio.set_event_loop(loop)
        loop.call_soon(self._started.set)
        try:
            loop.run_until_complete(main())
        finally:
            loop.close()

    def call_soon(self, callback: Callable[..., Any], *args: Any) -> None:
        """Run ``callback(*args)`` on the loop, from any thread; nothing once it has closed."""
        loop = self.loop
        if loop is not None and not loop.is_closed():
            with contextlib.suppress(RuntimeError):  # the loop closed meanwhile
                loop.call_soon_threadsafe(callback, *args)

    def spawn(self, coroutine: Coroutine[Any, Any, None]) -> None:
        """Run ``coroutine`` as a task of the loop (on the loop's thread), keeping it alive."""
        task = asyncio.ensure_future(coroutine)
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)

    def join(self, timeout: float) -> None:
        """Wait up to ``timeout`` seconds for the thread to end."""
        if self.loop is not None:
            self._thread.join(timeout)
