/**
 * A room's versions: the REST contract of `ysync/rooms/{room}/versions`, and
 * what the history panel shows of a version (its title, authors and size,
 * and how the current text differs from it), and the change that restores
 * it. Pure: quill-delta only, no I/O, no DOM and no JupyterLab;
 * `roomhistory.ts` does the requests and `historypanel.ts` the widgets.
 *
 * The server's answers:
 *
 * ```json
 * GET  ysync/rooms/{room}/versions  (newest first)
 * [{"id": 7, "created": "2025-01-31T10:00:00Z", "name": "sent to review",
 *   "auto": false, "size": 812,
 *   "authors": [{"username": "ada", "display_name": "Ada", "kind": "browser"}]}]
 * POST ysync/rooms/{room}/versions  {"name": "sent to review"}  -> 201, one version
 * GET  ysync/rooms/{room}/versions/{id}/content?format=delta
 * {"room": "notes", "version": 7, "delta": [{"insert": "Title\n"}]}
 * ```
 *
 * A restore is a change of the restoring peer, like typing: the current
 * text, diffed against the version's (`restoreChange`), applied to the
 * editor. It is undoable, and other peers simply see an edit.
 */

import Delta, { AttributeMap, Op, OpIterator } from 'quill-delta';

import type { Translation } from './status';

/** The room routes; `/{room}/versions` and `/{room}/authors` follow. */
export const ROOMS_ROUTE = 'ysync/rooms';

/** Who edited a room, as the server knows them. */
export type AuthorKind = 'browser' | 'kernel' | 'system';

/** One author of a version or of the current text. */
export interface IAuthor {
  /** Jupyter's username; empty when the server does not know it. */
  readonly username: string;
  readonly displayName: string;
  /** A person in a browser, a kernel's script, or the server itself. */
  readonly kind: AuthorKind;
}

/** One recorded version of a room. */
export interface IVersion {
  readonly id: number;
  /** When it was recorded (ISO 8601, UTC). */
  readonly created: string;
  /** The name a peer gave it; null for an automatic version without one. */
  readonly name: string | null;
  /** Recorded by the server (the room went quiet), not asked for. */
  readonly auto: boolean;
  /** Who edited the room since the version before. */
  readonly authors: readonly IAuthor[];
  /** Its stored size, in bytes. */
  readonly size: number;
}

/** An answer of the server that breaks the contract. */
export class InvalidAnswer extends Error {
  constructor(
    readonly field: string,
    readonly value: unknown
  ) {
    super(
      `Invalid answer from the server: ${field} is ` +
        `${JSON.stringify(value)}; is the jupyter_ysync server extension ` +
        'the same version as the labextension?'
    );
    this.name = 'InvalidAnswer';
  }
}

/** Join a base URL (with or without its final slash) and a route. */
function join(baseUrl: string, route: string): string {
  return baseUrl.endsWith('/') ? baseUrl + route : `${baseUrl}/${route}`;
}

/**
 * The URL of a room's route: its versions, its authors, ….
 *
 * ```ts
 * roomUrl('http://host/', 'file:3f2a', 'versions');
 * // 'http://host/ysync/rooms/file%3A3f2a/versions'
 * ```
 */
export function roomUrl(baseUrl: string, room: string, route: string): string {
  return join(baseUrl, `${ROOMS_ROUTE}/${encodeURIComponent(room)}/${route}`);
}

/** The URL of the content of version `id`, as a Quill delta. */
export function versionContentUrl(
  baseUrl: string,
  room: string,
  id: number
): string {
  return roomUrl(baseUrl, room, `versions/${id}/content?format=delta`);
}

export function isRecord(value: unknown): value is Record<string, unknown> {
  return value !== null && typeof value === 'object' && !Array.isArray(value);
}

/** Read `name` from `data`, or throw `InvalidAnswer` naming it (`where.name`). */
export function field<T>(
  data: Record<string, unknown>,
  name: string,
  check: (value: unknown) => value is T,
  where = ''
): T {
  const value = data[name];
  if (!check(value)) {
    throw new InvalidAnswer(where ? `${where}.${name}` : name, value);
  }
  return value;
}

export const isString = (value: unknown): value is string =>
  typeof value === 'string';
const isCount = (value: unknown): value is number =>
  typeof value === 'number' && Number.isInteger(value) && value >= 0;
const isBoolean = (value: unknown): value is boolean =>
  typeof value === 'boolean';
const isName = (value: unknown): value is string | null | undefined =>
  value === null || value === undefined || typeof value === 'string';
const isKind = (value: unknown): value is AuthorKind =>
  value === 'browser' || value === 'kernel' || value === 'system';

/**
 * Read one author (`{"username", "display_name", "kind"}`); a missing
 * display name is the username.
 *
 * @throws InvalidAnswer naming the first field that breaks the contract.
 */
export function parseAuthor(data: unknown, where = 'author'): IAuthor {
  if (!isRecord(data)) {
    throw new InvalidAnswer(where, data);
  }
  const username = field(data, 'username', isName, where) ?? '';
  const displayName = field(data, 'display_name', isName, where) || username;
  return {
    username,
    displayName,
    kind: field(data, 'kind', isKind, where)
  };
}

