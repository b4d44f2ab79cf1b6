"""An asyncio load generator that speaks the y-websocket protocol v1.

Every simulated client is a full Yjs peer (``YPeer``): it holds its own pycrdt
``Doc``, runs the sync handshake (step 1 / step 2) with pycrdt's helpers and
applies every update it receives. Writers make real pycrdt edits and send the
update each edit produced; readers note when each update message arrives.

A reader applies what arrived within a few milliseconds as one merged update
(one ``Doc.apply_update`` per burst instead of one per message; every edit,
wait and check applies what is pending first). The replica is the same; the
generator just spends about 3 µs per update instead of 20, so that on two
shared cores it is not what limits the delivered updates/s. Arrival is
timestamped when its bytes are read from the socket (see ``wsclient``), before
the message is applied.

End-to-end latency needs no payload of our own: a writer inserts one
character per update, so its n-th update carries its clock ``n``. The writer
records when clock ``n`` left (``LatencyProbe.mark_sent``, same process, same
monotonic clock); a reader records when each update message arrived. After the
run, the first clock in each message's header tells which of the writer's
updates it carried: a message starting at clock ``a``, followed by one starting
at ``b``, delivered ``a..b-1``. A server that merges updates into fewer messages
is timed correctly.

Example::

    async with YPeer(url) as writer, YPeer(url, timed=True) as reader:
        probe = LatencyProbe(writer)
        await probe.send(writer.insert(0, "x"))
        await reader.wait_for_length(1, timeout=5)
        latencies = probe.latencies([reader], total=1)
"""

from __future__ import annotations

import asyncio
import bisect
import contextlib
import time
from collections.abc import Awaitable, Callable, Iterable, Sequence
from types import TracebackType
from typing import Any, TypeVar

from pycrdt import (
    Decoder,
    Doc,
    Subscription,
    Text,
    TransactionEvent,
    YMessageType,
    YSyncMessageType,
    create_sync_message,
    create_update_message,
    handle_sync_message,
    merge_updates,
    read_message,
)

from .wsclient import WebSocketClient

FLUSH_DELAY = 0.005
"""Seconds a received update may wait before the reader applies it with the next ones."""

FLUSH_MESSAGES = 256
"""Received updates that are applied at once, without waiting for ``FLUSH_DELAY``."""

ROOT = "content"
"""Name of the root ``Y.Text`` every peer edits (the project's document schema)."""

T = TypeVar("T")


class PeerError(Exception):
    """A simulated peer could not connect, sync, or reach the expected text."""


class PeerTimeout(PeerError):
    """A simulated peer did not reach the expected state in time (the server may just be slow)."""


def now() -> float:
    """The generator's clock: monotonic seconds, shared by every peer of the process."""
    return time.perf_counter()


