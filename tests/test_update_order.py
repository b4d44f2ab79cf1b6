"""Updates in any order: held until what they build on arrives, then stored and sent.

Yrs (pycrdt 0.14) integrates an update whose first struct for a client starts past the
replica's clock for that client instead of keeping it pending as Yjs does, and reports an
empty ``event.update`` for it: the room must hold such an update until what it builds on
arrives (:meth:`Room.receive`). These property tests deliver the updates of a few writers
in orders Hypothesis chooses (duplicates, gaps that never fill, gaps that fill later) and
check the room's invariant after every batch: what the replica holds, the store holds, and
every peer is sent.

- :func:`test_any_delivery_order_keeps_replica_store_and_peers_equal`: a :class:`Room` with
  a real :class:`SQLiteStore` and fake peers, no server.
- :func:`test_a_yjs_peer_holds_what_the_replica_holds_whatever_the_order`: the in-process
  server, a node Yjs peer receiving, raw websocket peers sending.

The oracles never read updates with :mod:`jupyter_ysync.updates`: what an update may build
on is what its writer held when it was made (:attr:`Atom.before`), what it adds its writer's
clocks before and after, what it deletes its delete set (:attr:`Atom.reach`).
"""

from __future__ import annotations

import asyncio
import itertools
import time
from collections.abc import Callable, Iterator, Sequence
from pathlib import Path
from typing import Any, NamedTuple
from urllib.parse import parse_qs, urlsplit

import pytest
import websockets
from hypothesis import HealthCheck, Phase, event, given, settings
from hypothesis import strategies as st
from pycrdt import (
    Decoder,
    Doc,
    Text,
    YMessageType,
    YSyncMessageType,
    create_sync_message,
    create_update_message,
    merge_updates,
    read_message,
)

from jupyter_ysync.protocol import EMPTY_UPDATE, ROOT_TEXT, parse_state_vector, sync_step2_message
from jupyter_ysync.server.room import Room
from jupyter_ysync.server.store import SQLiteStore
from tests.interop import JsPeer, install_node_peer, normalize_delta, pycrdt_delta
from tests.raw_peer import RawPeer

WRITERS = (101, 202, 303)
"""Yjs client ids of the writers: fixed, so that a failing example replays."""

SENDERS = 3
"""Fake peers that deliver the writers' updates to the room (unit test)."""

WORDS = ("a", "bc", "def ", "é", "中文", "😀", "x\n")
"""Words inserted: ASCII, 2-, 3- and 4-byte UTF-8 (the emoji is 2 UTF-16 code units)."""

ATTRIBUTES: tuple[dict[str, Any] | None, ...] = (None, None, {"bold": True}, {"italic": True})
FORMATS: tuple[dict[str, Any], ...] = ({"bold": True}, {"italic": True}, {"bold": None})
IMAGE = {"image": "https://example.org/x.png"}


# -- the writers ---------------------------------------------------------------------------------


class Edit(NamedTuple):
    """One transaction of a writer; for ``sync``, the writer pulls another writer's content."""

    writer: int
    kind: str
    """``insert``, ``embed``, ``delete``, ``format`` or ``sync``."""
    at: int
    size: int
    pick: int
    """Chooses the word, the attributes, or the writer to pull from."""


class Atom(NamedTuple):
    """The update of one writer transaction, and what it may build on."""

    client: int
    start: int
    """The writer's clock before the transaction."""
    end: int
    """Its clock after: ``start`` for a transaction that only deletes."""
    before: dict[int, int]
    """The writer's state vector before the transaction: all the update can refer to."""
    reach: dict[int, int]
    """Client -> one past the last clock it adds, or, if it only deletes, deletes."""
    update: bytes

    @property
    def has_structs(self) -> bool:
        return self.end > self.start

    def buildable_on(self, state: dict[int, int]) -> bool:
        """Whether a replica with this state vector holds all the writer held when it was made."""
        return all(state.get(client, 0) >= clock for client, clock in self.before.items())

    def covered_by(self, state: dict[int, int]) -> bool:
        """Whether a replica with this state vector holds what it adds, or what it deletes."""
        return all(state.get(client, 0) >= clock for client, clock in self.reach.items())