/**
 * Read one version, e.g. the answer to `POST …/versions`.
 *
 * @throws InvalidAnswer naming the first field that breaks the contract.
 */
export function parseVersion(data: unknown, where = 'version'): IVersion {
  if (!isRecord(data)) {
    throw new InvalidAnswer(where, data);
  }
  const authors = field(data, 'authors', Array.isArray, where);
  return {
    id: field(data, 'id', isCount, where),
    created: field(data, 'created', isString, where),
    name: field(data, 'name', isName, where) || null,
    auto: field(data, 'auto', isBoolean, where),
    authors: authors.map((author, index) =>
      parseAuthor(author, `${where}.authors[${index}]`)
    ),
    size: field(data, 'size', isCount, where)
  };
}

/**
 * Read the answer to `GET …/versions`: newest first, as the server sends it.
 *
 * @throws InvalidAnswer naming the first field that breaks the contract.
 */
export function parseVersions(data: unknown): IVersion[] {
  if (!Array.isArray(data)) {
    throw new InvalidAnswer('the list of versions', data);
  }
  return data.map((version, index) => parseVersion(version, `[${index}]`));
}

const isOp = (value: unknown): boolean =>
  isRecord(value) &&
  (typeof value.insert === 'string' || isRecord(value.insert)) &&
  (value.attributes === undefined || isRecord(value.attributes));

/**
 * Read the answer to `GET …/versions/{id}/content?format=delta`: the
 * version's text, as a document (inserts only).
 *
 * @throws InvalidAnswer when it holds no delta of inserts.
 */
export function parseVersionContent(data: unknown): Delta {
  if (!isRecord(data)) {
    throw new InvalidAnswer('the version content', data);
  }
  const ops = field(data, 'delta', Array.isArray);
  const bad = ops.findIndex(op => !isOp(op));
  if (bad >= 0) {
    throw new InvalidAnswer(`delta[${bad}]`, ops[bad]);
  }
  return new Delta(ops as Op[]);
}

/** A version's title: its name, else "Automatic" or "Unnamed". */
export function versionTitle(version: IVersion, trans: Translation): string {
  if (version.name) {
    return version.name;
  }
  return version.auto ? trans.__('Automatic') : trans.__('Unnamed');
}

/** One author in words: a kernel's edits are a script's, the server's its own. */
export function authorLabel(author: IAuthor, trans: Translation): string {
  const name = author.displayName || trans.__('Unknown');
  switch (author.kind) {
    case 'kernel':
      return trans.__('%1 (script)', name);
    case 'system':
      return author.displayName
        ? trans.__('%1 (server)', name)
        : trans.__('the server');
    default:
      return name;
  }
}

/** A version's authors in words, e.g. `Ada, Ada (script)`; `—` for none. */
export function authorsLine(
  authors: readonly IAuthor[],
  trans: Translation
): string {
  if (authors.length === 0) {
    return '—';
  }
  return authors.map(author => authorLabel(author, trans)).join(', ');
}

/** A size in bytes, for people: `812 B`, `1.4 KB`, `2.0 MB`. */
export function formatSize(bytes: number): string {
  if (bytes < 1024) {
    return `${bytes} B`;
  }
  if (bytes < 1024 * 1024) {
    return `${(bytes / 1024).toFixed(1)} KB`;
  }
  return `${(bytes / (1024 * 1024)).toFixed(1)} MB`;
}

/**
 * When a version was recorded, in the user's locale and time zone; the
 * server's text if it is no date.
 */
export function formatTime(created: string, locale?: string): string {
  const time = new Date(created);
  if (Number.isNaN(time.getTime())) {
    return created;
  }
  return time.toLocaleString(locale, {
    dateStyle: 'medium',
    timeStyle: 'short'
  });
}

/** Whether `delta` ends with a newline (an embed or nothing is no newline). */
function endsWithNewline(delta: Delta): boolean {
  const last = delta.ops[delta.ops.length - 1];
  return typeof last?.insert === 'string' && last.insert.endsWith('\n');
}

/**
 * A delta of inserts as an editor shows it: with a final newline (the
 * final-newline contract of `richtext.ts`, which a version's delta keeps
 * already; this is for one that does not).
 */
export function asDocument(delta: Delta): Delta {
  return endsWithNewline(delta) ? delta : new Delta(delta.ops).insert('\n');
}

/**
 * The change that turns `current` (what the editor shows) into `version`:
 * what "Restore this version" applies as the user's own edit.
 *
 * ```ts
 * quill.updateContents(restoreChange(quill.getContents(), version), 'user');
 * ```
 */
export function restoreChange(current: Delta, version: Delta): Delta {
  return asDocument(current).diff(asDocument(version));
}

/** How a piece of text differs between a version and the current text. */
export type DiffKind = 'equal' | 'insert' | 'delete' | 'format';

