/**
 * The contract with the room server and the Python peers (twin of
 * `jupyter_ysync/protocol.py`): the room's root type, the websocket route,
 * the room-name rule, the close codes and the awareness fields. No I/O.
 */

/**
 * The room's root `Y.Text`, shared with the server and the Python peers. It
 * is the document; every peer shows it under the final-newline contract (its
 * own final newline, else an implicit plain one: `RichText.delta` in Python,
 * `richtext.ts` here).
 */
export const ROOT_TEXT = 'content';

/** The websocket route under the server's base URL; the room name follows. */
export const ROOMS_ROUTE = 'ysync/rooms';

/**
 * Room names: the same rule as `jupyter_ysync.protocol.validate_room_name`,
 * 1-128 characters of `A-Z a-z 0-9 . _ - ~ :`, not only dots ("." and ".."
 * would be rewritten by URL normalisation).
 */
export const ROOM_NAME_PATTERN = /^(?!\.+$)[A-Za-z0-9._~:-]{1,128}$/;

/** The room-name rule in words, as `ROOM_NAME_RULE` in `protocol.py`. */
export const ROOM_NAME_RULE =
  '1-128 characters of A-Z a-z 0-9 . _ - ~ : (not only dots)';

/** A room name that breaks the rule; `roomName` is the refused value. */
export class InvalidRoomName extends Error {
  constructor(readonly roomName: string) {
    super(
      `Invalid room name ${JSON.stringify(roomName)}: use ${ROOM_NAME_RULE}, ` +
        "for example 'notes' or 'team:plan'."
    );
    this.name = 'InvalidRoomName';
  }
}

/**
 * Return `name`, without surrounding spaces, if it is a valid room name.
 *
 * ```ts
 * validateRoomName(' team:plan '); // 'team:plan'
 * validateRoomName('..'); // throws InvalidRoomName
 * ```
 *
 * @throws InvalidRoomName naming the bad value and the rule it breaks.
 */
export function validateRoomName(name: string): string {
  const trimmed = typeof name === 'string' ? name.trim() : '';
  if (!ROOM_NAME_PATTERN.test(trimmed)) {
    throw new InvalidRoomName(String(name));
  }
  return trimmed;
}

/** Websocket close codes used by the room server (`CloseCode` in `protocol.py`). */
export enum CloseCode {
  NORMAL = 1000,
  GOING_AWAY = 1001,
  PROTOCOL_ERROR = 1002,
  INVALID_DATA = 1007,
  MESSAGE_TOO_BIG = 1009,
  INTERNAL_ERROR = 1011,
  TRY_AGAIN_LATER = 1013,
  MALFORMED = 4400,
  NOT_AUTHENTICATED = 4401,
  FORBIDDEN = 4403,
  ROOM_DELETED = 4404,
  TOO_SLOW = 4408,
  FILE_GONE = 4410,
  TOO_LARGE = 4413
}

/** Message kinds (`MessageType` in `protocol.py`). */
export enum MessageType {
  SYNC = 0,
  AWARENESS = 1,
  AUTH = 2,
  QUERY_AWARENESS = 3
}

/** Sync message kinds (`YSyncMessageType` in `protocol.py`, y-protocols' sync). */
export enum SyncMessageType {
  SYNC_STEP1 = 0,
  SYNC_STEP2 = 1,
  SYNC_UPDATE = 2
}

/** Append `value` as an unsigned LEB128 integer (lib0's `writeVarUint`). */
function writeVarUint(out: number[], value: number): void {
  while (value > 0x7f) {
    out.push(0x80 | (value % 0x80));
    value = Math.floor(value / 0x80);
  }
  out.push(value);
}

/**
 * A sync step 1 message: "here is my state vector, send me what I miss".
 * The server answers with a sync step 2 once it applied every update the
 * peer sent before it, which makes the pair a round trip
 * (`RoomConnection.flush`).
 *
 * ```ts
 * provider.ws.send(syncStep1Message(Y.encodeStateVector(doc)));
 * ```
 */
export function syncStep1Message(stateVector: Uint8Array): Uint8Array {
  const head: number[] = [];
  writeVarUint(head, MessageType.SYNC);
  writeVarUint(head, SyncMessageType.SYNC_STEP1);
  writeVarUint(head, stateVector.length);
  const message = new Uint8Array(head.length + stateVector.length);
  message.set(head);
  message.set(stateVector, head.length);
  return message;
}

/** The awareness field `user`: who a peer is (the y-quill convention, plus `username`). */
export interface IAwarenessUser {
  /** Shown next to the peer's caret and in the people list. */
  name?: string;
  /** The caret's colour, `#rrggbb`. */
  color?: string;
  /** A stable identity, e.g. JupyterLab's `username`; one person may have several peers. */
  username?: string;
}

/** The kinds of peer an awareness state's `kind` names; absent means a person. */
export type PeerKind = 'person' | 'kernel';

/**
 * The awareness `kind` of a state that is no peer: the server's own file
 * state in a file's room (`files.ts`). The people list and carets skip it.
 */
export type StateKind = PeerKind | 'file';

/** The awareness state fields this extension reads and writes. */
export interface IAwarenessState {
  user?: IAwarenessUser;
  /** `'kernel'` for a Python peer, which is no person; `'file'` for no peer. */
  kind?: StateKind;
  /** y-quill's caret, as Yjs relative positions. */
  cursor?: unknown;
}