def deleted(update: bytes) -> dict[int, int]:
    """Client -> one past the last clock deleted, for an update that only deletes."""
    decoder = Decoder(update)
    assert decoder.read_var_uint() == 0, "the update adds structs"
    ends: dict[int, int] = {}
    for _ in range(decoder.read_var_uint()):
        client = decoder.read_var_uint()
        for _ in range(decoder.read_var_uint()):
            clock, length = decoder.read_var_uint(), decoder.read_var_uint()
            ends[client] = max(ends.get(client, 0), clock + length)
    return ends


class Snapshot(NamedTuple):
    """What a replica shows: text, normalised Quill delta, state vector."""

    text: str
    delta: list[dict[str, Any]]
    state: dict[int, int]


class History(NamedTuple):
    """What the writers made: their updates in the order made, and their merged state."""

    atoms: list[Atom]
    merged: Snapshot


def bucket(count: int) -> str:
    """A count for Hypothesis' statistics (``--hypothesis-show-statistics``)."""
    return str(count) if count < 3 else "3 or more"


def snapshot(doc: Doc[Any]) -> Snapshot:
    """What ``doc`` shows now."""
    text = doc.get(ROOT_TEXT, type=Text)
    return Snapshot(str(text), pycrdt_delta(text), parse_state_vector(doc.get_state()))


def doc_of(*updates: bytes) -> Doc[Any]:
    """A fresh replica holding ``updates``, merged first so that none waits for another."""
    doc: Doc[Any] = Doc()
    doc.apply_update(merge_updates(*updates) if updates else EMPTY_UPDATE)
    return doc


def merged(atoms: list[Atom], indices: tuple[int, ...]) -> bytes:
    """One update: the atom's own, or several merged (Skip structs where they leave gaps)."""
    if len(indices) == 1:
        return atoms[indices[0]].update
    return merge_updates(*(atoms[i].update for i in indices))


def replayed(updates: list[bytes]) -> Snapshot:
    """What a fresh replica holds after integrating a stored log in order."""
    doc: Doc[Any] = Doc()
    for update in updates:
        doc.apply_update(update)
    return snapshot(doc)


def boundaries(text: Text) -> list[int]:
    """Offsets pycrdt accepts in ``text``: UTF-8 bytes, an embed counting 1, never mid-character."""
    offsets = [0]
    for value, _ in text.diff():
        for char in value if isinstance(value, str) else [value]:
            offsets.append(offsets[-1] + (len(char.encode()) if isinstance(char, str) else 1))
    return offsets


def apply_edit(text: Text, edit: Edit) -> None:
    """Insert, embed, delete or format at positions ``edit`` picks among the valid ones."""
    offsets = boundaries(text)
    at = offsets[edit.at % len(offsets)]
    if edit.kind == "insert":
        text.insert(at, WORDS[edit.pick % len(WORDS)], ATTRIBUTES[edit.pick % len(ATTRIBUTES)])
    elif edit.kind == "embed":
        text.insert_embed(at, dict(IMAGE))
    elif len(offsets) > 1:
        first = edit.at % (len(offsets) - 1)
        start, stop = offsets[first], offsets[min(first + edit.size, len(offsets) - 1)]
        if edit.kind == "delete":
            del text[start:stop]
        else:
            text.format(start, stop, FORMATS[edit.pick % len(FORMATS)])


def transact(doc: Doc[Any], edit: Edit) -> bytes:
    """Make ``edit`` in one transaction; return its update (empty if it changed nothing)."""
    made: list[bytes] = []
    subscription = doc.observe(lambda event: made.append(event.update))
    try:
        with doc.transaction():
            apply_edit(doc.get(ROOT_TEXT, type=Text), edit)
    finally:
        doc.unobserve(subscription)
    return made[0] if made else EMPTY_UPDATE


def write(writers: int, edits: Sequence[Edit]) -> History:
    """Make the edits, each writer on its own replica; collect each transaction's update."""
    docs: list[Doc[Any]] = [Doc(client_id=client) for client in WRITERS[:writers]]
    atoms: list[Atom] = []
    for edit in edits:
        doc = docs[edit.writer % writers]
        if edit.kind == "sync":
            other = docs[(edit.writer + 1 + edit.pick % (writers - 1)) % writers]
            doc.apply_update(other.get_update(doc.get_state()))
            continue
        before = parse_state_vector(doc.get_state())
        update = transact(doc, edit)
        client = doc.client_id
        if update != EMPTY_UPDATE:
            start = before.get(client, 0)
            end = parse_state_vector(doc.get_state()).get(client, 0)
            reach = {client: end} if end > start else deleted(update)
            atoms.append(Atom(client, start, end, before, reach, update))
    merged = snapshot(doc_of(*(doc.get_update() for doc in docs)))
    return History(atoms, merged)


