/**
 * Who is in a room: the awareness states of its peers (one per connection),
 * grouped into people, so that one person with a widget and a panel open on
 * the same room counts once. Kernels (Python peers) are listed as such; the
 * server's file state (kind `file`) is no peer. Pure functions, no DOM.
 */

import { IAwarenessState, PeerKind } from './protocol';

/** One peer (one connection) in the room, from its awareness state. */
export interface IPeer {
  readonly clientId: number;
  readonly name: string;
  readonly color: string;
  /** The user's stable identity, when the peer publishes one. */
  readonly username: string | null;
  readonly kind: PeerKind;
  /** This peer is the local one. */
  readonly isLocal: boolean;
  /**
   * Who is behind the peer: its kind, then its username when it publishes
   * one, else (for a person) its name and colour; a nameless peer and a
   * kernel without username stand alone. Peers with the same key are one
   * person (or one kernel).
   */
  readonly personKey: string;
}

/** One person, or one kernel, in the room: their peers grouped by identity. */
export interface IPerson {
  /** What the peers were grouped by (`IPeer.personKey`). */
  readonly key: string;
  readonly name: string;
  readonly color: string;
  readonly kind: PeerKind;
  /** One of the peers is the local one: this is "you". */
  readonly isLocal: boolean;
  /** The person's peers, e.g. a notebook widget and a panel; ascending. */
  readonly clientIds: readonly number[];
}

/** How many people and kernels are in the room. */
export interface IHeadcount {
  readonly people: number;
  readonly kernels: number;
}

/** The caret colour of a peer that publishes none. */
export const UNKNOWN_COLOR = '#888888';

function nonEmptyString(value: unknown): string | null {
  return typeof value === 'string' && value.length > 0 ? value : null;
}

/** Read one peer from its awareness state; unknown fields get defaults. */
export function peerFromState(
  clientId: number,
  state: unknown,
  localClientId: number
): IPeer {
  const fields: IAwarenessState =
    state !== null && typeof state === 'object'
      ? (state as IAwarenessState)
      : {};
  const user =
    fields.user !== null && typeof fields.user === 'object' ? fields.user : {};
  const name = nonEmptyString(user.name);
  const color = nonEmptyString(user.color) ?? UNKNOWN_COLOR;
  const username = nonEmptyString(user.username);
  const kind: PeerKind = fields.kind === 'kernel' ? 'kernel' : 'person';
  let identity: string;
  if (username !== null) {
    identity = `user:${username}`;
  } else if (name !== null && kind === 'person') {
    // Without a username, a person is known by name and colour; a kernel
    // (each its own process) stands alone.
    identity = `name:${name}\n${color}`;
  } else {
    identity = `client:${clientId}`;
  }
  return {
    clientId,
    name: name ?? `Peer ${clientId}`,
    color,
    username,
    kind,
    isLocal: clientId === localClientId,
    personKey: `${kind}/${identity}`
  };
}

/**
 * Whether an awareness state is a peer's: not the server's own state (kind
 * `file`, the file state of a file's room), which has no caret and no person.
 */
export function isPeerState(state: unknown): boolean {
  return !(
    state !== null &&
    typeof state === 'object' &&
    (state as IAwarenessState).kind === 'file'
  );
}

/**
 * Every peer in the room, the local one first, then by client id; states
 * that are no peer's (`isPeerState`) are left out.
 */
export function listPeers(
  states: ReadonlyMap<number, unknown>,
  localClientId: number
): IPeer[] {
  const peers: IPeer[] = [];
  states.forEach((state, clientId) => {
    if (isPeerState(state)) {
      peers.push(peerFromState(clientId, state, localClientId));
    }
  });
  return peers.sort(
    (a, b) => Number(b.isLocal) - Number(a.isLocal) || a.clientId - b.clientId
  );
}

/**
 * Group peers into people (and kernels), "you" first, then people before
 * kernels, each by name. A person's name and colour are those of their local
 * peer, else of their first peer.
 *
 * ```ts
 * groupPeople(listPeers(awareness.getStates(), doc.clientID));
 * ```
 */
export function groupPeople(peers: readonly IPeer[]): IPerson[] {
  const groups = new Map<string, IPeer[]>();
  for (const peer of peers) {
    const group = groups.get(peer.personKey);
    if (group) {
      group.push(peer);
    } else {
      groups.set(peer.personKey, [peer]);
    }
  }
  const people: IPerson[] = [];
  groups.forEach((group, key) => {
    const ordered = [...group].sort(
      (a, b) => Number(b.isLocal) - Number(a.isLocal) || a.clientId - b.clientId
    );
    const shown = ordered[0];
    people.push({
      key,
      name: shown.name,
      color: shown.color,
      kind: shown.kind,
      isLocal: shown.isLocal,
      clientIds: group.map(peer => peer.clientId).sort((a, b) => a - b)
    });
  });
  return people.sort(
    (a, b) =>
      Number(b.isLocal) - Number(a.isLocal) ||
      Number(a.kind === 'kernel') - Number(b.kind === 'kernel') ||
      a.name.localeCompare(b.name) ||
      (a.key < b.key ? -1 : a.key > b.key ? 1 : 0)
  );
}

/** Count the people and the kernels among `people`. */
export function headcount(people: readonly IPerson[]): IHeadcount {
  const kernels = people.filter(person => person.kind === 'kernel').length;
  return { people: people.length - kernels, kernels };
}
