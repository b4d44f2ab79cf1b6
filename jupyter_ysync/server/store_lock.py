"""The advisory lock beside a store's file: servers share it, offline tools take it alone.

A server's :class:`~.store.SQLiteStore` holds ``<store>.lock`` shared for as long as it is
open; ``jupyter ysync --store`` takes it exclusively, so that it never changes a store a
running server holds (SQLite would allow it, but the server's rooms in memory would not see
the change, and would write over a deletion). POSIX ``flock`` locks are released by the
operating system when their process ends, even on ``kill -9``: a crashed server never leaves
its store locked. Where ``fcntl`` is missing (Windows), nothing is locked.
"""

from __future__ import annotations

import logging
from pathlib import Path
from typing import BinaryIO

__all__ = [
    "StoreBusy",
    "exclusive_store",
    "lock_path",
    "lock_store",
    "release_store",
    "share_store",
]

log = logging.getLogger(__name__)

_HELD_HERE: set[Path] = set()
"""Stores this process holds exclusively: its own stores open on them without a lock (flock
would refuse them, as it refuses another process)."""


class StoreBusy(BlockingIOError):
    """Another process holds the store: a server (for an offline tool), or an offline tool."""


def lock_path(store: str | Path) -> Path:
    """The lock file of the store at ``store``."""
    store = Path(store)
    return store.with_name(store.name + ".lock")


def lock_store(store: str | Path, *, exclusive: bool) -> BinaryIO | None:
    """Take the store's lock without waiting; close the returned file to release it.

    Returns:
        The open lock file, or None where locks are not supported.

    Raises:
        StoreBusy: a process holds the lock in a conflicting mode.
    """
    try:
        import fcntl
    except ImportError:  # pragma: no cover - Windows
        return None
    handle = open(lock_path(store), "ab")  # noqa: SIM115 - the caller keeps it open
    try:
        fcntl.flock(handle, (fcntl.LOCK_EX if exclusive else fcntl.LOCK_SH) | fcntl.LOCK_NB)
    except BlockingIOError:
        handle.close()
        raise StoreBusy(f"{store} is in use by another process") from None
    except BaseException:
        handle.close()
        raise
    return handle


def exclusive_store(store: str | Path) -> BinaryIO | None:
    """An offline tool's hold on a store: exclusive; release it with :func:`release_store`.

    Raises:
        StoreBusy: a server (or another tool) holds the store.
    """
    handle = lock_store(store, exclusive=True)
    _HELD_HERE.add(Path(store).resolve())
    return handle


def release_store(store: str | Path, handle: BinaryIO | None) -> None:
    """Release what :func:`exclusive_store` took."""
    _HELD_HERE.discard(Path(store).resolve())
    if handle is not None:
        handle.close()


def share_store(store: str | Path) -> BinaryIO | None:
    """A server's hold on its store: shared, and never a reason not to open it.

    If an offline tool holds the store at that moment, the server opens it all the same (SQLite
    keeps both consistent) and says so.
    """
    if Path(store).resolve() in _HELD_HERE:  # this process's own offline tool: no conflict
        return None
    try:
        return lock_store(store, exclusive=False)
    except StoreBusy:
        log.warning(
            "The room store %s is being changed by an offline `jupyter ysync --store` command;"
            " opening it anyway. Rooms it changes now may need a server restart to show it.",
            store,
        )
    except OSError as error:  # a read-only folder: the store itself will say what is wrong
        log.debug("No lock beside the room store %s: %s", store, error)
    return None
