"""A room: one server replica of a Yjs document, its awareness, and its peers.

A :class:`Room` speaks the y-websocket protocol v1 with each :class:`Peer`.
Updates that arrive in one event-loop tick are applied to the replica, merged
into one update, committed to the store and only then written to every other
peer, each outgoing message encoded (and framed) once for all of them.

Nothing here knows about tornado: a peer is anything with ``send_frame`` and
``close``; the handler supplies the framing function.
"""

from __future__ import annotations

import asyncio
import contextlib
import ctypes
import ctypes.util
import logging
import sys
import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, Protocol

from pycrdt import (
    Awareness,
    Doc,
    TransactionEvent,
    YSyncMessageType,
    create_awareness_message,
    create_sync_message,
    create_update_message,
    merge_updates,
)

from ..errors import MalformedMessage
from ..protocol import (
    EMPTY_STATE,
    EMPTY_UPDATE,
    CloseCode,
    MessageType,
    encode_awareness,
    parse_awareness,
    parse_message,
    parse_state_vector,
    permission_denied_message,
    write_var_uint,
)
from ..updates import REPLAY_BATCH, UpdateShape, replay, scan_update
from .events import NO_EVENTS, RoomEvents, transport_of
from .metrics import MALFORMED_MESSAGES, UPDATES_RECEIVED, UPDATES_SENT
from .store import Store

if TYPE_CHECKING:
    pass


READ_ONLY_REASON = "read-only: you may read this room but your changes are not saved or shared"

MAX_HELD_UPDATES = 256
"""Updates of one peer that may wait for content they build on (see :meth:`Room.receive`)."""

MAX_HELD_BYTES = 16 * 1024 * 1024
"""Bytes of one peer's updates that may wait for content they build on."""

MAX_AWARENESS_CLIENTS = 64
"""Awareness client ids one connection may announce (a browser tab or a kernel uses one)."""

__all__ = ["REMOTE", "SERVER", "MalformedMessage", "Peer", "Room"]


class Peer(Protocol):
    """One connection to a room, as the room sees it."""

    name: str
    """Who and where, for log lines."""
    can_write: bool
    """False for read-only connections: their updates are dropped."""

    def send_frame(self, frame: bytes) -> None:
        """Queue an already framed message; never blocks."""

    def close(self, code: int, reason: str) -> None:
        """Close the connection with a websocket close code."""


@dataclass(eq=False)
class _PeerState:
    client_ids: set[int] = field(default_factory=set)
    """Awareness client ids this peer has announced."""
    told_read_only: bool = False
    held: list[tuple[bytes, UpdateShape]] = field(default_factory=list)
    """Updates that build on content the replica does not have yet, in arrival order."""
    held_bytes: int = 0


_Pending = tuple[Peer, "YSyncMessageType | None", bytes, "UpdateShape | None"]


class _ServerPeer:
    """The server itself as the author of an update (a file import or merge): never sent to."""

    name = "server"
    can_write = True

    def send_frame(self, frame: bytes) -> None:
        pass

    def close(self, code: int, reason: str) -> None:
        pass


SERVER: Peer = _ServerPeer()
"""The peer :meth:`Room.submit` attributes the server's own updates to."""


class _RemotePeer(_ServerPeer):
    """Another server of the same rooms (Redis mode): its updates are not published again."""

    name = "remote"


REMOTE: Peer = _RemotePeer()
"""The peer :meth:`Room.submit_remote` attributes other servers' updates to."""


def _malloc_trim() -> Callable[[int], int] | None:
    with contextlib.suppress(OSError, AttributeError, TypeError):
        return ctypes.CDLL(ctypes.util.find_library("c"), use_errno=True).malloc_trim
    return None


_MALLOC_TRIM = _malloc_trim() if sys.platform.startswith("linux") else None


def release_free_memory() -> None:
    """Give the heap pages freed since to the operating system (glibc only).

    glibc keeps freed pages for reuse: after compacting a 10 or 20 MiB room, the server's RSS
    stayed 20 or 40 MiB higher for good (benchmarks/, compaction scenario).
    """
    if _MALLOC_TRIM is not None:
        _MALLOC_TRIM(0)


def join_parts(*parts: bytes) -> bytes:
    """The framing of a room whose peers need none: the message's parts, joined."""
    return b"".join(parts)


