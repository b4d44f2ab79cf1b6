"""What every scenario shares: sizes, servers, warm-up, timing helpers.

A scenario is an async function ``measure(bench) -> list[Run]`` that gets its
server through ``bench`` (once, once per repetition, or several times for a
cold load), drives it with the load generator and returns one ``Run`` per
repetition. Server CPU is counted from the first message of the measured step
until the server is idle again, so work a server defers (a store's group
commit, a compaction) counts too.
"""

from __future__ import annotations

import asyncio
import contextlib
import gc
import itertools
import secrets
from collections.abc import AsyncIterator, Awaitable, Iterator, Sequence
from dataclasses import dataclass, field
from pathlib import Path

from ..loadgen import PeerError, PeerTimeout, YPeer
from ..peers import RunningServer, ServerKind
from ..results import Run

LETTERS = "abcdefghijklmnopqrstuvwxyz"
KiB = 1024


@dataclass(frozen=True)
class Sizes:
    """How big each scenario is; ``FULL`` is issue 4's, ``QUICK`` a two-minute smoke run."""

    repetitions: int
    fanout_readers: tuple[int, ...]
    fanout_updates: int
    paced_readers: int
    paced_updates: int
    paced_rate: float
    storm_joiners: int
    storm_edits: int
    storm_chunk: int
    rooms: int
    room_updates: int
    cold_updates: int
    trace_txns: int | None
    compaction_mib: tuple[int, ...]
    """Sizes of the text (MiB) at which the ``compaction`` scenario's room compacts."""
    compaction_after: int
    """``--YSyncApp.compact_after`` of that scenario: the big updates between two compactions."""
    trace_repetitions: int = 2
    trace_timeout: float = 900.0
    share_servers: bool = False
    timeout: float = 300.0


FULL = Sizes(
    repetitions=3,
    fanout_readers=(10, 50, 100),
    fanout_updates=2000,
    paced_readers=50,
    paced_updates=1000,
    paced_rate=100.0,
    storm_joiners=20,
    storm_edits=10_000,
    storm_chunk=100,
    rooms=500,
    room_updates=10,
    cold_updates=100_000,
    trace_txns=None,
    compaction_mib=(10, 20, 30),
    compaction_after=200,
)

QUICK = Sizes(
    repetitions=2,
    fanout_readers=(10,),
    fanout_updates=300,
    paced_readers=10,
    paced_updates=200,
    paced_rate=100.0,
    storm_joiners=20,
    storm_edits=1000,
    storm_chunk=100,
    rooms=50,
    room_updates=10,
    cold_updates=5000,
    trace_txns=5000,
    compaction_mib=(1, 2, 3),
    compaction_after=50,
    share_servers=True,
    timeout=60.0,
    trace_timeout=120.0,
)


@dataclass
class ServerPool:
    """The servers of one kind for a run: a fresh one per request, or one shared by all.

    Quick runs share one warm server across scenarios (Jupyter servers take
    seconds to start); full runs start a fresh one for each scenario, and
    scenarios that need a fresh process (RSS growth) or options of their own
    always get one.
    """

    kind: ServerKind
    workdir: Path
    share: bool
    _shared: RunningServer | None = None

    @contextlib.asynccontextmanager
    async def server(
        self, extra_args: Sequence[str] = (), workdir: Path | None = None, fresh: bool = False
    ) -> AsyncIterator[RunningServer]:
        """A started, warmed-up server; one of its own unless it can be the shared one."""
        if self.share and not fresh and not extra_args and workdir is None:
            if self._shared is None or self._shared.process.poll() is not None:
                self._shared = await self._start((), None)
            yield self._shared
            return
        server = await self._start(extra_args, workdir)
        try:
            yield server
        finally:
            await asyncio.to_thread(server.stop)

    async def close(self) -> None:
        """Stop the shared server, if any."""
        if self._shared is not None:
            await asyncio.to_thread(self._shared.stop)
            self._shared = None

    async def _start(self, extra_args: Sequence[str], workdir: Path | None) -> RunningServer:
        folder = workdir or self.workdir / f"{self.kind.key}-{secrets.token_hex(3)}"
        server = await asyncio.to_thread(self.kind.start, folder, extra_args)
        try:
            await warm_up(server, f"bench-warmup-{secrets.token_hex(4)}")
        except BaseException:
            await asyncio.to_thread(server.stop)
            raise
        return server


