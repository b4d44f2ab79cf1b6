import {
  IPeer,
  groupPeople,
  headcount,
  isPeerState,
  listPeers,
  peerFromState
} from '../people';

const ADA = { name: 'Ada Lovelace', color: '#e67e22', username: 'ada' };
const GRACE = { name: 'Grace Hopper', color: '#2980b9', username: 'grace' };
const PYTHON = { name: 'Python', color: '#3572a5' };

function states(entries: [number, unknown][]): Map<number, unknown> {
  return new Map(entries);
}

describe('peerFromState', () => {
  it('reads the user and kind fields', () => {
    expect(peerFromState(7, { user: ADA, cursor: null }, 1)).toEqual({
      clientId: 7,
      name: 'Ada Lovelace',
      color: '#e67e22',
      username: 'ada',
      kind: 'person',
      isLocal: false,
      personKey: 'person/user:ada'
    });
    expect(peerFromState(8, { user: PYTHON, kind: 'kernel' }, 8)).toMatchObject(
      {
        kind: 'kernel',
        isLocal: true,
        personKey: 'kernel/client:8'
      }
    );
  });

  it.each([null, undefined, 'text', 42, {}, { user: null }, { user: 'Ada' }])(
    'gives a peer without presence defaults: %j',
    state => {
      expect(peerFromState(5, state, 1)).toEqual({
        clientId: 5,
        name: 'Peer 5',
        color: '#888888',
        username: null,
        kind: 'person',
        isLocal: false,
        personKey: 'person/client:5'
      });
    }
  );

  it('ignores fields of the wrong type', () => {
    const peer = peerFromState(
      3,
      { user: { name: 12, color: '', username: ['x'] }, kind: 'robot' },
      1
    );
    expect(peer).toMatchObject({
      name: 'Peer 3',
      color: '#888888',
      username: null,
      kind: 'person'
    });
  });
});

describe('listPeers', () => {
  it('puts the local peer first, then the others by client id', () => {
    const peers = listPeers(
      states([
        [30, { user: GRACE }],
        [10, { user: ADA }],
        [20, { user: ADA }]
      ]),
      20
    );
    expect(peers.map(peer => peer.clientId)).toEqual([20, 10, 30]);
    expect(peers.map(peer => peer.isLocal)).toEqual([true, false, false]);
  });

  it("leaves out the server's file state, which is no peer", () => {
    const fileState = {
      kind: 'file',
      file: {
        path: 'a.md',
        dirty: false,
        last_saved: null,
        writable: true,
        state: 'saved'
      }
    };
    const peers = listPeers(
      states([
        [10, { user: ADA }],
        [99, fileState]
      ]),
      10
    );
    expect(peers.map(peer => peer.clientId)).toEqual([10]);
    expect(groupPeople(peers)).toHaveLength(1);
    expect(isPeerState(fileState)).toBe(false);
    expect(isPeerState({ user: ADA })).toBe(true);
    expect(isPeerState(null)).toBe(true);
  });
});

describe('groupPeople', () => {
  function people(entries: [number, unknown][], local: number) {
    return groupPeople(listPeers(states(entries), local));
  }

  it('counts one person with a widget and a panel open once', () => {
    const room = people(
      [
        [1, { user: ADA }], // Ada's panel (this peer)
        [2, { user: ADA }], // Ada's notebook widget, same page
        [3, { user: GRACE }]
      ],
      1
    );
    expect(
      room.map(person => [person.name, person.isLocal, person.clientIds])
    ).toEqual([
      ['Ada Lovelace', true, [1, 2]],
      ['Grace Hopper', false, [3]]
    ]);
    expect(headcount(room)).toEqual({ people: 2, kernels: 0 });
  });

  it('groups by username even when the names differ', () => {
    const room = people(
      [
        [4, { user: { ...ADA, name: 'Ada (widget)' } }],
        [2, { user: ADA }]
      ],
      9
    );
    expect(room).toHaveLength(1);
    // Shown as the first peer (by client id) when none is local.
    expect(room[0]).toMatchObject({
      name: 'Ada Lovelace',
      clientIds: [2, 4],
      isLocal: false
    });
  });

  it('shows a person as their local peer', () => {
    const room = people(
      [
        [2, { user: { ...ADA, name: 'Ada L.', color: '#111111' } }],
        [5, { user: ADA }]
      ],
      5
    );
    expect(room[0]).toMatchObject({
      name: 'Ada Lovelace',
      color: '#e67e22',
      isLocal: true
    });
  });

  it('groups peers without a username by name and colour', () => {
    const node = { name: 'Node peer', color: '#000000' };
    const room = people(
      [
        [1, { user: node }],
        [2, { user: node }],
        [3, { user: { ...node, color: '#ffffff' } }]
      ],
      0
    );
    expect(room.map(person => person.clientIds)).toEqual([[1, 2], [3]]);
  });

  it('never groups nameless peers', () => {
    const room = people(
      [
        [1, {}],
        [2, {}]
      ],
      0
    );
    expect(room.map(person => person.name)).toEqual(['Peer 1', 'Peer 2']);
  });

  it('lists kernels as such, each on its own, after the people', () => {
    const room = people(
      [
        [1, { user: PYTHON, kind: 'kernel' }],
        [2, { user: PYTHON, kind: 'kernel' }],
        [3, { user: GRACE }],
        [4, { user: ADA }]
      ],
      4
    );
    expect(room.map(person => [person.name, person.kind])).toEqual([
      ['Ada Lovelace', 'person'],
      ['Grace Hopper', 'person'],
      ['Python', 'kernel'],
      ['Python', 'kernel']
    ]);
    expect(headcount(room)).toEqual({ people: 2, kernels: 2 });
  });

  it('never groups a kernel with a person of the same identity', () => {
    const room = people(
      [
        [1, { user: ADA, kind: 'kernel' }],
        [2, { user: ADA }]
      ],
      2
    );
    expect(room.map(person => person.kind)).toEqual(['person', 'kernel']);
  });

  it('groups kernels that publish a username', () => {
    const bot = { name: 'Report bot', color: '#16a085', username: 'bot' };
    const room = people(
      [
        [1, { user: bot, kind: 'kernel' }],
        [2, { user: bot, kind: 'kernel' }]
      ],
      0
    );
    expect(room.map(person => person.clientIds)).toEqual([[1, 2]]);
  });

  it('orders people by name, whatever the order of the peers', () => {
    const peers: IPeer[] = listPeers(
      states([
        [1, { user: { name: 'Zoe', color: '#000001' } }],
        [2, { user: { name: 'ada', color: '#000002' } }],
        [3, { user: { name: 'Bob', color: '#000003' } }]
      ]),
      0
    );
    const names = (list: IPeer[]) =>
      groupPeople(list).map(person => person.name);
    expect(names(peers)).toEqual(['ada', 'Bob', 'Zoe']);
    expect(names([...peers].reverse())).toEqual(['ada', 'Bob', 'Zoe']);
  });

  it('counts an empty room', () => {
    expect(groupPeople([])).toEqual([]);
    expect(headcount([])).toEqual({ people: 0, kernels: 0 });
  });
});
