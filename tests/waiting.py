"""Waiting on conditions, with a deadline, instead of sleeping a fixed time.

:func:`eventually` polls on the running event loop (its tasks, an in-process server, keep
running meanwhile); :func:`wait_until` is its blocking twin, for tests driving blocking clients.
Both return the condition's first truthy value, so a test can wait for a thing and use it::

    info = wait_until(lambda: room_info(server, "notes"), what="the room")
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Callable
from typing import TypeVar

T = TypeVar("T")

TIMEOUT = 15.0
"""Seconds to wait by default: generous, as a passing test never waits that long."""
INTERVAL = 0.01
"""Seconds between two checks of the condition."""

What = str | Callable[[], str]
"""What is awaited, for the failure message: a string, or a function giving it when needed."""


async def eventually(
    condition: Callable[[], T],
    timeout: float = TIMEOUT,
    what: What = "",
    *,
    interval: float = INTERVAL,
) -> T:
    """Poll ``condition`` on the running loop; return its first truthy value.

    Raises:
        AssertionError: naming ``what`` and the last value seen, once ``timeout`` seconds pass.
    """
    deadline = time.monotonic() + timeout
    while True:
        value = condition()
        if value:
            return value
        if time.monotonic() >= deadline:
            raise _timed_out(condition, timeout, what, value)
        await asyncio.sleep(interval)


def wait_until(
    condition: Callable[[], T],
    timeout: float = TIMEOUT,
    what: What = "",
    *,
    interval: float = INTERVAL,
) -> T:
    """Blocking twin of :func:`eventually`: poll ``condition``, return its first truthy value.

    Raises:
        AssertionError: naming ``what`` and the last value seen, once ``timeout`` seconds pass.
    """
    deadline = time.monotonic() + timeout
    while True:
        value = condition()
        if value:
            return value
        if time.monotonic() >= deadline:
            raise _timed_out(condition, timeout, what, value)
        time.sleep(interval)


def _timed_out(
    condition: Callable[[], object], timeout: float, what: What, last: object
) -> Exception:
    detail = what() if callable(what) else what
    return AssertionError(
        f"timed out after {timeout} s waiting for {detail or condition!r} (last: {last!r})"
    )