class YPeer:
    """One y-websocket v1 client with its own pycrdt replica of the room.

    Use it as an async context manager, or call ``connect()`` and ``close()``.

    Args:
        url: the room's websocket URL.
        timed: keep ``(arrival time, message)`` of every update message in ``arrivals``.
    """

    url: str
    doc: Doc[Any]
    text: Text
    length: int
    timed: bool
    arrivals: list[tuple[float, bytes]]
    synced: asyncio.Event
    closed_reason: str | None
    _ws: WebSocketClient | None = None
    _capture: list[bytes] | None = None
    _observer: Subscription | None = None
    _inbox: list[bytes]
    _flush_timer: asyncio.TimerHandle | None = None
    _waiters: list[tuple[Callable[[], bool], asyncio.Event]]

    def __init__(self, url: str, *, timed: bool = False) -> None:
        self.url = url
        self.doc = Doc()
        self.text = self.doc.get(ROOT, type=Text)
        self.length = 0
        self.timed = timed
        self.arrivals = []
        self.synced = asyncio.Event()
        self.closed_reason = None
        self._inbox = []
        self._waiters = []

    async def __aenter__(self) -> YPeer:
        await self.connect()
        return self

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        await self.close()

    async def connect(self, timeout: float = 30.0) -> None:
        """Open the websocket and start the sync handshake (``synced`` is set on step 2).

        Raises:
            PeerError: if the websocket cannot be opened within ``timeout`` seconds.
        """
        try:
            self._ws = await WebSocketClient.connect(
                self.url, self._on_message, self._on_close, timeout=timeout
            )
        except Exception as exc:  # OSError, TimeoutError, WebSocketError
            raise PeerError(f"cannot open {self.url}: {exc!r}") from exc
        await self._ws.send(create_sync_message(self.doc))

    async def close(self) -> None:
        """Close the websocket and stop receiving."""
        if self._ws is not None:
            await self._ws.close()
        self._ws = None

    def insert(self, index: int, chunk: str) -> bytes:
        """Insert ``chunk`` at ``index`` in the replica; return the update it produced."""
        return self.edit(lambda: self.text.insert(index, chunk))

    def edit(self, change: Callable[[], object]) -> bytes:
        """Run ``change`` in one transaction on the replica; return the update it produced.

        Raises:
            PeerError: if the change produced no update (it changed nothing).
        """
        self._flush()  # edit the latest replica, as a real client would
        if self._observer is None:  # only writers pay for encoding their transactions
            self._observer = self.doc.observe(self._on_transaction)
        captured: list[bytes] = []
        self._capture = captured
        try:
            with self.doc.transaction():
                change()
        finally:
            self._capture = None
        self.length = len(self.text)
        if len(captured) != 1:
            raise PeerError(f"an edit produced {len(captured)} updates, expected 1")
        return captured[0]

    async def send(self, update: bytes) -> None:
        """Send one update to the room."""
        if self._ws is None:
            raise PeerError(f"peer of {self.url} is not connected: call connect() first")
        await self._ws.send(create_update_message(update))

    async def wait_synced(self, timeout: float) -> None:
        """Wait for the server's sync step 2.

        Raises:
            PeerError: on timeout, naming the room URL.
        """
        try:
            await asyncio.wait_for(self.synced.wait(), timeout)
        except TimeoutError as exc:
            raise PeerTimeout(f"{self.url} did not sync in {timeout} s") from exc

    async def wait_for_length(self, length: int, timeout: float) -> None:
        """Wait until the replica's text has at least ``length`` characters.

        Raises:
            PeerError: on timeout or if the connection closed first, with the length reached.
        """
        await self.wait_until(
            lambda: self.length >= length,
            timeout,
            lambda: f"text reached {self.length} of {length} characters",
        )

    async def wait_until(
        self,
        condition: Callable[[], bool],
        timeout: float,
        describe: Callable[[], str] = lambda: "condition not met",
    ) -> None:
        """Wait until ``condition()`` holds; it is checked after every change of the replica.

        Raises:
            PeerError: on timeout or if the connection closed first, saying ``describe()``.
        """
        self._flush()
        if condition():
            return
        reached = asyncio.Event()
        waiter = (condition, reached)
        self._waiters.append(waiter)
        try:
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(reached.wait(), timeout)
        finally:
            self._waiters.remove(waiter)
        if not condition():
            if self.closed_reason:
                closed = self.closed_reason
                raise PeerError(f"{self.url}: {describe()}; connection closed: {closed}")
            raise PeerTimeout(f"{self.url}: {describe()} after {timeout} s")

    def _on_transaction(self, event: TransactionEvent) -> None:
        if self._capture is not None:
            self._capture.append(event.update)

    def _on_message(self, message: bytes, arrival: float) -> None:
        if len(message) < 2 or message[0] != YMessageType.SYNC:
            return  # awareness, query-awareness, auth, custom: not measured
        if message[1] == YSyncMessageType.SYNC_UPDATE:
            if self.timed:
                self.arrivals.append((arrival, message))
            self._inbox.append(message)
            if len(self._inbox) >= FLUSH_MESSAGES:
                self._flush()
            elif self._flush_timer is None:
                loop = asyncio.get_running_loop()
                self._flush_timer = loop.call_later(FLUSH_DELAY, self._flush)
            return
        self._flush()  # keep the order of updates and handshake messages
        reply = handle_sync_message(message[1:], self.doc)
        if reply is not None:
            if self._ws is not None and not self._ws.closed:
                self._ws.send_nowait(reply)
        elif message[1] == YSyncMessageType.SYNC_STEP2:
            self.synced.set()
            self._grown()

    def _on_close(self) -> None:
        self._flush()
        ws = self._ws
        self.closed_reason = (
            f"closed with {ws.close_code} {ws.close_reason}".strip() if ws else "connection closed"
        )
        for _, reached in self._waiters:
            reached.set()  # wake waiters: they check their condition themselves

    def _flush(self) -> None:
        if self._flush_timer is not None:
            self._flush_timer.cancel()
            self._flush_timer = None
        if not self._inbox:
            return
        updates = [read_message(message[2:]) for message in self._inbox]
        self._inbox = []
        self.doc.apply_update(updates[0] if len(updates) == 1 else merge_updates(*updates))
        self._grown()

    def _grown(self) -> None:
        self.length = len(self.text)
        for condition, reached in self._waiters:
            if condition():
                reached.set()


