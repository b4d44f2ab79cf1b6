"""One room across many servers: Redis as the shared log between every server's replica.

Every server keeps its replica and its SQLite log as in single-server mode; Redis holds each
room's shared log (keys in :mod:`.redis_keys`). How an update travels (README, "Scaling out"):

- **Publish.** A batch of updates made on this server is integrated, appended to the local
  store, then appended to the room's Redis stream (``XADD``, with a poke on the room's channel,
  in one script) *before* any peer is sent it: an update a peer saw is in Redis (and in the
  local store). If Redis does not answer within ``timeout``, local peers are served anyway and
  the room is marked *stale*: nothing more is published until it is reconciled.
- **Receive.** One pub/sub connection per server. A poke carries the entry's update when it is
  small, and the id of the entry before it: a server that read up to that entry integrates the
  update at once; otherwise it reads the stream from the last entry it saw (``XREAD``, never
  blocking). Updates go in with :meth:`Room.submit_remote`: stored and sent, not published again.
- **Reconcile** (at load, before the first peer joins, and after every reconnection): a scratch
  document is built from the snapshot and the stream, read in one transaction; what the
  replica lacks is submitted to it, what Redis lacks is appended to the stream. CRDT updates are
  idempotent: nothing is lost, nothing is applied twice.
- **Compaction.** When more than ``compact_after`` entries follow the snapshot, the server that
  made the last one takes the room's lock (``SET NX PX``, released by compare-and-delete),
  writes its replica as the snapshot covering every entry it has read, and trims the entries
  the *previous* snapshot covered: a server up to one snapshot behind keeps reading the stream,
  one further behind sees it (the snapshot's ``trimmed`` id) and reconciles.
- **Awareness** of this server's peers is published on the room's awareness channel; a server
  that opens a room asks the others to re-announce theirs. Each server renews a liveness key;
  when one's key expires, the others clear its peers' presence.
- **Deletion** on one server closes the room's peers on every server and deletes its keys.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import secrets
import time
from collections import deque
from collections.abc import Awaitable
from dataclasses import dataclass, field
from enum import Enum
from functools import partial
from typing import Any

from pycrdt import Doc, TransactionEvent
from redis.asyncio import Redis
from redis.asyncio.client import PubSub
from redis.backoff import NoBackoff
from redis.exceptions import RedisError
from redis.retry import Retry

from .._lifecycle import Lifecycle
from ..errors import MalformedMessage
from ..protocol import EMPTY_UPDATE, parse_state_vector
from ..updates import replay, scan_update
from .manager import RoomManager
from .redis_keys import (
    APPEND,
    COMPACT,
    RELEASE,
    START,
    Poke,
    RoomKeys,
    Signal,
    StreamId,
    control_channel,
    encode_awareness_message,
    encode_control,
    parse_awareness_message,
    parse_control,
    parse_poke,
    server_key,
)
from .room import Room

__all__ = ["LinkState", "RedisSync"]

RedisErrors = (RedisError, OSError, asyncio.TimeoutError)
"""What a Redis that is down, restarting or cut off raises: the room goes stale, not down."""

READ_COUNT = 512
"""Stream entries read per ``XREAD``."""

INLINE_MAX = 64 * 1024
"""Largest update a poke carries; a larger one is read from the stream."""

FIRST_RETRY = 0.05
"""Seconds before the first attempt to reconnect; doubled on each failure, up to 1 s."""

RETRY_AFTER_ERROR = 5.0
"""Seconds before a room whose sync raised an unexpected error is reconciled again."""

LOCK_TTL_MS = 30_000
"""How long a compaction lock lasts if its holder dies."""

COMPACT_RETRY = 0.25
"""Seconds before a server tries again to compact a room it could not (another one held the
lock, or its replica was behind)."""

AWARENESS_BACKLOG = 4096
"""Awareness updates that may wait for Redis; older ones are dropped (peers renew every 15 s)."""


def _describe(error: BaseException) -> str:
    """An error for a log line (a timeout's text is empty)."""
    return str(error) or type(error).__name__


class LinkState(Enum):
    """Where this server's connection to Redis stands."""

    CONNECTING = "connecting"
    CONNECTED = "connected"
    DISCONNECTED = "disconnected"
    """Redis was lost: rooms serve their own peers and are reconciled on reconnection."""
    STOPPED = "stopped"


@dataclass(eq=False)
class _RoomLink:
    """One loaded room as Redis sees it from this server."""

    room: Room
    keys: RoomKeys
    last_id: StreamId = START
    """Every stream entry up to this one is in the replica (or on its way in)."""
    stale: bool = True
    """Redis may lack what the replica holds, or the reverse: nothing is published until the
    room is reconciled."""
    dirty: bool = False
    """An update was made while a reconciliation held :attr:`lock`: it pushes it too."""
    had_content: bool = False
    """Whether Redis held the room when it was first reconciled."""
    reconcile_needed: bool = True
    compact_needed: bool = False
    last_compaction: float = 0.0
    inbox: list[Poke] = field(default_factory=list)
    lock: asyncio.Lock = field(default_factory=asyncio.Lock)
    """Held while appending to the stream: a reconciliation and a publish never interleave."""
    worker: asyncio.Task[None] | None = None
    """Reconciles, compacts, follows pokes: one at a time, in that order of priority."""


class RedisSync(Lifecycle):
    """Serve every room of a :class:`RoomManager` together with the other servers of a Redis.

    Example::

        sync = RedisSync(manager, "redis://redis:6379/0", namespace="ysync")
        sync.install()        # before any room loads: chains the manager's hooks
        await sync.start()    # connects (and keeps reconnecting) in the background
        ...
        await sync.stop()
    """

    state: LinkState
    server_id: str
    _links: dict[str, _RoomLink]
    _remote_servers: set[str]
    _unsynced: set[str]
    _tasks: set[asyncio.Task[Any]]

    def __init__(
        self,
        manager: RoomManager,
        url: str,
        *,
        namespace: str = "ysync",
        server_ttl: float = 10.0,
        compact_after: int = 1000,
        timeout: float = 2.0,
        log: logging.Logger | None = None,
    ) -> None:
        """
        Args:
            manager: The rooms to share.
            url: Redis URL (``redis://host:6379/0``, ``rediss://`` for TLS, ``unix://``).
            namespace: Servers with the same Redis and namespace serve the same rooms.
            server_ttl: Seconds this server's liveness key lives unless renewed (every third of
                it); the others clear its peers' presence that long after it died.
            compact_after: Compact a room's stream once it holds more entries than this
                (0: never).
            timeout: Seconds a Redis command may take before the room is served locally
                and marked for reconciliation.
            log: Logger for connections, reconciliations and compactions.
        """
        if not url:
            raise ValueError("RedisSync needs a Redis URL, for example 'redis://localhost:6379/0'")
        self.manager = manager
        self.url = url
        self.namespace = namespace
        self.server_ttl = server_ttl
        self.compact_after = compact_after
        self.timeout = timeout
        self.server_id = secrets.token_hex(8)
        self.state = LinkState.CONNECTING
        self._log = log or logging.getLogger(__name__)
        self._redis: Redis = Redis.from_url(
            url,
            socket_timeout=timeout,
            socket_connect_timeout=timeout,
            retry=Retry(NoBackoff(), 0),  # a failure surfaces at once: we reconcile after it
        )
        self._append = self._redis.register_script(APPEND)
        self._compact_script = self._redis.register_script(COMPACT)
        self._release = self._redis.register_script(RELEASE)
        self._control = control_channel(namespace)
        self._links = {}
        self._channels: dict[str, tuple[Signal, _RoomLink]] = {}
        self._subscribed: dict[str, list[asyncio.Future[None]]] = {}
        self._remote_servers = set()
        self._unsynced = set()
        self._tasks = set()
        self._pubsub: PubSub | None = None
        self._listener: asyncio.Task[None] | None = None
        self._supervisor: asyncio.Task[None] | None = None
        self._heart: asyncio.Task[None] | None = None
        self._sender: asyncio.Task[None] | None = None
        self._outbox: deque[tuple[str, bytes]] = deque()
        self._connected = asyncio.Event()
        self._lost: asyncio.Event | None = None
        self._installed = False

    # -- lifecycle -------------------------------------------------------------------------

    def install(self) -> None:
        """Chain this server's Redis work onto the manager's hooks, keeping those set before
        (file rooms bind their file in ``on_load``): call it after them, before a room loads.

        ``on_load`` reconciles the room with Redis first, then calls the previous hook with
        ``had_history`` true if either the local store or Redis held the room; ``on_unload``
        calls the previous hook, then detaches the room; ``on_delete`` deletes the room in
        Redis and on every other server.
        """
        if self._installed:
            raise RuntimeError("RedisSync.install() was called already: call it once.")
        self._installed = True
        manager = self.manager
        previous_load, previous_unload = manager.on_load, manager.on_unload

        async def on_load(room: Room, had_history: bool) -> None:
            had_remote = await self._attach(room)
            if previous_load is not None:
                await previous_load(room, had_history or had_remote)

        def on_unload(room: Room) -> None:
            if previous_unload is not None:
                previous_unload(room)
            self._detach(room)

        manager.on_load = on_load
        manager.on_unload = on_unload
        manager.on_delete = self._delete_everywhere

    async def start(self) -> None:
        """Connect to Redis in the background: the server serves rooms meanwhile.

        Raises:
            AlreadyRunning: if started already.
        """
        self._mark_started()
        loop = asyncio.get_running_loop()
        self._supervisor = loop.create_task(self._supervise(), name="ysync-redis")
        self._heart = loop.create_task(self._beat(), name="ysync-redis-liveness")

    async def wait_connected(self, timeout: float) -> bool:
        """Wait until connected (at most ``timeout`` seconds); return whether it is."""
        with contextlib.suppress(asyncio.TimeoutError):
            await asyncio.wait_for(self._connected.wait(), timeout)
        return self.state is LinkState.CONNECTED

    async def stop(self) -> None:
        """Say goodbye (the others clear this server's peers at once), then disconnect.

        Raises:
            NotRunning: if not running.
        """
        self._mark_stopped()
        connected = self.state is LinkState.CONNECTED
        self.state = LinkState.STOPPED
        tasks = [self._supervisor, self._heart, self._listener, self._sender]
        tasks += [link.worker for link in self._links.values()]
        tasks += list(self._tasks)
        running = [task for task in tasks if task is not None]
        for task in running:
            task.cancel()
        await asyncio.gather(*running, return_exceptions=True)
        if connected:
            with contextlib.suppress(*RedisErrors):
                pipe = self._redis.pipeline(transaction=False)
                pipe.publish(self._control, encode_control(Signal.LEFT, self.server_id))
                pipe.delete(server_key(self.namespace, self.server_id))
                await asyncio.wait_for(pipe.execute(), self.timeout)
        await self._close_pubsub()
        with contextlib.suppress(*RedisErrors):
            await self._redis.aclose()
        self._links.clear()

    # -- the connection --------------------------------------------------------------------

    async def _supervise(self) -> None:
        """Connect, listen until the connection is lost, reconnect: for as long as we run."""
        delay = FIRST_RETRY
        while True:
            lost = self._lost = asyncio.Event()
            try:
                subscribed = await asyncio.wait_for(self._connect(), self.timeout)
            except RedisErrors as error:
                self._log.log(
                    logging.WARNING if delay == FIRST_RETRY else logging.DEBUG,
                    "jupyter_ysync: Redis at %s unreachable (%s); rooms are served locally and"
                    " reconciled once it is back",
                    self.url,
                    _describe(error),
                )
                await self._close_pubsub()
                await asyncio.sleep(delay)
                delay = min(delay * 2, 1.0)
                continue
            delay = FIRST_RETRY
            self.state = LinkState.CONNECTED
            self._connected.set()
            try:  # rooms that loaded while we connected
                await self._subscribe([c for c in self._channels if c not in subscribed])
            except RedisErrors as error:
                self._link_lost(_describe(error))
            self._log.info(
                "jupyter_ysync: connected to Redis at %s as server %s (namespace %s)",
                self.url,
                self.server_id,
                self.namespace,
            )
            for link in self._links.values():
                link.inbox.clear()
                link.reconcile_needed = True
                self._kick(link)
            if self._unsynced:
                self._spawn(self._push_unsynced())
            await lost.wait()
            self.state = LinkState.DISCONNECTED
            self._connected.clear()
            await self._close_pubsub()

    async def _connect(self) -> set[str]:
        """Renew the liveness key, subscribe; return the channels subscribed."""
        await self._redis.set(
            server_key(self.namespace, self.server_id),
            str(time.time()),
            px=int(self.server_ttl * 1000),
        )
        pubsub = self._pubsub = self._redis.pubsub()
        await pubsub.subscribe(self._control)
        self._listener = asyncio.get_running_loop().create_task(self._listen(pubsub))
        channels = [self._control, *self._channels]
        waiters = [self._waiter(channel) for channel in channels]
        if len(channels) > 1:
            await pubsub.subscribe(*channels[1:])
        await asyncio.gather(*waiters)
        return set(channels)

    async def _subscribe(self, channels: list[str]) -> None:
        """Subscribe to ``channels`` and wait until Redis confirmed each."""
        if not channels or self._pubsub is None:
            return
        waiters = [self._waiter(channel) for channel in channels]
        await asyncio.wait_for(self._pubsub.subscribe(*channels), self.timeout)
        await asyncio.wait_for(asyncio.gather(*waiters), self.timeout)

    def _waiter(self, channel: str) -> asyncio.Future[None]:
        waiter = asyncio.get_running_loop().create_future()
        self._subscribed.setdefault(channel, []).append(waiter)
        return waiter

    def _link_lost(self, reason: object) -> None:
        """Redis failed us: every room goes stale; the supervisor reconnects and reconciles."""
        if self.state is not LinkState.CONNECTED:
            return
        self.state = LinkState.DISCONNECTED
        self._connected.clear()
        self._log.warning(
            "jupyter_ysync: lost Redis at %s (%s); rooms are served locally and reconciled"
            " once it is back",
            self.url,
            reason,
        )
        for link in self._links.values():
            link.stale = True
            link.reconcile_needed = True
        if self._lost is not None:
            self._lost.set()

    async def _close_pubsub(self) -> None:
        listener, self._listener = self._listener, None
        if listener is not None and listener is not asyncio.current_task():
            listener.cancel()
            await asyncio.gather(listener, return_exceptions=True)
        pubsub, self._pubsub = self._pubsub, None
        if pubsub is not None:
            with contextlib.suppress(*RedisErrors):
                await asyncio.wait_for(pubsub.aclose(), self.timeout)  # type: ignore[no-untyped-call]
        for waiters in self._subscribed.values():
            for waiter in waiters:
                if not waiter.done():
                    waiter.cancel()
        self._subscribed.clear()

    async def _listen(self, pubsub: PubSub) -> None:
        try:
            while True:
                message = await pubsub.get_message(timeout=None)
                if message is None:
                    continue
                channel = message["channel"].decode()
                if message["type"] == "subscribe":
                    for waiter in self._subscribed.pop(channel, []):
                        if not waiter.done():
                            waiter.set_result(None)
                elif message["type"] == "message":
                    self._dispatch(channel, message["data"])
        except RedisErrors as error:
            self._link_lost(_describe(error))

    def _dispatch(self, channel: str, data: bytes) -> None:
        try:
            if channel == self._control:
                self._on_control(data)
                return
            target = self._channels.get(channel)
            if target is None:
                return  # a room unloaded since
            signal, link = target
            if signal is Signal.APPENDED:
                link.inbox.append(parse_poke(data))
                self._kick(link)
            else:
                self._on_awareness_message(link, data)
        except (ValueError, MalformedMessage) as error:
            self._log.warning("jupyter_ysync: ignored a bad message on %s: %s", channel, error)

    async def _beat(self) -> None:
        """Renew the liveness key; clear the presence of servers whose key expired."""
        while True:
            await asyncio.sleep(self.server_ttl / 3)
            if self.state is not LinkState.CONNECTED:
                continue
            servers = sorted(self._remote_servers)
            try:
                pipe = self._redis.pipeline(transaction=False)
                pipe.set(
                    server_key(self.namespace, self.server_id),
                    str(time.time()),
                    px=int(self.server_ttl * 1000),
                )
                for server in servers:
                    pipe.exists(server_key(self.namespace, server))
                results = await asyncio.wait_for(pipe.execute(), self.timeout)
            except RedisErrors as error:
                self._link_lost(_describe(error))
                continue
            for server, alive in zip(servers, results[1:], strict=True):
                if not alive:
                    self._log.info("jupyter_ysync: server %s is gone; its peers left", server)
                    self._forget(server)

    def _forget(self, server: str) -> None:
        self._remote_servers.discard(server)
        for link in self._links.values():
            link.room.forget_server(server)

    def _spawn(self, coroutine: Awaitable[Any]) -> None:
        task = asyncio.ensure_future(coroutine)
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)

    # -- rooms -----------------------------------------------------------------------------

    async def _attach(self, room: Room) -> bool:
        """Link a room that just loaded; reconcile it before its first peer joins.

        Returns:
            Whether Redis held the room.
        """
        link = _RoomLink(room, RoomKeys.of(self.namespace, room.name))
        self._links[room.name] = link
        self._unsynced.discard(room.name)
        room.publish = partial(self._publish, link)
        room.on_awareness = partial(self._awareness_changed, link)
        self._channels[link.keys.poke] = (Signal.APPENDED, link)
        self._channels[link.keys.awareness] = (Signal.AWARENESS, link)
        if self.state is not LinkState.CONNECTED or self._pubsub is None:
            return False  # served locally; reconciled when Redis is reachable
        try:
            await self._subscribe([link.keys.poke, link.keys.awareness])
        except RedisErrors as error:
            self._link_lost(_describe(error))
            return False
        except asyncio.CancelledError:
            if self.state is LinkState.CONNECTED:
                raise
            return False  # the connection was lost meanwhile
        self._kick(link)
        worker = link.worker
        if worker is not None:  # bounded by the timeouts of its commands
            await asyncio.wait({worker})
        return link.had_content

    def _detach(self, room: Room) -> None:
        link = self._links.get(room.name)
        if link is None or link.room is not room:
            return
        del self._links[room.name]
        for channel in (link.keys.poke, link.keys.awareness):
            self._channels.pop(channel, None)
        if link.worker is not None:
            link.worker.cancel()
        if link.stale:  # what was made here while cut off: pushed from the store once back
            self._unsynced.add(room.name)
        pubsub = self._pubsub
        if pubsub is not None and self.state is LinkState.CONNECTED:
            self._spawn(self._unsubscribe(pubsub, link.keys.poke, link.keys.awareness))

    async def _unsubscribe(self, pubsub: PubSub, *channels: str) -> None:
        gone = [channel for channel in channels if channel not in self._channels]
        if gone:  # not if the room loaded again meanwhile
            with contextlib.suppress(*RedisErrors):
                await asyncio.wait_for(pubsub.unsubscribe(*gone), self.timeout)

    def _kick(self, link: _RoomLink) -> None:
        if self._links.get(link.room.name) is not link:
            return  # unloaded
        if link.worker is None and self.state is LinkState.CONNECTED:
            link.worker = asyncio.get_running_loop().create_task(self._work(link))

    async def _work(self, link: _RoomLink) -> None:
        try:
            while self.state is LinkState.CONNECTED and self._links.get(link.room.name) is link:
                if link.reconcile_needed:
                    link.reconcile_needed = False
                    await self._reconcile(link)
                elif link.compact_needed:  # before the pokes: they never run out on a busy room
                    link.compact_needed = False
                    await self._compact(link)
                elif link.inbox:
                    await self._follow(link)
                else:
                    break
        except RedisErrors as error:
            link.stale = link.reconcile_needed = True
            self._link_lost(_describe(error))
        except Exception:  # a bug, or bytes in Redis no server wrote: logged, retried
            link.stale = link.reconcile_needed = True
            self._log.exception(
                "jupyter_ysync: room %s could not sync with Redis; retrying in %s s",
                link.room.name,
                RETRY_AFTER_ERROR,
            )
            asyncio.get_running_loop().call_later(RETRY_AFTER_ERROR, self._kick, link)
        finally:
            link.worker = None

    # -- publishing ------------------------------------------------------------------------

    async def _publish(self, link: _RoomLink, update: bytes) -> None:
        """``room.publish``: append a batch made here, before the room sends it to anyone."""
        if link.stale or link.lock.locked():
            link.dirty = True  # the running (or next) reconciliation pushes it
            return
        async with link.lock:
            try:
                _, pending = await asyncio.wait_for(self._append_update(link, update), self.timeout)
            except RedisErrors as error:
                link.stale = link.reconcile_needed = True
                self._link_lost(_describe(error))
                return
        if (
            self.compact_after
            and int(pending) > self.compact_after
            and time.monotonic() - link.last_compaction > COMPACT_RETRY
        ):
            link.last_compaction = time.monotonic()
            link.compact_needed = True
            self._kick(link)

    async def _append_update(self, link: _RoomLink, update: bytes) -> list[Any]:
        result = await self._append(
            keys=[link.keys.log, link.keys.snapshot],
            args=[update, self.server_id, INLINE_MAX, link.keys.poke],
        )
        return list(result)

    def _awareness_changed(self, link: _RoomLink, update: bytes) -> None:
        """``room.on_awareness``: relay this server's peers' presence to the other servers."""
        if self.state is not LinkState.CONNECTED:
            return  # re-announced in full after the reconnection
        if len(self._outbox) >= AWARENESS_BACKLOG:
            self._outbox.popleft()
            self._log.warning(
                "jupyter_ysync: Redis is slow; dropped an awareness update of room %s"
                " (peers renew theirs every 15 s)",
                link.room.name,
            )
        message = encode_awareness_message(Signal.AWARENESS, self.server_id, update)
        self._outbox.append((link.keys.awareness, message))
        if self._sender is None:
            self._sender = asyncio.get_running_loop().create_task(self._send_awareness())

    async def _send_awareness(self) -> None:
        try:
            while self._outbox and self.state is LinkState.CONNECTED:
                pipe = self._redis.pipeline(transaction=False)
                while self._outbox:
                    channel, message = self._outbox.popleft()
                    pipe.publish(channel, message)
                await asyncio.wait_for(pipe.execute(), self.timeout)
        except RedisErrors as error:
            self._link_lost(_describe(error))
        finally:
            self._outbox.clear()
            self._sender = None

    def _local_awareness(self, room: Room) -> bytes | None:
        """The awareness states of this server's own peers in ``room``, encoded."""
        local: set[int] = set()
        for state in room.peers.values():
            local |= state.client_ids
        clients = [client for client in local if client in room.awareness.states]
        return room.awareness.encode_awareness_update(clients) if clients else None

    def _announce(self, link: _RoomLink, query: bool) -> None:
        """Send the room's local presence to the other servers; ask for theirs if ``query``."""
        update = self._local_awareness(link.room)
        if update is not None:
            self._awareness_changed(link, update)
        if query:
            message = encode_awareness_message(Signal.QUERY, self.server_id)
            self._outbox.append((link.keys.awareness, message))
            if self._sender is None:
                self._sender = asyncio.get_running_loop().create_task(self._send_awareness())

    def _on_awareness_message(self, link: _RoomLink, data: bytes) -> None:
        message = parse_awareness_message(data)
        if message.server == self.server_id:
            return
        if message.signal is Signal.QUERY:
            self._announce(link, query=False)
            return
        self._remote_servers.add(message.server)
        link.room.apply_remote_awareness(message.server, message.update)

    # -- receiving -------------------------------------------------------------------------

    async def _follow(self, link: _RoomLink) -> None:
        """Integrate what the pokes received announce: from the pokes themselves while they
        follow on from the last entry seen, else by reading the stream."""
        pokes, link.inbox = link.inbox, []
        inline: list[bytes] = []
        read = False
        for poke in pokes:
            if poke.signal is Signal.COMPACTED:
                read = read or poke.id > link.last_id  # the read sees whether we fell behind
                continue
            if poke.id <= link.last_id:
                continue  # read already
            if not read and poke.previous == link.last_id:
                if poke.server != self.server_id:
                    if poke.update is None:
                        read = True
                        continue
                    inline.append(poke.update)
                link.last_id = poke.id
            else:
                read = True
        if inline:
            await self._integrate(link, inline)
        if read:
            await self._read(link)

    async def _read(self, link: _RoomLink) -> None:
        """Read the stream past the last entry seen (never blocking), in chunks."""
        me = self.server_id.encode()
        while not link.reconcile_needed:
            pipe = self._redis.pipeline(transaction=True)
            pipe.hget(link.keys.snapshot, "trimmed")
            pipe.xread({link.keys.log: str(link.last_id)}, count=READ_COUNT)
            trimmed, streams = await asyncio.wait_for(pipe.execute(), self.timeout)
            if trimmed is not None and StreamId.parse(trimmed) > link.last_id:
                # Entries we never read were compacted away: load the snapshot instead.
                self._log.info(
                    "jupyter_ysync: room %s fell behind a compaction; reconciling", link.room.name
                )
                link.reconcile_needed = True
                return
            entries = streams[0][1] if streams else []
            if not entries:
                return
            updates = [fields[b"u"] for _, fields in entries if fields.get(b"s") != me]
            link.last_id = StreamId.parse(entries[-1][0])
            await self._integrate(link, updates)
            if len(entries) < READ_COUNT:
                return

    async def _integrate(self, link: _RoomLink, updates: list[bytes]) -> None:
        """Submit other servers' updates to the replica, unless one builds on content it
        lacks (an entry no server should have written): then reconcile instead."""
        room = link.room
        await room.flushed()  # what was submitted before is in: the check below sees it
        state = parse_state_vector(room.doc.get_state())
        for update in updates:
            shape = scan_update(update)
            if shape.missing(state):
                self._log.warning(
                    "jupyter_ysync: room %s: a stream entry builds on content never seen;"
                    " reconciling",
                    room.name,
                )
                link.reconcile_needed = True
                return
            for client, clock in shape.ends.items():
                if clock > state.get(client, 0):
                    state[client] = clock
            room.submit_remote(update)

    # -- reconciling -----------------------------------------------------------------------

    async def _reconcile(self, link: _RoomLink) -> None:
        """Make the replica and Redis hold the same: each gets what it lacks from the other."""
        room = link.room
        async with link.lock:
            link.dirty = False
            link.inbox.clear()  # what they announce is in the read below
            scratch, last, had = await self._read_all(link.keys)
            link.had_content = link.had_content or had
            missing_here = scratch.get_update(room.doc.get_state())
            pushed = await self._push(link.keys, scratch, room.doc)
            link.last_id = last
            link.stale = False
            while link.dirty:  # made while we pushed: push them too
                link.dirty = False
                pushed += await self._push(link.keys, scratch, room.doc)
        room.submit_remote(missing_here)
        await room.flushed()
        self._log.info(
            "jupyter_ysync: room %s reconciled with Redis (%d bytes in, %d bytes out)",
            room.name,
            len(missing_here),
            pushed,
        )
        self._announce(link, query=True)

    async def _read_all(self, keys: RoomKeys) -> tuple[Doc[Any], StreamId, bool]:
        """The room as Redis holds it: its snapshot and stream, read in one transaction.

        Returns:
            A scratch document, the last entry it holds, and whether Redis held anything.
        """
        pipe = self._redis.pipeline(transaction=True)
        pipe.hgetall(keys.snapshot)
        pipe.xrange(keys.log)
        snapshot, entries = await asyncio.wait_for(pipe.execute(), self.timeout * 5)
        covered = StreamId.parse(snapshot[b"id"]) if b"id" in snapshot else START
        scratch: Doc[Any] = Doc()
        if b"u" in snapshot:
            scratch.apply_update(snapshot[b"u"])
        last = covered
        updates = []
        for raw_id, fields in entries:
            entry_id = StreamId.parse(raw_id)
            if entry_id > covered:
                updates.append(fields[b"u"])
                last = entry_id
        replay(scratch, updates)
        return scratch, last, bool(b"u" in snapshot or entries)

    async def _push(self, keys: RoomKeys, scratch: Doc[Any], source: Doc[Any]) -> int:
        """Append to the stream what ``source`` holds and ``scratch`` (Redis) lacks, exactly;
        integrate it into ``scratch``. Returns the bytes appended."""
        new: list[bytes] = []

        def capture(event: TransactionEvent) -> None:
            if event.update != EMPTY_UPDATE:
                new.append(event.update)

        subscription = scratch.observe(capture)
        try:
            scratch.apply_update(source.get_update(scratch.get_state()))
        finally:
            scratch.unobserve(subscription)
        if not new:
            return 0
        await asyncio.wait_for(
            self._append(
                keys=[keys.log, keys.snapshot], args=[new[0], self.server_id, INLINE_MAX, keys.poke]
            ),
            self.timeout,
        )
        return len(new[0])

    async def _push_unsynced(self) -> None:
        """Push what rooms unloaded while Redis was away hold in the local store."""
        for name in sorted(self._unsynced):
            if name in self._links or self.state is not LinkState.CONNECTED:
                self._unsynced.discard(name)
                continue
            try:
                doc: Doc[Any] = Doc()
                replay(doc, await self.manager.store.load(name))
                keys = RoomKeys.of(self.namespace, name)
                scratch, _, _ = await self._read_all(keys)
                pushed = await self._push(keys, scratch, doc)
            except RedisErrors as error:
                self._link_lost(_describe(error))
                return
            self._unsynced.discard(name)
            self._log.info(
                "jupyter_ysync: room %s (unloaded) pushed to Redis (%d bytes)", name, pushed
            )

    # -- compaction ------------------------------------------------------------------------

    async def _compact(self, link: _RoomLink) -> None:
        """Write the replica as the room's snapshot, under the room's lock, and trim what the
        previous snapshot covered."""
        keys = link.keys
        token = secrets.token_hex(8)
        if not await self._redis.set(keys.lock, token, nx=True, px=LOCK_TTL_MS):
            return  # another server is at it
        try:
            await self._read(link)  # every entry so far is in the replica...
            await link.room.flushed()
            if link.stale or link.reconcile_needed or link.last_id == START:
                return
            snapshot = link.room.doc.get_update()  # ...and what it holds besides does no harm
            done = await asyncio.wait_for(
                self._compact_script(
                    keys=[keys.log, keys.snapshot, keys.lock],
                    args=[token, snapshot, str(link.last_id), keys.poke, self.server_id],
                ),
                self.timeout * 5,
            )
            if done:
                self._log.info(
                    "jupyter_ysync: room %s compacted in Redis up to %s (%d bytes)",
                    link.room.name,
                    link.last_id,
                    len(snapshot),
                )
        finally:
            with contextlib.suppress(*RedisErrors):
                await asyncio.wait_for(self._release(keys=[keys.lock], args=[token]), self.timeout)

    # -- deletion --------------------------------------------------------------------------

    async def _delete_everywhere(self, name: str) -> bool:
        """The manager's ``on_delete``: after a delete here, delete the room in Redis and on
        every other server."""
        return await self._delete_keys(name, announce=True)

    async def _delete_keys(self, name: str, *, announce: bool) -> bool:
        if self.state is not LinkState.CONNECTED:
            if announce:
                self._log.warning(
                    "jupyter_ysync: room %s deleted here while Redis is unreachable; other"
                    " servers keep it",
                    name,
                )
            return False
        keys = RoomKeys.of(self.namespace, name)
        pipe = self._redis.pipeline(transaction=True)
        pipe.delete(keys.log, keys.snapshot, keys.lock)
        if announce:
            pipe.publish(self._control, encode_control(Signal.DELETED, self.server_id, name))
        try:
            results = await asyncio.wait_for(pipe.execute(), self.timeout)
        except RedisErrors as error:
            self._link_lost(_describe(error))
            return False
        return bool(results[0])

    def _on_control(self, data: bytes) -> None:
        message = parse_control(data)
        if message.server == self.server_id:
            return
        if message.signal is Signal.LEFT:
            self._log.info("jupyter_ysync: server %s left; its peers left", message.server)
            self._forget(message.server)
        elif message.signal is Signal.DELETED:
            self._spawn(self._deleted_elsewhere(message.room))

    async def _deleted_elsewhere(self, name: str) -> None:
        loaded = name in self.manager.rooms
        if await self.manager.delete(name, local=True):
            self._log.info("jupyter_ysync: room %s was deleted on another server", name)
        if loaded:  # what our peers made before they were closed: gone with the rest
            await self._delete_keys(name, announce=False)
