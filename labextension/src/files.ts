/**
 * Files as rooms: the REST contract of `ysync/files` and of a file room's
 * `save` and `revert` actions, the file state the server publishes in the
 * room's awareness, and the tab's dirty flag derived from it. Pure: no I/O,
 * no DOM and no JupyterLab; `filedoc.ts` does the requests and the widgets.
 *
 * The server's answer to every route (`IFileInfo`):
 *
 * ```json
 * {"room": "file:3f2a…", "path": "notes/report.md", "file_id": "3f2a…",
 *  "format": "markdown", "writable": true, "dirty": false,
 *  "last_saved": "2025-01-31T10:00:00Z"}
 * ```
 *
 * and its own awareness state in the room (no `user`: it is no person):
 *
 * ```json
 * {"kind": "file", "file": {"path": "notes/report.md", "dirty": true,
 *  "last_saved": null, "writable": true, "state": "unsaved"}}
 * ```
 */

import type { Translation } from './status';

/** Opens a file's room (importing the file if needed) and describes it. */
export const FILES_ROUTE = 'ysync/files';

/** The room routes, as in `protocol.ts`; `/{room}/save` and `/{room}/revert` follow. */
export const ROOM_ACTIONS_ROUTE = 'ysync/rooms';

/** What a file room's server does on request. */
export type FileAction = 'save' | 'revert';

/** The file formats the server imports into a room. */
export type FileFormat = 'markdown' | 'html';

/** The awareness `kind` of the server's file state; such a state is no peer. */
export const FILE_STATE_KIND = 'file';

/**
 * The line format (`code-block` value) of lines that hold the file's own
 * source, which the editor cannot show as rich text (tables, front matter,
 * raw HTML): shown as labelled source, and written back byte for byte.
 */
export const VERBATIM = 'verbatim';

/** The file behind a room, as the server describes it. */
export interface IFileInfo {
  /** The room name, `file:<file_id>`. */
  readonly room: string;
  /** The file's path under the server's root. */
  readonly path: string;
  /** The server's stable id of the file (it survives renames). */
  readonly fileId: string;
  readonly format: FileFormat;
  /** The server may write the file. */
  readonly writable: boolean;
  /** The room holds changes the file does not have yet. */
  readonly dirty: boolean;
  /** When the room was last written to the file (ISO 8601), if ever. */
  readonly lastSaved: string | null;
}

/** Where a file stands, as the server's awareness state says. */
export type FileSaveState = 'saved' | 'unsaved' | 'deleted';

/** The server's live file state, from its awareness state in the room. */
export interface IFileState {
  readonly path: string;
  readonly dirty: boolean;
  readonly lastSaved: string | null;
  readonly writable: boolean;
  readonly state: FileSaveState;
}

/** An answer of the server that breaks the contract. */
export class InvalidFileInfo extends Error {
  constructor(
    readonly field: string,
    readonly value: unknown
  ) {
    super(
      `Invalid file description from the server: ${field} is ` +
        `${JSON.stringify(value)}; is the jupyter_ysync server extension ` +
        'the same version as the labextension?'
    );
    this.name = 'InvalidFileInfo';
  }
}

/**
 * A file path as a URL path: each segment percent-encoded, as JupyterLab's
 * contents API does (`URLExt.encodeParts`), leading and trailing slashes
 * dropped.
 *
 * ```ts
 * encodePath('/notes/Q1 report#2.md'); // 'notes/Q1%20report%232.md'
 * ```
 */
export function encodePath(path: string): string {
  return path
    .split('/')
    .filter(segment => segment !== '')
    .map(encodeURIComponent)
    .join('/');
}

/** Join a base URL (with or without its final slash) and a route. */
function join(baseUrl: string, route: string): string {
  return baseUrl.endsWith('/') ? baseUrl + route : `${baseUrl}/${route}`;
}

/**
 * The URL that opens the room of the file at `path` and describes it.
 *
 * ```ts
 * fileUrl('http://host/user/ada/', 'notes/report.md');
 * // 'http://host/user/ada/ysync/files/notes/report.md'
 * ```
 */
export function fileUrl(baseUrl: string, path: string): string {
  return join(baseUrl, `${FILES_ROUTE}/${encodePath(path)}`);
}

/**
 * The URL of a file room's `save` or `revert` action.
 *
 * ```ts
 * roomActionUrl('http://host/', 'file:3f2a', 'save');
 * // 'http://host/ysync/rooms/file%3A3f2a/save'
 * ```
 */
export function roomActionUrl(
  baseUrl: string,
  room: string,
  action: FileAction
): string {
  return join(
    baseUrl,
    `${ROOM_ACTIONS_ROUTE}/${encodeURIComponent(room)}/${action}`
  );
}

function field<T>(
  data: Record<string, unknown>,
  name: string,
  check: (value: unknown) => value is T
): T {
  const value = data[name];
  if (!check(value)) {
    throw new InvalidFileInfo(name, value);
  }
  return value;
}

const isString = (value: unknown): value is string =>
  typeof value === 'string' && value.length > 0;
const isBoolean = (value: unknown): value is boolean =>
  typeof value === 'boolean';
const isTime = (value: unknown): value is string | null =>
  value === null || typeof value === 'string';
const isFormat = (value: unknown): value is FileFormat =>
  value === 'markdown' || value === 'html';

/**
 * Read the server's JSON answer to `GET ysync/files/{path}`, `save` or
 * `revert`.
 *
 * @throws InvalidFileInfo naming the first field that breaks the contract.
 */
