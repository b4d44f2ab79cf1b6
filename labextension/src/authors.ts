/**
 * Who wrote what: the REST contract of `ysync/rooms/{room}/authors`, the
 * legend of the editor's "show authors" mode, and the ranges kept in step
 * with the text between two answers. Pure: quill-delta only, no I/O, no DOM;
 * `authorsview.ts` tints the editor.
 *
 * The server's answer (ranges of the current text, in Quill units, by the
 * Yjs client that inserted them):
 *
 * ```json
 * {"clients": {"2718": {"username": "ada", "display_name": "Ada", "kind": "browser"}},
 *  "ranges": [{"index": 0, "length": 12, "client": 2718}]}
 * ```
 */

import type Delta from 'quill-delta';

import type { IPeer } from './people';
import type { Translation } from './status';
import {
  AuthorKind,
  IAuthor,
  InvalidAnswer,
  authorLabel,
  field,
  isRecord,
  parseAuthor
} from './versions';

/** A range of the current text and the Yjs client that inserted it. */
export interface IAuthorRange {
  readonly index: number;
  readonly length: number;
  readonly client: number;
}

/** The answer to `GET …/authors`. */
export interface IAuthorship {
  /** Who is behind each Yjs client id that wrote some of the text. */
  readonly clients: ReadonlyMap<number, IAuthor>;
  /** Ranges of the text, by index, none empty. */
  readonly ranges: readonly IAuthorRange[];
}

const isIndex = (value: unknown): value is number =>
  typeof value === 'number' && Number.isInteger(value) && value >= 0;

/**
 * Read the answer to `GET …/authors`. Ranges come out sorted, without empty
 * ones; a client id missing from `clients` stays in the ranges (an unknown
 * author).
 *
 * @throws InvalidAnswer naming the first field that breaks the contract.
 */
export function parseAuthorship(data: unknown): IAuthorship {
  if (!isRecord(data)) {
    throw new InvalidAnswer('the authors', data);
  }
  const clientsField = field(data, 'clients', isRecord);
  const clients = new Map<number, IAuthor>();
  for (const [id, author] of Object.entries(clientsField)) {
    const client = Number(id);
    if (!isIndex(client) || id.trim() === '') {
      throw new InvalidAnswer('clients', id);
    }
    clients.set(client, parseAuthor(author, `clients[${id}]`));
  }
  const ranges = field(data, 'ranges', Array.isArray).map((range, i) => {
    const where = `ranges[${i}]`;
    if (!isRecord(range)) {
      throw new InvalidAnswer(where, range);
    }
    return {
      index: field(range, 'index', isIndex, where),
      length: field(range, 'length', isIndex, where),
      client: field(range, 'client', isIndex, where)
    };
  });
  return {
    clients,
    ranges: ranges
      .filter(range => range.length > 0)
      .sort((a, b) => a.index - b.index)
  };
}

/** One author in the legend; their client ids share a colour. */
export interface ILegendEntry {
  /** Who: the kind, then the username (else the client id). */
  readonly key: string;
  readonly name: string;
  readonly kind: AuthorKind | 'unknown';
  readonly color: string;
  /** This is the local user (in a browser, not a script). */
  readonly isLocal: boolean;
  /** Characters of the current text they wrote. */
  readonly chars: number;
  readonly clientIds: readonly number[];
}

/**
 * Colours of authors who are not in the room (and so have no caret colour):
 * distinct, and readable as a light tint in both themes.
 */
export const AUTHOR_PALETTE = [
  '#1f77b4',
  '#d62728',
  '#2ca02c',
  '#9467bd',
  '#ff7f0e',
  '#17becf',
  '#e377c2',
  '#8c564b',
  '#bcbd22',
  '#7f7f7f'
];

/** A stable index into `AUTHOR_PALETTE` for `key`. */
function paletteIndex(key: string): number {
  let hash = 0;
  for (let i = 0; i < key.length; i++) {
    hash = (hash * 31 + key.charCodeAt(i)) >>> 0;
  }
  return hash % AUTHOR_PALETTE.length;
}

/** Who is behind a client id, as a legend key. */
export function authorKey(client: number, author: IAuthor | undefined): string {
  if (!author) {
    return `unknown/client:${client}`;
  }
  return author.username
    ? `${author.kind}/${author.username}`
    : `${author.kind}/client:${client}`;
}