def _is_panic(error: BaseException) -> bool:
    """Whether ``error`` is a Rust panic raised through pyo3 (a BaseException, not an Exception)."""
    return type(error).__name__ == "PanicException"


class Room:
    """A room: the server replica of one document, its awareness and its peers.

    Invariant: what the replica holds, the store holds, and every peer is sent. An update
    is checked (:func:`scan_update`) before Yrs sees it; one that builds on content the
    replica lacks (a gap in a client's clocks, an origin or deletion not received yet) waits,
    as Yjs keeps such structs pending, until that content arrives. Whatever one peer's
    update raises closes that peer alone with 4400; nothing else in the batch is lost.

    Example::

        room = Room("notes", store)
        room.load(await store.load("notes"))
        room.add_peer(peer)
        room.receive(peer, message)   # for every message the peer sends
        room.remove_peer(peer)
    """

    name: str
    doc: Doc[Any]
    awareness: Awareness
    peers: dict[Peer, _PeerState]
    last_modified: float
    compact_after: int
    _store: Store
    _frame: Callable[..., bytes]
    _pending: list[_Pending]
    _flusher: asyncio.Task[None] | None
    _sv_message: bytes | None
    _full_update_message: bytes | None
    _state: dict[int, int] | None
    events: RoomEvents = NO_EVENTS
    """Where peers joining and leaving are told (the manager gives the server's)."""

    def __init__(
        self,
        name: str,
        store: Store,
        *,
        frame: Callable[..., bytes] = join_parts,
        on_empty: Callable[[Room], None] | None = None,
        compact_after: int = 0,
        log: logging.Logger | None = None,
    ) -> None:
        """
        Args:
            name: The room's name.
            store: Where accepted updates are appended.
            frame: Turns a message, given as one or more parts, into the bytes written to
                every peer (websocket framing), joining the parts in one copy.
            on_empty: Called when the last peer leaves.
            compact_after: Replace the stored log by the replica's encoding once it holds
                more rows than this (0: never).
            log: Logger for joins, refusals and store failures.
        """
        self.name = name
        self.doc = Doc()
        self.awareness = Awareness(self.doc)
        self.awareness.set_local_state(None)  # the server itself is not a participant
        self.awareness.observe(self._on_awareness)
        self.peers = {}
        self.last_modified = 0.0
        self.compact_after = compact_after
        self._store = store
        self._frame = frame
        self._on_empty = on_empty
        self._log = log or logging.getLogger(__name__)
        self._pending = []
        self._flusher = None
        self._sv_message = None
        self._full_update_message = None
        self._failed: BaseException | None = None
        self._integrated = EMPTY_UPDATE
        self._state = None
        self._refused: set[Peer] = set()
        self.doc.observe(self._capture)
        self.on_state_vector: Callable[[Peer, dict[int, int]], None] | None = None
        """Called with each peer's state vector (sync step 1) before it is answered."""
        self.on_applied: Callable[[list[Peer]], None] | None = None
        """Called with the authors of every batch of updates once it is stored and sent."""
        self.on_joined: Callable[[Peer], None] | None = None
        """Called after a peer joined and was sent the room's state vector and awareness."""
        self.on_integrated: list[Callable[[Peer, list[int]], None]] = []
        """Each called as soon as a peer's updates changed the replica, with the peer and the
        client ids whose structs they added (empty for deletions only): who wrote what."""
        self.publish: Callable[[bytes], Awaitable[None]] | None = None
        """Awaited with each batch's update made on this server (not :data:`REMOTE`), once
        stored and before any peer is sent it: how other servers get it (Redis mode)."""
        self.on_awareness: Callable[[bytes], None] | None = None
        """Called with every awareness update of this server's peers (joins, changes, leaves),
        as relayed to them: how other servers get it (Redis mode)."""
        self._remote_clients: dict[str, set[int]] = {}
        self.version = 0
        """Counts the batches of updates stored and sent (see :meth:`wait_changed`)."""
        self.awareness_version = 0
        """Counts the awareness changes relayed."""
        self._changed = asyncio.Event()

    def load(self, updates: list[bytes], last_modified: float = 0.0) -> None:
        """Replay the stored log into the (empty) replica."""
        # Not merge_updates(): it grows quadratically with the number of updates (20k took
        # 14 s); replay() integrates them in turn, a few hundred per transaction.
        replay(self.doc, updates)
        self._state = None
        self.last_modified = last_modified

    def _capture(self, event: TransactionEvent) -> None:
        self._integrated = event.update

    # -- peers -----------------------------------------------------------------------------

    def add_peer(self, peer: Peer) -> None:
        """Join a peer: send the server's state vector (two-way sync) and the awareness."""
        self.peers[peer] = _PeerState()
        peer.send_frame(self._state_vector_frame())
        if self.awareness.states:
            update = self.awareness.encode_awareness_update(list(self.awareness.states))
            peer.send_frame(self._frame(create_awareness_message(update)))
        if self.on_joined is not None:
            self.on_joined(peer)
        self._log.debug("Peer %s joined room %s (%d peers)", peer.name, self.name, len(self.peers))
        self.events.peer_joined(self.name, peer, len(self.peers))

    def remove_peer(self, peer: Peer) -> None:
        """Leave: clear the peer's awareness states for everyone else, drop what it held."""
        state = self.peers.pop(peer, None)
        self._refused.discard(peer)
        if state is None:
            return
        gone = [cid for cid in state.client_ids if cid in self.awareness.states]
        if gone:
            self.awareness.remove_awareness_states(gone, origin=None)
            removal = self.awareness.encode_awareness_update(gone)
            self._broadcast(self._frame(create_awareness_message(removal)), exclude=None)
            self.awareness_version += 1
            self._wake()
            if self.on_awareness is not None:
                self.on_awareness(removal)
        self._log.debug("Peer %s left room %s (%d peers)", peer.name, self.name, len(self.peers))
        self.events.peer_left(self.name, peer, len(self.peers))
        if not self.peers and self._on_empty is not None:
            self._on_empty(self)

    def close_peers(self, code: int, reason: str) -> None:
        """Close every peer's connection."""
        for peer in list(self.peers):
            peer.close(code, reason)

    @property
    def failed(self) -> bool:
        """Whether the store refused an update: the replica may hold unsaved content."""
        return self._failed is not None

    @property
    def busy(self) -> bool:
        """Whether updates are still on their way to the store."""
        return bool(self._pending) or self._flusher is not None

    async def flushed(self) -> None:
        """Wait until every update received so far is stored and sent."""
        while self._flusher is not None:
            await asyncio.gather(self._flusher, return_exceptions=True)

    def held(self, peer: Peer) -> int:
        """How many of ``peer``'s updates wait for content they build on."""
        state = self.peers.get(peer)
        return len(state.held) if state else 0

    # -- messages --------------------------------------------------------------------------

    def receive(self, peer: Peer, message: bytes) -> None:
        """Handle one message from a peer.

        Raises:
            MalformedMessage: the peer must be closed with 4400; the room is unaffected.
        """
        if peer in self._refused:
            return  # closed for bad input: not heard again
        kind, subtype, payload = parse_message(message)
        if kind == MessageType.SYNC:
            if subtype == YSyncMessageType.SYNC_STEP1:
                state = parse_state_vector(payload)  # answered once the batch is applied
                if self.on_state_vector is not None:
                    self.on_state_vector(peer, state)
                self._enqueue((peer, subtype, payload, None))
            elif payload == EMPTY_UPDATE:
                pass
            elif peer.can_write:
                self._enqueue((peer, subtype, payload, scan_update(payload)))
                UPDATES_RECEIVED.inc()
            else:
                self._refuse_write(peer)
        elif kind == MessageType.AWARENESS:
            self._receive_awareness(peer, payload)
        elif kind == MessageType.QUERY_AWARENESS:
            update = self.awareness.encode_awareness_update(list(self.awareness.states))
            peer.send_frame(self._frame(create_awareness_message(update)))

    async def wait_changed(self, version: int, awareness_version: int, timeout: float) -> bool:
        """Wait until :attr:`version` or :attr:`awareness_version` differs from those given,
        for at most ``timeout`` seconds; return whether it did. No task or thread per waiter:
        every waiter shares one event, set once per change."""
        loop = asyncio.get_running_loop()
        deadline = loop.time() + timeout
        while self.version == version and self.awareness_version == awareness_version:
            remaining = deadline - loop.time()
            if remaining <= 0:
                return False
            with contextlib.suppress(asyncio.TimeoutError):
                await asyncio.wait_for(self._changed.wait(), remaining)
        return True

    def _wake(self) -> None:
        self._changed.set()
        self._changed = asyncio.Event()  # the next change wakes the next waiters

    def submit(self, update: bytes) -> None:
        """Integrate, store and send an update the server made itself (see :data:`SERVER`).

        It joins the pipeline behind what peers sent before; await :meth:`flushed` to know it
        is stored and sent.
        """
        if update != EMPTY_UPDATE:
            self._enqueue((SERVER, YSyncMessageType.SYNC_UPDATE, update, scan_update(update)))

    def submit_remote(self, update: bytes) -> None:
        """Integrate, store and send an update another server of this room made (Redis mode).

        Like :meth:`submit`, but it is not published again (see :attr:`publish`). An update
        that builds on content this replica lacks is dropped, not held: the caller resyncs.
        """
        if update != EMPTY_UPDATE:
            self._enqueue((REMOTE, YSyncMessageType.SYNC_UPDATE, update, scan_update(update)))

    def apply_remote_awareness(self, server: str, update: bytes) -> None:
        """Relay an awareness update from another server's peers to this server's peers."""
        entries = parse_awareness(update)
        clients = self._remote_clients.setdefault(server, set())
        for entry in entries:
            if entry.state == "null":
                clients.discard(entry.client)
            else:
                clients.add(entry.client)
        encoded = encode_awareness(entries)
        self.awareness.apply_awareness_update(encoded, origin=REMOTE)
        self._broadcast(self._frame(create_awareness_message(encoded)), exclude=None)
        self.awareness_version += 1
        self._wake()

    def forget_server(self, server: str) -> None:
        """Clear the awareness states of another server's peers (it died or left)."""
        gone = [c for c in self._remote_clients.pop(server, set()) if c in self.awareness.states]
        if gone:
            self.awareness.remove_awareness_states(gone, origin=None)
            message = create_awareness_message(self.awareness.encode_awareness_update(gone))
            self._broadcast(self._frame(message), exclude=None)
            self.awareness_version += 1
            self._wake()

    def set_server_state(self, state: dict[str, Any] | None) -> None:
        """Publish (or clear, with None) the server's own awareness state to every peer.

        Yjs peers drop a state not renewed for 30 s: call again every 15 s to keep it.
        """
        self.awareness.set_local_state(state)
        update = self.awareness.encode_awareness_update([self.doc.client_id])
        self._broadcast(self._frame(create_awareness_message(update)), exclude=None)
        self.awareness_version += 1
        self._wake()

    def _receive_awareness(self, peer: Peer, payload: bytes) -> None:
        entries = parse_awareness(payload)
        state = self.peers.get(peer)
        if state is not None:
            announced = state.client_ids | {e.client for e in entries if e.state != "null"}
            if len(announced) > MAX_AWARENESS_CLIENTS:
                raise MalformedMessage(
                    f"more than {MAX_AWARENESS_CLIENTS} awareness client ids on one connection"
                )
        # Relay what was parsed, re-encoded: never bytes a Yjs peer would throw on.
        update = encode_awareness(entries)
        self.awareness.apply_awareness_update(update, origin=peer)
        self.awareness_version += 1
        self._wake()
        if self.on_awareness is not None:
            self.on_awareness(update)
        # Back to the sender too, as the reference server does: a peer alone in a
        # room would otherwise hear nothing and y-websocket reconnects after 30 s.
        self._broadcast(self._frame(create_awareness_message(update)), exclude=None)

    def _refuse_write(self, peer: Peer) -> None:
        state = self.peers.get(peer)
        if state is not None and not state.told_read_only:
            state.told_read_only = True
            peer.send_frame(self._frame(permission_denied_message(READ_ONLY_REASON)))
            self._log.info("Dropped updates of read-only peer %s in room %s", peer.name, self.name)

    def _refuse(self, peer: Peer, reason: str) -> None:
        """Close a peer for bad input: it is not heard again, what it held is dropped."""
        self._refused.add(peer)
        state = self.peers.get(peer)
        if state is not None:
            state.held.clear()
            state.held_bytes = 0
        self._log.warning("Refused peer %s in room %s: %s", peer.name, self.name, reason)
        MALFORMED_MESSAGES.labels(transport_of(peer)).inc()
        peer.close(CloseCode.MALFORMED, reason)

    def _on_awareness(self, topic: str, changes: tuple[dict[str, Any], Any]) -> None:
        if topic != "update":
            return
        change, origin = changes
        state = self.peers.get(origin)
        if state is not None:
            state.client_ids.update(change["added"], change["updated"])
            state.client_ids.difference_update(change["removed"])

    # -- the update pipeline ---------------------------------------------------------------

    def _enqueue(self, item: _Pending) -> None:
        self._pending.append(item)
        if self._flusher is None:
            self._flusher = asyncio.get_running_loop().create_task(self._flush())

    async def _flush(self) -> None:
        """Apply, persist, then fan out everything that arrived, batch after batch.

        The task starts on the next loop iteration, so all the messages read in
        the current one form its first batch; while a batch is being committed
        the next one accumulates.
        """
        try:
            while self._pending:
                batch, self._pending = self._pending, []
                await self._process(batch)
        except Exception as error:  # the store failed: nothing unsaved may be served
            self._failed = error
            self._log.exception("Room %s could not save updates; closing its peers", self.name)
            self.close_peers(
                CloseCode.INTERNAL_ERROR, "the server could not save the room; reconnect to resync"
            )
        finally:
            self._flusher = None

    def _replica_state(self) -> dict[int, int]:
        if self._state is None:
            self._state = parse_state_vector(self.doc.get_state())
        return self._state

    async def _process(self, batch: list[_Pending]) -> None:
        applied: list[tuple[Peer, bytes]] = []
        step1: list[tuple[Peer, bytes]] = []
        failed: set[Peer] = set()
        index, end = 0, len(batch)
        while index < end:
            peer, subtype, payload, shape = batch[index]
            index += 1
            if subtype == YSyncMessageType.SYNC_STEP1:
                step1.append((peer, payload))
                continue
            assert shape is not None
            # A run of updates from one peer is integrated in one transaction, whose update
            # is already their merge: no separate merge, one encoding.
            run = [(payload, shape)]
            while (
                index < end
                and len(run) < REPLAY_BATCH  # a commit's cost grows with its square
                and batch[index][0] is peer
                and batch[index][1] != YSyncMessageType.SYNC_STEP1
            ):
                run.append((batch[index][2], batch[index][3]))  # type: ignore[arg-type]
                index += 1
            if peer in failed:
                continue  # its update failed earlier in this batch: the rest builds on it
            # A peer that left since, or was refused for a later message, is no reason to
            # drop the updates it sent before: they were valid.
            if not self._integrate(peer, run, applied):
                failed.add(peer)
        if applied:
            self._release_held(applied)
            self._sv_message = self._full_update_message = None
            update = applied[0][1] if len(applied) == 1 else merge_updates(*(u for _, u in applied))
            rows = await self._store.append(self.name, update)
            self.last_modified = time.time()
            if self.publish is not None:
                local = [u for p, u in applied if p is not REMOTE]
                if local:
                    await self.publish(local[0] if len(local) == 1 else merge_updates(*local))
            self._fan_out(applied, update)
            self.version += 1
            self._wake()
            if self.on_applied is not None:
                self.on_applied([peer for peer, _ in applied])
            if self.compact_after and rows > self.compact_after:
                # Now the replica holds exactly what the store holds, and the next batch
                # waits: the log can be replaced by the replica's encoding.
                await self.compact()
        for peer, state in step1:
            if peer in self.peers and peer not in self._refused:
                peer.send_frame(self._step2_frame(state))

    def _integrate(
        self, peer: Peer, run: list[tuple[bytes, UpdateShape]], applied: list[tuple[Peer, bytes]]
    ) -> bool:
        """Apply what of ``run`` the replica can integrate and hold the rest; on an error,
        refuse the peer and return False."""
        peer_state = self.peers.get(peer)
        replica = self._replica_state()
        self._integrated = EMPTY_UPDATE
        error: BaseException | None = None
        written: list[int] = []
        with self.doc.transaction():
            for update, shape in run:
                if shape.missing(replica):
                    if peer_state is not None:  # a peer that left resends on reconnect
                        peer_state.held.append((update, shape))
                        peer_state.held_bytes += len(update)
                    continue
                try:
                    self.doc.apply_update(update)
                except BaseException as bad:
                    if not isinstance(bad, Exception) and not _is_panic(bad):
                        raise
                    error = bad
                    break
                for client, clock in shape.ends.items():  # it integrated whole
                    if clock > replica.get(client, 0):
                        replica[client] = clock
                        written.append(client)
        if error is not None or self._integrated != EMPTY_UPDATE:
            self._state = None  # read back what Yrs integrated, rather than assume it
        if error is not None:
            self._refuse(peer, f"update refused: {error}")
        elif peer_state is not None and (
            len(peer_state.held) > MAX_HELD_UPDATES or peer_state.held_bytes > MAX_HELD_BYTES
        ):
            self._refuse(
                peer,
                f"more than {MAX_HELD_UPDATES} updates or {MAX_HELD_BYTES} bytes build on content"
                " never sent; reconnect to resync",
            )
        # What the replica really integrated: an update it already had (a peer echoing
        # what it received, as ypy-websocket does) is neither stored nor sent again.
        if self._integrated != EMPTY_UPDATE:
            applied.append((peer, self._integrated))
            for hook in self.on_integrated:
                hook(peer, written)
        return error is None

    def _release_held(self, applied: list[tuple[Peer, bytes]]) -> None:
        """Integrate held updates whose missing content has now arrived."""
        progress = True
        while progress:
            progress = False
            replica = self._replica_state()
            for peer, state in list(self.peers.items()):
                if not state.held or peer in self._refused:
                    continue
                ready = [item for item in state.held if not item[1].missing(replica)]
                if not ready:
                    continue
                state.held = [item for item in state.held if item[1].missing(replica)]
                state.held_bytes = sum(len(update) for update, _ in state.held)
                self._integrate(peer, ready, applied)
                progress = True

    async def compact(self) -> None:
        """Replace the stored log by one update: the replica's own encoding.

        Only call it while the replica holds exactly what the store holds: after a load,
        or between two batches (the room's updates reach the store through this task
        alone). No scratch replica is built, so memory grows by the encoding only.
        """
        try:
            await self._store.compact(self.name, self.doc.get_update())
        except Exception as error:  # the log stays as it was: nothing is lost
            self._log.warning("Room %s could not be compacted: %s", self.name, error)
        release_free_memory()

    def _fan_out(self, applied: list[tuple[Peer, bytes]], update: bytes) -> None:
        senders = {peer for peer, _ in applied}
        # One message per peer, but for a lone sender, which is not echoed its own update.
        UPDATES_SENT.inc(len(self.peers) - (len(senders) == 1 and applied[0][0] in self.peers))
        frame = self._frame(create_update_message(update))
        if len(senders) == 1:
            self._broadcast(frame, exclude=applied[0][0])
            return
        for peer in list(self.peers):
            if peer not in senders:
                peer.send_frame(frame)
        for sender in senders:  # never echo a peer's own update back to it
            others = [u for p, u in applied if p is not sender]
            if sender in self.peers:
                sender.send_frame(self._frame(create_update_message(merge_updates(*others))))

    def _broadcast(self, frame: bytes, exclude: Peer | None) -> None:
        for peer in list(self.peers):
            if peer is not exclude:
                peer.send_frame(frame)

    def _state_vector_frame(self) -> bytes:
        if self._sv_message is None:
            self._sv_message = self._frame(create_sync_message(self.doc))
        return self._sv_message

    def _step2_frame(self, state: bytes) -> bytes:
        if state == EMPTY_STATE:  # a new joiner: share one encoding of the whole document
            if self._full_update_message is None:
                self._full_update_message = self._step2(self.doc.get_update())
            return self._full_update_message
        return self._step2(self.doc.get_update(state))

    def _step2(self, update: bytes) -> bytes:
        """Frame a SYNC_STEP2 message around ``update``, copying it once (it may be large)."""
        prefix = bytes((MessageType.SYNC, YSyncMessageType.SYNC_STEP2)) + write_var_uint(
            len(update)
        )
        return self._frame(prefix, update)