export function parseFileInfo(data: unknown): IFileInfo {
  if (data === null || typeof data !== 'object' || Array.isArray(data)) {
    throw new InvalidFileInfo('the answer', data);
  }
  const fields = data as Record<string, unknown>;
  return {
    room: field(fields, 'room', isString),
    path: field(fields, 'path', isString),
    fileId: field(fields, 'file_id', isString),
    format: field(fields, 'format', isFormat),
    writable: field(fields, 'writable', isBoolean),
    dirty: field(fields, 'dirty', isBoolean),
    lastSaved: field(fields, 'last_saved', isTime) ?? null
  };
}

/** Whether an awareness state is a server's file state (and so no peer). */
export function isFileState(state: unknown): boolean {
  return (
    state !== null &&
    typeof state === 'object' &&
    (state as { kind?: unknown }).kind === FILE_STATE_KIND
  );
}

/**
 * Read a server's file state from one awareness state; null when it is none
 * or is malformed (a state from a newer or broken server is ignored, not
 * fatal).
 */
export function parseFileState(state: unknown): IFileState | null {
  if (!isFileState(state)) {
    return null;
  }
  const file = (state as { file?: unknown }).file;
  if (file === null || typeof file !== 'object') {
    return null;
  }
  const fields = file as Record<string, unknown>;
  const { path, dirty, writable } = fields;
  const lastSaved = fields.last_saved ?? null;
  const saveState = fields.state;
  if (
    typeof path !== 'string' ||
    typeof dirty !== 'boolean' ||
    typeof writable !== 'boolean' ||
    !isTime(lastSaved) ||
    (saveState !== 'saved' &&
      saveState !== 'unsaved' &&
      saveState !== 'deleted')
  ) {
    return null;
  }
  return { path, dirty, lastSaved, writable, state: saveState };
}

/**
 * The file state among a room's awareness states (the server publishes one,
 * under its own client id); null while there is none.
 *
 * ```ts
 * findFileState(provider.awareness.getStates());
 * ```
 */
export function findFileState(
  states: ReadonlyMap<number, unknown>
): IFileState | null {
  for (const state of states.values()) {
    const file = parseFileState(state);
    if (file !== null) {
      return file;
    }
  }
  return null;
}

/** A file state in a few words, for the status line. */
export function fileStateLabel(
  state: FileSaveState,
  trans: Pick<Translation, '__'>
): string {
  switch (state) {
    case 'saved':
      return trans.__('saved');
    case 'unsaved':
      return trans.__('unsaved changes');
    case 'deleted':
      return trans.__('file deleted');
  }
}

/**
 * Whether the room holds changes its file does not have yet: the tab's
 * dirty flag. The server's word decides (its file state, or its answer to a
 * save or revert), and this peer's own edits count at once, before the
 * server's next word arrives.
 *
 * A local edit stays counted until the server has seen a change after it:
 * it reports the room dirty, or saved at another time than when the edit
 * was made, or it answered a save or revert that began after the edit.
 *
 * ```ts
 * const dirty = new DirtyState(info);
 * dirty.localEdit();             // dirty.dirty === true
 * const save = dirty.beginSave();
 * dirty.endSave(save, answer);   // the server's answer decides
 * ```
 */
export class DirtyState {
  constructor(info?: Pick<IFileInfo, 'dirty' | 'lastSaved'>) {
    this._serverDirty = info?.dirty ?? false;
    this._lastSaved = info?.lastSaved ?? null;
  }

  /** The room holds changes its file does not have yet. */
  get dirty(): boolean {
    return !this._deleted && (this._serverDirty || this._pendingEdit !== null);
  }

  /** The file was deleted: nothing is left to save. */
  get deleted(): boolean {
    return this._deleted;
  }

  /** When the room was last written to the file, as far as this peer knows. */
  get lastSaved(): string | null {
    return this._lastSaved;
  }

  /** This peer edited the room. */
  localEdit(): void {
    this._edits += 1;
    if (this._pendingEdit === null) {
      this._pendingEdit = { lastSaved: this._lastSaved };
    }
  }

  /** The server's file state changed (its awareness state). */
  serverState(state: Pick<IFileState, 'dirty' | 'lastSaved' | 'state'>): void {
    if (state.state === 'deleted') {
      this._deleted = true;
    }
    const pending = this._pendingEdit;
    if (
      pending !== null &&
      (state.dirty || state.lastSaved !== pending.lastSaved)
    ) {
      this._pendingEdit = null;
    }
    this._serverDirty = state.dirty;
    this._lastSaved = state.lastSaved;
  }

  /**
   * A save or revert request starts, after this peer's edits reached the
   * room; pass the returned mark to `endSave`.
   */
  beginSave(): number {
    return this._edits;
  }

  /**
   * The server answered a save or revert begun at `mark`: it covers every
   * local edit made before the mark, none made after it.
   */
  endSave(mark: number, answer: Pick<IFileInfo, 'dirty' | 'lastSaved'>): void {
    this._serverDirty = answer.dirty;
    this._lastSaved = answer.lastSaved;
    if (this._edits === mark) {
      this._pendingEdit = null;
    } else {
      this._pendingEdit = { lastSaved: answer.lastSaved };
    }
  }

  /** The file was deleted (the server closed the room with `FILE_GONE`). */
  fileDeleted(): void {
    this._deleted = true;
  }

  private _serverDirty: boolean;
  private _lastSaved: string | null;
  private _deleted = false;
  private _edits = 0;
  private _pendingEdit: { lastSaved: string | null } | null = null;
}
