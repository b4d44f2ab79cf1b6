/**
 * Which channel carries a room, and the pure parts of the HTTP channel: the
 * fallback from the websocket to HTTP and back (`FallbackMachine`),
 * base64url, backoff, version tags and awareness updates as the server's
 * HTTP routes exchange them (`jupyter_ysync/server/http_sync.py`). No I/O,
 * no timers, no DOM.
 */

/** The channel a room's updates travel on. */
export type Channel = 'websocket' | 'http';

/** How a connection chooses its channel: `auto` falls back to HTTP. */
export type Transport = 'auto' | Channel;

/** The header naming an HTTP session (one per peer, for its life). */
export const SESSION_HEADER = 'X-YSync-Session';

/** The header holding the server's state vector, base64url. */
export const STATE_VECTOR_HEADER = 'X-YSync-State-Vector';

/** The content type of updates and binary awareness updates. */
export const OCTET_STREAM = 'application/octet-stream';

const BASE64URL =
  'ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_';

/** Base64url without padding, as the server's `sv=` takes it back verbatim in a URL. */
export function encodeBase64Url(bytes: Uint8Array): string {
  let out = '';
  for (let i = 0; i < bytes.length; i += 3) {
    const a = bytes[i];
    const b = i + 1 < bytes.length ? bytes[i + 1] : 0;
    const c = i + 2 < bytes.length ? bytes[i + 2] : 0;
    const triple = (a << 16) | (b << 8) | c;
    out += BASE64URL[(triple >> 18) & 63] + BASE64URL[(triple >> 12) & 63];
    if (i + 1 < bytes.length) {
      out += BASE64URL[(triple >> 6) & 63];
    }
    if (i + 2 < bytes.length) {
      out += BASE64URL[triple & 63];
    }
  }
  return out;
}

/**
 * Decode base64 or base64url, padded or not.
 *
 * @throws Error naming the bad value when `text` is not base64.
 */