class LatencyProbe:
    """Send times of one writer's one-character updates, matched to their arrival at readers."""

    writer: YPeer
    sent_at: list[float]

    def __init__(self, writer: YPeer) -> None:
        self.writer = writer
        self.sent_at = []

    async def send(self, update: bytes) -> None:
        """Send the writer's next one-character update and record when it left."""
        self.sent_at.append(now())
        await self.writer.send(update)

    def latencies(self, readers: Iterable[YPeer], total: int) -> tuple[list[float], float]:
        """Match the readers' arrivals to the send times.

        Args:
            readers: peers created with ``timed=True``.
            total: the number of updates the writer sent.

        Returns:
            One latency (seconds) per reader and update, and the last arrival time.
        """
        client = self.writer.doc.client_id
        samples: list[float] = []
        last = 0.0
        for reader in readers:
            starts: list[tuple[int, float]] = []
            for arrival, message in reader.arrivals:
                first = first_clock(read_message(message[2:]), client)
                if first is not None:
                    starts.append((first, arrival))
            starts.sort()
            clocks = [first for first, _ in starts]
            for clock in range(min(total, len(self.sent_at))):
                index = bisect.bisect_right(clocks, clock) - 1
                if index >= 0:
                    arrival = starts[index][1]
                    samples.append(arrival - self.sent_at[clock])
                    last = max(last, arrival)
        return samples, last


def first_clock(update: bytes, client: int) -> int | None:
    """Return the first clock of ``client`` in a Yjs v1 update, if the update starts with it.

    The header of an update is ``[clients][structs][client][clock]`` (lib0 var-uints).
    """
    decoder = Decoder(update)
    if decoder.read_var_uint() == 0:
        return None
    decoder.read_var_uint()  # number of structs of the first client
    if decoder.read_var_uint() != client:
        return None
    return decoder.read_var_uint()


async def connect_all(
    urls: Iterable[str], *, concurrency: int = 32, timeout: float = 60.0, timed: bool = False
) -> list[YPeer]:
    """Connect one peer per URL, at most ``concurrency`` at a time, and wait until all synced.

    Raises:
        PeerError: if one fails; the others are closed.
    """
    peers = [YPeer(url, timed=timed) for url in urls]
    limit = asyncio.Semaphore(concurrency)

    async def join(peer: YPeer) -> None:
        async with limit:
            await peer.connect(timeout)
            await peer.wait_synced(timeout)

    try:
        await gather_all(join(peer) for peer in peers)
    except BaseException:
        await close_all(peers)
        raise
    return peers


async def close_all(peers: Iterable[YPeer]) -> None:
    """Close every peer, concurrently."""
    await asyncio.gather(*(peer.close() for peer in peers), return_exceptions=True)


async def gather_all(awaitables: Iterable[Awaitable[T]]) -> list[T]:
    """Run awaitables concurrently; on the first failure cancel the rest and raise it."""
    tasks = [asyncio.ensure_future(aw) for aw in awaitables]
    try:
        return list(await asyncio.gather(*tasks))
    except BaseException:
        for task in tasks:
            task.cancel()
        await asyncio.gather(*tasks, return_exceptions=True)
        raise


def convergence(peers: Sequence[YPeer], expected: str | int) -> tuple[bool, str]:
    """Check that every peer holds the same text, of the expected content or length.

    Returns:
        ``(True, "")``, or ``(False, reason)`` naming the first peer that differs.
    """
    texts = [str(peer.text) for peer in peers]
    if isinstance(expected, int):
        want = f"{expected} characters"
        matches = [len(text) == expected for text in texts]
    else:
        want = f"the expected {len(expected)}-character text"
        matches = [text == expected for text in texts]
    for index, ok in enumerate(matches):
        if not ok:
            return False, f"peer {index} has {len(texts[index])} characters, not {want}"
    first = texts[0] if texts else ""
    for index, text in enumerate(texts):
        if text != first:
            return False, f"peer {index} differs from peer 0"
    return True, ""