EDITS = st.builds(
    Edit,
    writer=st.integers(0, len(WRITERS) - 1),
    kind=st.sampled_from(("insert", "insert", "embed", "delete", "format", "sync")),
    at=st.integers(0, 63),
    size=st.integers(1, 6),
    pick=st.integers(0, 11),
)


# -- the unit-level property: a Room, a real store, fake peers -----------------------------------


class Deliver(NamedTuple):
    """Fake peer ``sender`` sends these updates, merged into one if there are several."""

    sender: int
    atoms: tuple[int, ...]


class Flush(NamedTuple):
    """Wait until the room has applied, stored and sent everything; then check."""


class Yield(NamedTuple):
    """Let the room take its batch: what follows arrives while it is being stored."""


class JoinSynced(NamedTuple):
    """A peer joins holding the room's content (it never sends sync step 1)."""


class JoinFresh(NamedTuple):
    """A peer joins holding the first ``prefix`` updates: it sends sync step 1, and answers the
    room's step 1 with step 2 (what it holds that the room lacks)."""

    prefix: int


Event = Deliver | Flush | Yield | JoinSynced | JoinFresh


class Scenario(NamedTuple):
    """What the writers do, and how their updates reach the room."""

    writers: int
    edits: list[Edit]
    history: History
    """The writers' updates, made once: the deliveries index into its atoms."""
    compact_after: int
    """The room's compaction threshold (0: never), so that some checks read a compacted log."""
    events: list[Event]
    """Deliveries with duplicates, reorderings and drops; joins; batches and checks."""
    finale: list[Event]
    """Every update once more, in a random order: at the end all have been delivered."""


PAUSES: st.SearchStrategy[Event] = st.sampled_from((Flush(), Yield()))


@st.composite
def scenarios(draw: st.DrawFn) -> Scenario:
    writers = draw(st.integers(2, len(WRITERS)))
    edits = draw(st.lists(EDITS, min_size=5, max_size=20))
    history = write(writers, edits)
    count = len(history.atoms)
    atom = st.integers(0, max(count - 1, 0))
    sender = st.integers(0, SENDERS - 1)
    deliveries = st.builds(
        Deliver,
        sender,
        st.one_of(st.tuples(atom), st.lists(atom, min_size=2, max_size=3).map(tuple)),
    )
    events = st.one_of(
        deliveries,
        deliveries,
        deliveries,
        st.just(Flush()),
        st.just(Yield()),
        st.just(JoinSynced()),
        st.builds(JoinFresh, st.integers(0, count)),
    )
    finale: list[Event] = []
    for index in draw(st.permutations(range(count))):
        finale.append(Deliver(draw(sender), (index,)))
        if draw(st.booleans()):
            finale.append(draw(PAUSES))
    return Scenario(
        writers,
        edits,
        history,
        draw(st.sampled_from((0, 0, 3))),
        draw(st.lists(events, min_size=4, max_size=24)) if count else [],
        finale,
    )


class RecordingPeer:
    """A peer as the room sees it (:class:`jupyter_ysync.server.room.Peer`), recording frames.

    Unlike :class:`tests.fakes.FakePeer` it applies nothing as it comes: a peer that sends
    updates lacks its own in what it is sent, and a replica of only that meets the Yrs bug.
    What it holds is computed when checked (:meth:`Harness.view`).
    """

    def __init__(self, name: str, base: bytes = EMPTY_UPDATE) -> None:
        self.name = name
        self.can_write = True
        self.base = base
        """What the peer held when it joined."""
        self.frames: list[bytes] = []
        self.closed: list[tuple[int, str]] = []
        self.sent: list[tuple[int, ...]] = []
        """The atoms of each update it sent."""

    def send_frame(self, frame: bytes) -> None:
        self.frames.append(frame)

    def close(self, code: int, reason: str) -> None:
        self.closed.append((code, reason))

    def received(self) -> list[bytes]:
        """The updates of the SYNC_STEP2 and SYNC_UPDATE messages the room sent, in order."""
        return [
            read_message(frame[2:])
            for frame in self.frames
            if frame[0] == YMessageType.SYNC and frame[1] != YSyncMessageType.SYNC_STEP1
        ]