export function decodeBase64Url(text: string): Uint8Array {
  const clean = text
    .trim()
    .replace(/\+/g, '-')
    .replace(/\//g, '_')
    .replace(/=+$/, '');
  if (!/^[A-Za-z0-9_-]*$/.test(clean) || clean.length % 4 === 1) {
    throw new Error(`Not base64: ${JSON.stringify(text.slice(0, 40))}`);
  }
  const out = new Uint8Array(Math.floor((clean.length * 3) / 4));
  let bits = 0;
  let value = 0;
  let index = 0;
  for (const char of clean) {
    value = (value << 6) | BASE64URL.indexOf(char);
    bits += 6;
    if (bits >= 8) {
      bits -= 8;
      out[index++] = (value >> bits) & 0xff;
    }
  }
  return out;
}

/**
 * A version tag as `If-None-Match` sends it back: the `ETag` without its weak
 * prefix (a proxy that compresses may weaken it); null when there is none.
 */
export function normalizeEtag(value: string | null | undefined): string | null {
  const tag = (value ?? '').trim();
  if (!tag) {
    return null;
  }
  return tag.startsWith('W/') ? tag.slice(2) : tag;
}

/** Exponential backoff: how long to wait before retry `attempt` (1, 2, ...). */
export interface IBackoff {
  /** The first delay, in ms. */
  base: number;
  /** The longest delay, in ms. */
  max: number;
}

/**
 * The delay before retry `attempt` (from 1): `base`, doubling up to `max`,
 * less up to `jitter` of it (a fraction, e.g. 0.2) so that many tabs a server
 * restart disconnected do not come back at the same instant.
 *
 * @param random A number in [0, 1), e.g. `Math.random()`.
 */
export function backoffDelay(
  attempt: number,
  backoff: IBackoff,
  jitter = 0,
  random = 0
): number {
  const exponent = Math.min(Math.max(attempt, 1) - 1, 30);
  const delay = Math.min(backoff.base * 2 ** exponent, backoff.max);
  return Math.round(delay * (1 - jitter * random));
}

/** A Yjs update (v1) that holds no content and no deletion: `[0, 0]`. */
export function isEmptyUpdate(update: Uint8Array): boolean {
  return (
    update.length === 0 ||
    (update.length === 2 && update[0] === 0 && update[1] === 0)
  );
}

/**
 * A random HTTP session id: 22 characters of base64url (8-64 are allowed).
 *
 * @param random Fills an array with random bytes, e.g. `crypto.getRandomValues`.
 */
export function newSessionId(
  random: (bytes: Uint8Array) => Uint8Array
): string {
  return encodeBase64Url(random(new Uint8Array(16)));
}

/** Read an unsigned LEB128 integer (lib0's `readVarUint`) at `at.pos`. */
function readVarUint(data: Uint8Array, at: { pos: number }): number {
  let value = 0;
  let scale = 1;
  for (;;) {
    if (at.pos >= data.length) {
      throw new Error('Truncated awareness update');
    }
    const byte = data[at.pos++];
    value += (byte & 0x7f) * scale;
    if (byte < 0x80) {
      return value;
    }
    scale *= 0x80;
  }
}

/**
 * The clients a y-protocols awareness update lists, with their clocks. A
 * full answer of the server lists every state in the room: the clients it
 * does not list have left.
 *
 * @throws Error when `update` is not an awareness update.
 */
export function awarenessClients(update: Uint8Array): Map<number, number> {
  const at = { pos: 0 };
  const clients = new Map<number, number>();
  const count = readVarUint(update, at);
  for (let i = 0; i < count; i++) {
    const client = readVarUint(update, at);
    const clock = readVarUint(update, at);
    const length = readVarUint(update, at);
    if (at.pos + length > update.length) {
      throw new Error('Truncated awareness update');
    }
    at.pos += length;
    clients.set(client, clock);
  }
  return clients;
}

/**
 * A failed HTTP request: its status and the server's JSON `message`; `code`
 * is the close code of a session the room closed (410).
 */
export class HttpStatusError extends Error {
  constructor(
    readonly status: number,
    message: string,
    readonly code: number | null = null
  ) {
    super(message ? `HTTP ${status}: ${message}` : `HTTP ${status}`);
    this.name = 'HttpStatusError';
  }
}

/**
 * What an HTTP error means for the channel: `retry` after a backoff (the
 * server or the network may come back), `resync` at once with a new session
 * (the room ended the old one, e.g. on a reload), or `close` for good, with a
 * close code, as the websocket's 4400-4499 codes do.
 */
export type HttpFailure =
  { kind: 'retry' } | { kind: 'resync' } | { kind: 'close'; code: number };

/** Close codes of a room that closed a session for good (4400-4499). */
function isFinalCode(code: number): boolean {
  return code >= 4400 && code < 4500;
}

/** What to do after `error` (see `HttpFailure`). */
export function httpFailure(error: HttpStatusError): HttpFailure {
  switch (error.status) {
    case 401:
      return { kind: 'close', code: 4401 };
    case 403:
      return { kind: 'close', code: 4403 };
    case 413:
      return { kind: 'close', code: 4413 };
    case 410:
      return error.code !== null && isFinalCode(error.code)
        ? { kind: 'close', code: error.code }
        : { kind: 'resync' };
    default:
      return { kind: 'retry' };
  }
}

/**
 * The fallback's states: `websocket` (the websocket connects or is live, no
 * HTTP), `http` (HTTP is live, the websocket rests until the next probe),
 * `probing` (HTTP is live while the websocket tries again), `closed`.
 */
export type FallbackState = 'websocket' | 'http' | 'probing' | 'closed';

/** What the connection does on a transition, in order. */
export type FallbackAction =
  | { kind: 'start-http' }
  | { kind: 'stop-http' }
  | { kind: 'connect-websocket' }
  | { kind: 'disconnect-websocket' }
  | { kind: 'schedule-probe'; delay: number }
  | { kind: 'cancel-probe' };

/**
 * The fallback from the websocket to HTTP and back, as a pure state machine:
 * the connection reports what its websocket did and runs the actions it gets.
 *
 * A handshake that fails (an error or a close before the socket opened: a
 * proxy that strips `Upgrade`, which a browser cannot tell from a server that
 * is down) makes HTTP the channel; the websocket is then probed every
 * `probe.base`-`probe.max` ms and takes over once it opens. Once a websocket
 * has opened, losing it is first left to y-websocket's own reconnection, for
 * `lostFailures` failed handshakes.
 *
 * ```ts
 * const machine = new FallbackMachine();
 * run(machine.start());                 // [connect-websocket]
 * run(machine.websocketFailed());       // [disconnect-websocket, start-http, schedule-probe]
 * run(machine.probeDue());              // [connect-websocket]
 * run(machine.websocketOpened());       // [stop-http]: back on the websocket
 * ```
 */
export class FallbackMachine {
  constructor(options: FallbackMachine.IOptions = {}) {
    this.transport = options.transport ?? 'auto';
    this._probe = options.probe ?? { base: 30000, max: 60000 };
    this._lostFailures = options.lostFailures ?? 8;
  }

  /** How the channel is chosen. */
  readonly transport: Transport;

  get state(): FallbackState {
    return this._state;
  }

  /** The live channel (what the status line shows). */
  get channel(): Channel {
    return this._state === 'http' || this._state === 'probing'
      ? 'http'
      : 'websocket';
  }

  /** Start: the websocket, or HTTP straight away when `transport` is `http`. */
  start(): FallbackAction[] {
    if (this._state !== 'websocket' || this._started) {
      return [];
    }
    this._started = true;
    if (this.transport === 'http') {
      this._state = 'http';
      return [{ kind: 'start-http' }];
    }
    return [{ kind: 'connect-websocket' }];
  }

  /** The websocket opened: it is (again) the channel. */
  websocketOpened(): FallbackAction[] {
    this._opened = true;
    this._failures = 0;
    this._probes = 0;
    if (this._state === 'probing' || this._state === 'http') {
      this._state = 'websocket';
      return [{ kind: 'cancel-probe' }, { kind: 'stop-http' }];
    }
    // From `closed`: a deliberate `provider.connect()` after a final close.
    this._state = 'websocket';
    return [];
  }

  /** A websocket that had opened closed: y-websocket reconnects it. */
  websocketLost(): FallbackAction[] {
    this._failures = 0;
    return [];
  }

  /** The websocket closed before it opened (a refused or stripped handshake). */
  websocketFailed(): FallbackAction[] {
    if (this._state === 'probing') {
      this._state = 'http';
      return [{ kind: 'disconnect-websocket' }, this._scheduleProbe()];
    }
    if (this._state !== 'websocket' || this.transport !== 'auto') {
      return [];
    }
    this._failures += 1;
    if (this._failures < (this._opened ? this._lostFailures : 1)) {
      return [];
    }
    this._state = 'http';
    this._failures = 0;
    return [
      { kind: 'disconnect-websocket' },
      { kind: 'start-http' },
      this._scheduleProbe()
    ];
  }

  /** The probe's time came: try the websocket again, HTTP staying live. */
  probeDue(): FallbackAction[] {
    if (this._state !== 'http' || this.transport !== 'auto') {
      return [];
    }
    this._state = 'probing';
    return [{ kind: 'connect-websocket' }];
  }

  /** The room closed for good, or the connection is disposed: stop everything. */
  close(): FallbackAction[] {
    if (this._state === 'closed') {
      return [];
    }
    const http = this._state !== 'websocket';
    this._state = 'closed';
    return [
      { kind: 'cancel-probe' },
      { kind: 'disconnect-websocket' },
      ...(http ? [{ kind: 'stop-http' } as const] : [])
    ];
  }

  private _scheduleProbe(): FallbackAction {
    this._probes += 1;
    return {
      kind: 'schedule-probe',
      delay: backoffDelay(this._probes, this._probe)
    };
  }

  private _state: FallbackState = 'websocket';
  private _started = false;
  /** Whether a websocket ever opened: then a lost one is not a blocked one. */
  private _opened = false;
  private _failures = 0;
  private _probes = 0;
  private _probe: IBackoff;
  private _lostFailures: number;
}

/** The FallbackMachine namespace. */
export namespace FallbackMachine {
  export interface IOptions {
    /** `auto` (default) falls back; `websocket` never does; `http` starts there. */
    transport?: Transport;
    /** Delays between websocket probes while on HTTP. Default 30 s doubling to 60 s. */
    probe?: IBackoff;
    /**
     * Failed handshakes, after a websocket had opened, before falling back:
     * a server restart is ridden out on the websocket. Default 8 (about 13 s
     * of y-websocket's reconnection backoff).
     */
    lostFailures?: number;
  }
}