/** The legend's key of a peer in the room, as `authorKey` of their edits. */
function peerKey(peer: IPeer): string | null {
  if (!peer.username) {
    return null;
  }
  return `${peer.kind === 'kernel' ? 'kernel' : 'browser'}/${peer.username}`;
}

/**
 * The legend of "show authors": one entry per author (a person in their
 * browsers, the same person's kernel scripts apart), most text first. An
 * author in the room has their caret colour; anyone else a palette colour,
 * stable for them and, as far as the palette goes, unlike the others'.
 *
 * ```ts
 * buildLegend(parseAuthorship(answer), editor.peers, trans);
 * ```
 */
export function buildLegend(
  authorship: IAuthorship,
  peers: readonly IPeer[],
  trans: Translation
): ILegendEntry[] {
  const chars = new Map<string, number>();
  const clientIds = new Map<string, Set<number>>();
  const authors = new Map<string, { author?: IAuthor; client: number }>();
  for (const range of authorship.ranges) {
    const author = authorship.clients.get(range.client);
    const key = authorKey(range.client, author);
    chars.set(key, (chars.get(key) ?? 0) + range.length);
    if (!clientIds.has(key)) {
      clientIds.set(key, new Set());
      authors.set(key, { author, client: range.client });
    }
    clientIds.get(key)!.add(range.client);
  }
  const local = peers.find(peer => peer.isLocal);
  const localKey = local ? peerKey(local) : null;
  // An author's caret colour: that of the very peer (Yjs and awareness share
  // client ids), else of a peer of the same user and kind.
  const peerColors = new Map<string, string>();
  const byClient = new Map(peers.map(peer => [peer.clientId, peer]));
  for (const [key, ids] of clientIds) {
    const peer = [...ids].map(id => byClient.get(id)).find(Boolean);
    if (peer) {
      peerColors.set(key, peer.color);
    }
  }
  for (const peer of peers) {
    const key = peerKey(peer);
    if (key !== null && !peerColors.has(key)) {
      peerColors.set(key, peer.color);
    }
  }
  const keys = [...chars.keys()].sort(
    (a, b) => chars.get(b)! - chars.get(a)! || (a < b ? -1 : a > b ? 1 : 0)
  );
  const taken = new Set(peerColors.values());
  const colors = new Map<string, string>();
  for (const key of keys) {
    let color = peerColors.get(key);
    if (color === undefined) {
      // The author's own palette colour, else the next one nobody has.
      const start = paletteIndex(key);
      color = AUTHOR_PALETTE[start];
      for (let step = 0; step < AUTHOR_PALETTE.length; step++) {
        const candidate =
          AUTHOR_PALETTE[(start + step) % AUTHOR_PALETTE.length];
        if (!taken.has(candidate)) {
          color = candidate;
          break;
        }
      }
    }
    taken.add(color);
    colors.set(key, color);
  }
  return keys.map(key => {
    const { author, client } = authors.get(key)!;
    return {
      key,
      name: author
        ? author.displayName || author.username || authorLabel(author, trans)
        : trans.__('Unknown (client %1)', client),
      kind: author?.kind ?? 'unknown',
      color: colors.get(key)!,
      isLocal:
        key === localKey ||
        (local !== undefined &&
          author?.kind !== 'kernel' &&
          clientIds.get(key)!.has(local.clientId)),
      chars: chars.get(key)!,
      clientIds: [...clientIds.get(key)!].sort((a, b) => a - b)
    };
  });
}

/**
 * Keep ranges on the text they cover through a change of the text (before
 * the next answer says who wrote the change): text inserted at a range's
 * edge is left out, text deleted shortens it, and emptied ranges go.
 */
export function shiftRanges(
  ranges: readonly IAuthorRange[],
  change: Delta
): IAuthorRange[] {
  const shifted: IAuthorRange[] = [];
  for (const range of ranges) {
    const start = change.transformPosition(range.index);
    const end = change.transformPosition(range.index + range.length, true);
    if (end > start) {
      shifted.push({ ...range, index: start, length: end - start });
    }
  }
  return shifted;
}