class Harness:
    """Plays a :class:`Scenario` against a room and checks it after every :class:`Flush`."""

    def __init__(self, room: Room, store: SQLiteStore, atoms: list[Atom]) -> None:
        self.room = room
        self.store = store
        self.atoms = atoms
        self.senders = [RecordingPeer(f"sender-{i}") for i in range(SENDERS)]
        self.peers: list[RecordingPeer] = []
        self.sent: list[tuple[int, ...]] = []
        self.most_held = 0
        """The most updates held at a check: for the statistics, to see that gaps occur."""
        for peer in self.senders:
            self.join(peer)

    def join(self, peer: RecordingPeer) -> None:
        self.peers.append(peer)
        self.room.add_peer(peer)

    def send(self, peer: RecordingPeer, atoms: tuple[int, ...], message: bytes) -> None:
        peer.sent.append(atoms)
        self.sent.append(atoms)
        self.room.receive(peer, message)

    async def play(self, step: Event) -> None:
        match step:
            case Deliver(sender, atoms):
                update = merged(self.atoms, atoms)
                self.send(self.senders[sender], atoms, create_update_message(update))
            case Yield():
                await asyncio.sleep(0)
            case Flush():
                await self.room.flushed()
                await self.check()
            case JoinSynced():
                self.join(RecordingPeer(f"synced-{len(self.peers)}", self.room.doc.get_update()))
            case JoinFresh(prefix):
                self.join_fresh(prefix)

    def join_fresh(self, prefix: int) -> None:
        holds = doc_of(*(atom.update for atom in self.atoms[:prefix]))  # made in this order
        peer = RecordingPeer(f"fresh-{len(self.peers)}", holds.get_update())
        self.join(peer)
        room_state = read_message(peer.frames[0][2:])  # the room's sync step 1
        self.room.receive(peer, create_sync_message(holds))
        if prefix:
            reply = sync_step2_message(holds.get_update(room_state))
            self.send(peer, tuple(range(prefix)), reply)

    def view(self, peer: RecordingPeer, state: dict[int, int]) -> Snapshot:
        """What ``peer`` holds: its content at join, what the room sent it, and what it sent
        that the replica integrated (the room never echoes an update to its sender).

        The room integrates an update whole, once the replica holds all it builds on: then
        the replica holds all it adds, and all it deletes.
        """
        own = [
            self.atoms[i].update
            for atoms in peer.sent
            if all(self.atoms[i].covered_by(state) for i in atoms)
            for i in atoms
        ]
        return snapshot(doc_of(peer.base, *peer.received(), *own))

    async def check(self) -> None:
        replica = snapshot(self.room.doc)
        assert replayed(await self.store.load(self.room.name)) == replica, (
            "the store differs from the replica"
        )
        for peer in self.peers:
            assert not peer.closed, f"{peer.name} was closed"
            assert self.view(peer, replica.state) == replica, f"{peer.name} was not sent it all"
        self.check_updates(replica)
        self.most_held = max(self.most_held, self.held())

    def check_updates(self, replica: Snapshot) -> None:
        """The replica holds whole updates that were sent, and every update it can build on."""
        state = replica.state
        for client, clock in state.items():
            ends = {0} | {atom.end for atom in self.atoms if atom.client == client}
            assert clock in ends, f"the replica holds part of an update of {client}: {state}"
        integrated = {
            i
            for i, atom in enumerate(self.atoms)
            if atom.has_structs and atom.end <= state.get(atom.client, 0)
        }
        sent = set(itertools.chain.from_iterable(self.sent))
        assert integrated <= sent, f"the replica holds updates never sent: {integrated - sent}"
        content = self.room.doc.get_update()
        for atoms in self.sent:
            if not all(self.atoms[i].buildable_on(state) for i in atoms):
                continue
            waiting = [
                i
                for i in atoms
                if i not in integrated
                and (
                    self.atoms[i].has_structs
                    or snapshot(doc_of(content, self.atoms[i].update)) != replica
                )
            ]
            assert not waiting, f"updates {waiting} still wait, yet all they need is in {state}"

    def held(self) -> int:
        return sum(self.room.held(peer) for peer in self.peers)