/**
 * One piece of the diff view: text (or an embed) with the formats it shows
 * (the current ones, for text in both), and how it differs.
 */
export interface IDiffSegment {
  readonly kind: DiffKind;
  readonly insert: string | Record<string, unknown>;
  readonly attributes?: AttributeMap;
}

function pushSegment(segments: IDiffSegment[], kind: DiffKind, op: Op): void {
  const insert = op.insert as string | Record<string, unknown>;
  const attributes = op.attributes;
  const last = segments[segments.length - 1];
  // Consecutive text of one kind and the same formats is one segment.
  if (
    last &&
    last.kind === kind &&
    typeof last.insert === 'string' &&
    typeof insert === 'string' &&
    AttributeMap.diff(last.attributes, attributes) === undefined
  ) {
    segments[segments.length - 1] = { ...last, insert: last.insert + insert };
    return;
  }
  segments.push(
    attributes && Object.keys(attributes).length > 0
      ? { kind, insert, attributes }
      : { kind, insert }
  );
}

/**
 * How `to` differs from `from` (both documents: inserts only), piece by
 * piece, in the order a reader sees them: text in both (`equal`, or
 * `format` when only its formats changed, shown with the new ones), text
 * only in `to` (`insert`) and text only in `from` (`delete`), a deletion
 * shown before the insertion that replaces it.
 *
 * ```ts
 * diffSegments(new Delta().insert('cat\n'), new Delta().insert('cart\n'));
 * // [{kind: 'equal', insert: 'ca'}, {kind: 'insert', insert: 'r'},
 * //  {kind: 'equal', insert: 't\n'}]
 * ```
 */
export function diffSegments(from: Delta, to: Delta): IDiffSegment[] {
  const change = from.diff(to);
  const base = new OpIterator(from.ops);
  const segments: IDiffSegment[] = [];
  const take = (length: number, each: (op: Op) => void): void => {
    for (let left = length; left > 0 && base.hasNext();) {
      const op = base.next(left);
      left -= Op.length(op);
      each(op);
    }
  };
  // Inserted text waits for the deletions next to it: old, then new.
  let inserted: Op[] = [];
  const flushInserted = (): void => {
    inserted.forEach(op => pushSegment(segments, 'insert', op));
    inserted = [];
  };
  for (const op of change.ops) {
    if (op.insert !== undefined) {
      inserted.push(op);
    } else if (op.delete !== undefined) {
      take(op.delete, piece => pushSegment(segments, 'delete', piece));
    } else {
      flushInserted();
      const retain = op.retain as number;
      const formats = op.attributes;
      take(retain, piece => {
        if (formats) {
          const attributes = AttributeMap.compose(
            piece.attributes,
            formats,
            false
          );
          pushSegment(segments, 'format', { ...piece, attributes });
        } else {
          pushSegment(segments, 'equal', piece);
        }
      });
    }
  }
  flushInserted();
  // Diffs end with their last change: the rest is the same in both.
  while (base.hasNext()) {
    pushSegment(segments, 'equal', base.next());
  }
  return segments;
}

/** How many characters (embeds count one) were inserted and deleted. */
export interface IDiffStats {
  readonly inserted: number;
  readonly deleted: number;
  readonly reformatted: number;
}

export function diffStats(segments: readonly IDiffSegment[]): IDiffStats {
  const stats = { inserted: 0, deleted: 0, reformatted: 0 };
  for (const segment of segments) {
    const length =
      typeof segment.insert === 'string' ? segment.insert.length : 1;
    if (segment.kind === 'insert') {
      stats.inserted += length;
    } else if (segment.kind === 'delete') {
      stats.deleted += length;
    } else if (segment.kind === 'format') {
      stats.reformatted += length;
    }
  }
  return stats;
}

/**
 * The inline format that marks a piece of the diff view (`insert`, `delete`
 * or `format`); only the diff view's own Quill registry knows it, so it can
 * never reach a room's text.
 */
export const DIFF_FORMAT = 'ysync-diff';

/** Shown before an inserted or deleted line break, which is otherwise invisible. */
export const LINE_BREAK_MARK = '¶';

/**
 * The diff view as a Quill document: every segment with its formats, and
 * changed pieces marked with `DIFF_FORMAT`. A changed line break shows as a
 * marked `¶` before it (a line break takes no inline format).
 */
export function diffDocument(segments: readonly IDiffSegment[]): Delta {
  const document = new Delta();
  for (const segment of segments) {
    const { kind, insert } = segment;
    const attributes = segment.attributes ?? {};
    if (kind === 'equal') {
      document.insert(insert, attributes);
      continue;
    }
    const marked = { ...attributes, [DIFF_FORMAT]: kind };
    if (typeof insert !== 'string') {
      document.insert(insert, marked);
      continue;
    }
    insert.split(/(\n)/).forEach(part => {
      if (part === '\n') {
        if (kind !== 'format') {
          document.insert(LINE_BREAK_MARK, marked);
        }
        document.insert('\n', attributes);
      } else if (part) {
        document.insert(part, marked);
      }
    });
  }
  return asDocument(document);
}