@dataclass
class Bench:
    """What a scenario gets: its servers, the sizes, a work folder, notes to report."""

    pool: ServerPool | None
    sizes: Sizes
    workdir: Path
    notes: list[str] = field(default_factory=list)
    _counter: Iterator[int] = field(default_factory=itertools.count)

    @property
    def kind(self) -> ServerKind | None:
        return None if self.pool is None else self.pool.kind

    def room(self, label: str) -> str:
        """A fresh room name (letters, digits and '-': valid on every server)."""
        return f"bench-{label}-{secrets.token_hex(4)}-{next(self._counter)}"

    def server(
        self, extra_args: Sequence[str] = (), workdir: Path | None = None, fresh: bool = False
    ) -> contextlib.AbstractAsyncContextManager[RunningServer]:
        """A started, warmed-up server (see ``ServerPool.server``).

        Raises:
            RuntimeError: for an in-process scenario, which has no server.
        """
        if self.pool is None:
            raise RuntimeError("this scenario runs in-process: it has no server")
        return self.pool.server(extra_args, workdir, fresh)


WARM_UP_UPDATES = 500


async def warm_up(server: RunningServer, room: str) -> None:
    """Join one room, send a few hundred updates and leave.

    Imports, first-connection paths and a JIT (node's) are warm before measuring.
    """
    async with YPeer(server.room_url(room)) as writer, YPeer(server.room_url(room)) as reader:
        await writer.wait_synced(60)
        await reader.wait_synced(60)
        for clock in range(WARM_UP_UPDATES):
            await writer.send(writer.insert(clock, LETTERS[clock % 26]))
        await reader.wait_for_length(WARM_UP_UPDATES, 60)


@contextlib.contextmanager
def gc_paused() -> Iterator[None]:
    """Keep the generator's garbage collector out of timed sections."""
    gc.collect()
    gc.disable()
    try:
        yield
    finally:
        gc.enable()


async def attempt(run: Awaitable[Run], server: RunningServer) -> Run:
    """Await one repetition; a peer that failed to connect, sync or converge fails the run.

    A peer still short of the expected text at its time limit times the run out
    while the server is still working; once the server is idle nothing more
    will come, so the replicas diverged (the server lost updates): FAILED.
    """
    try:
        return await run
    except PeerTimeout as exc:
        if await server.wait_idle(timeout=5):
            return Run({}, converged=False, detail=f"{exc}, and the server is idle: lost updates")
        return Run({}, converged=False, detail=str(exc), timed_out=True)
    except PeerError as exc:
        return Run({}, converged=False, detail=str(exc))


STALL_S = 30.0
"""A reader that gains nothing for this long while its server is idle will gain nothing more."""


async def wait_converged(
    reader: YPeer,
    server: RunningServer,
    end: str,
    timeout: float,
) -> None:
    """Wait until ``reader`` holds ``end``; give up early once it stalls beside an idle server.

    Raises:
        PeerTimeout: at ``timeout``, or after ``STALL_S`` without progress while the
            server is idle (the updates were lost: waiting out the limit would only
            cost the run up to ``timeout``).
        PeerError: if the connection closed first.
    """
    loop = asyncio.get_running_loop()
    deadline = loop.time() + timeout
    while True:
        before = reader.length
        try:
            await reader.wait_until(
                lambda: reader.length == len(end) and str(reader.text) == end,
                max(0.0, min(STALL_S, deadline - loop.time())),
                lambda: f"reader holds {reader.length} of {len(end)} characters",
            )
            return
        except PeerTimeout:
            stalled = reader.length == before and await server.wait_idle(timeout=5)
            if stalled or loop.time() >= deadline:
                raise


async def barrier(peer: YPeer, timeout: float) -> None:
    """Return once the server has applied what ``peer`` sent: a second peer sees all of it."""
    async with YPeer(peer.url) as probe:
        await probe.wait_for_length(peer.length, timeout)