async def play(scenario: Scenario, store: SQLiteStore, name: str) -> None:
    history = scenario.history
    room = Room(name, store, compact_after=scenario.compact_after)
    room.load(await store.load(name))
    harness = Harness(room, store, history.atoms)
    for step in [*scenario.events, Flush()]:
        await harness.play(step)
    for step in [*scenario.finale, Flush()]:
        await harness.play(step)
    assert snapshot(room.doc) == history.merged, "every update was sent: the replica lacks some"
    assert harness.held() == 0, "every update was sent, yet some are still held"
    event(f"most updates held at a check: {bucket(harness.most_held)}")


_ROOMS = itertools.count()
"""Room names, one per example: the store and the server outlive an example."""


@pytest.fixture
def store(tmp_path: Path, jp_asyncio_loop: asyncio.AbstractEventLoop) -> Iterator[SQLiteStore]:
    """A real store, opened once for all the examples of a test (a room each)."""
    store = SQLiteStore(tmp_path / "rooms.sqlite")
    jp_asyncio_loop.run_until_complete(store.start())
    yield store
    jp_asyncio_loop.run_until_complete(store.stop())


# The store is shared by the examples on purpose: each plays in a room of its own. A failure
# is shrunk, but only the first one found, and not explained: that alone takes minutes.
@settings(
    max_examples=150,
    deadline=None,
    database=None,
    phases=(Phase.explicit, Phase.generate, Phase.shrink),
    report_multiple_bugs=False,
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
)
@given(scenario=scenarios())
def test_any_delivery_order_keeps_replica_store_and_peers_equal(
    scenario: Scenario, store: SQLiteStore, jp_asyncio_loop: asyncio.AbstractEventLoop
) -> None:
    """After every batch the replica, the replayed store and every peer's copy are equal, the
    replica holds whole updates that were sent and every one it can build on; once every
    update has been sent the replica is the writers' merged state and nothing is held."""
    jp_asyncio_loop.run_until_complete(play(scenario, store, f"order-{next(_ROOMS)}"))


# -- the server, a Yjs peer in node, raw websocket senders ---------------------------------------


class Wire(NamedTuple):
    """Two writers' updates, delivered to the server by two raw peers."""

    edits: list[Edit]
    history: History
    """The writers' updates, made once: the deliveries index into its atoms."""
    prefix: list[Deliver]
    """Some updates, with duplicates and in any order: gaps, most of the time."""
    rest: list[Deliver]
    """Then every update, in a random order."""


@st.composite
def wires(draw: st.DrawFn) -> Wire:
    edits = draw(st.lists(EDITS, min_size=4, max_size=12))
    history = write(2, edits)
    count = len(history.atoms)
    atom = st.integers(0, max(count - 1, 0))
    sender = st.integers(0, 1)
    deliveries = st.builds(
        Deliver,
        sender,
        st.one_of(st.tuples(atom), st.lists(atom, min_size=2, max_size=3).map(tuple)),
    )
    prefix = draw(st.lists(deliveries, min_size=1, max_size=2 * count)) if count else []
    rest = [Deliver(draw(sender), (i,)) for i in draw(st.permutations(range(count)))]
    return Wire(edits, history, prefix, rest)


@pytest.fixture(scope="session")
def node_peer() -> Path:
    """The node peer's directory, its packages installed once per session."""
    return install_node_peer()


class Sender:
    """A y-websocket connection that sends updates and keeps no replica: what the server
    sends it is only counted (a replica missing its own updates would meet the very Yrs bug).
    """

    def __init__(self, ws: Any) -> None:
        self.ws = ws
        self.answers = 0
        self._answered = asyncio.Event()
        self._reader = asyncio.create_task(self._read())

    @classmethod
    async def connect(cls, url: str) -> Sender:
        return cls(await websockets.connect(url, max_size=None, open_timeout=10))

    async def _read(self) -> None:
        try:
            async for message in self.ws:
                if message[:2] == bytes((YMessageType.SYNC, YSyncMessageType.SYNC_STEP2)):
                    self.answers += 1
                    self._answered.set()
        except websockets.ConnectionClosed:
            pass
        finally:
            self._answered.set()  # a waiter learns of the close at once

    async def send(self, update: bytes) -> None:
        await self.ws.send(create_update_message(update))

    async def settle(self, timeout: float = 10.0) -> None:
        """Send sync step 1 and wait for the answer: the server answers it once it has
        handled (applied or held, stored and sent) all this connection sent before."""
        answers = self.answers
        await self.ws.send(create_sync_message(Doc()))
        while self.answers == answers:
            closed = (self.ws.close_code, self.ws.close_reason)
            assert not self._reader.done(), f"the server closed a sender: {closed}"
            self._answered.clear()
            await asyncio.wait_for(self._answered.wait(), timeout)

    async def close(self) -> None:
        await self.ws.close()
        await self._reader


async def deliver(senders: list[Sender], atoms: list[Atom], deliveries: list[Deliver]) -> None:
    for sender, indices in deliveries:
        await senders[sender].send(merged(atoms, indices))


async def settle(senders: list[Sender], room: Room) -> None:
    """Wait until the server has handled all the senders sent."""
    for sender in senders:
        await sender.settle()
    await room.flushed()


def js_snapshot(js: JsPeer) -> Snapshot:
    state = js.request("state")
    return Snapshot(
        state["text"],
        normalize_delta(state["delta"]),
        {int(client): clock for client, clock in state["stateVector"].items()},
    )


async def js_holds(js: JsPeer, expected: Snapshot, when: str, timeout: float = 10.0) -> None:
    """Wait until the JS peer shows ``expected``; fail showing the difference."""
    deadline = time.monotonic() + timeout
    while True:
        seen = await asyncio.to_thread(js_snapshot, js)
        if seen == expected or time.monotonic() > deadline:
            break
        await asyncio.sleep(0.05)
    assert seen == expected, f"the JS peer, {when}"


async def over_the_wire(wire: Wire, room: str, url_of: Callable[..., str], app: Any) -> None:
    history = wire.history
    url = url_of(room)
    token = parse_qs(urlsplit(url).query)["token"][0]
    js = JsPeer(url_of(room, None).rsplit("/", 1)[0], room, token, name=room, hold=True)
    senders: list[Sender] = []
    joiner: RawPeer | None = None
    try:
        await asyncio.to_thread(js.wait_ready)
        senders = [await Sender.connect(url) for _ in range(2)]
        live: Room = app.manager.rooms[room]

        await deliver(senders, history.atoms, wire.prefix)
        await settle(senders, live)
        replica = snapshot(live.doc)
        event(f"updates held mid-way: {bucket(sum(live.held(p) for p in live.peers))}")
        assert replayed(await app.store.load(room)) == replica, "the store, mid-way"
        await js_holds(js, replica, "mid-way")

        await deliver(senders, history.atoms, wire.rest)
        await settle(senders, live)
        assert snapshot(live.doc) == history.merged, "the replica, at the end"
        assert replayed(await app.store.load(room)) == history.merged, "the store, at the end"
        await js_holds(js, history.merged, "at the end")
        joiner = await RawPeer(url).connect()
        await asyncio.wait_for(joiner.synced.wait(), 10)
        assert snapshot(joiner.doc) == history.merged, "a fresh joiner"
        assert [sender.ws.close_code for sender in senders] == [None, None], "a sender was closed"
    finally:
        for sender in senders:
            await sender.close()
        if joiner is not None:
            await joiner.close()
        await asyncio.to_thread(js.close)


# One server for all the examples (a room each), run on its event loop. No shrinking: a
# failing example costs seconds (it waits for the JS peer to time out); the unit-level test
# above shrinks the same kind of orders.
@pytest.mark.interop
@settings(
    max_examples=12,
    deadline=None,
    database=None,
    phases=(Phase.explicit, Phase.generate),
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
)
@given(wire=wires())
def test_a_yjs_peer_holds_what_the_replica_holds_whatever_the_order(
    wire: Wire,
    node_peer: Path,
    ysync_ws_url: Callable[..., str],
    ysync_app: Any,
    jp_asyncio_loop: asyncio.AbstractEventLoop,
) -> None:
    """Raw peers send two writers' updates in a gappy order, then all of them: mid-way the Yjs
    peer, the replica and the store agree; at the end they, and a fresh joiner, hold the
    writers' merged state."""
    room = f"order-{next(_ROOMS)}"
    jp_asyncio_loop.run_until_complete(over_the_wire(wire, room, ysync_ws_url, ysync_app))
