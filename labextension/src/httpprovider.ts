/**
 * HttpProvider: a room's sync and presence over plain HTTP requests, for
 * browsers whose websocket a proxy refuses or strips. It speaks the server's
 * HTTP routes (`jupyter_ysync/server/http_sync.py`; the Python peer's twin is
 * `jupyter_ysync/client/_http.py`) and offers what the editor uses of
 * y-websocket's provider: `doc`, `awareness`, `status`/`sync`/`closed`
 * events, `destroy`.
 *
 * - Sync: `GET updates?sv=` (no version tag: answered at once), applied; then
 *   what the server lacks (`Y.encodeStateAsUpdate(doc, serverStateVector)`)
 *   is posted.
 * - Local updates: `POST updates`, one at a time; those made meanwhile are
 *   merged into the next one.
 * - Remote updates and presence: two long polls (`If-None-Match` + `wait`),
 *   the most a browser's six connections per host allow for each room.
 * - Presence: this peer's state is posted on change (y-protocols renews it
 *   every 15 s, within the server's 30 s session timeout); the states a full
 *   answer no longer lists have left.
 * - Errors: retried with backoff and a fresh sync; a session the room closed
 *   (410) starts a new one, unless the room closed it for good.
 *
 * Nothing here knows about JupyterLab: requests go through `request`
 * (`ServerConnection.makeRequest` in the lab, which adds the credential and
 * the XSRF header).
 */

import {
  Awareness,
  applyAwarenessUpdate,
  encodeAwarenessUpdate,
  removeAwarenessStates
} from 'y-protocols/awareness';
import * as Y from 'yjs';

import {
  HttpStatusError,
  IBackoff,
  OCTET_STREAM,
  SESSION_HEADER,
  STATE_VECTOR_HEADER,
  awarenessClients,
  backoffDelay,
  decodeBase64Url,
  encodeBase64Url,
  httpFailure,
  isEmptyUpdate,
  newSessionId,
  normalizeEtag
} from './channel';
import type { SocketStatus } from './status';

/** Sends one request (`fetch`'s signature, with a URL). */
export type RequestFunction = (
  url: string,
  init: RequestInit
) => Promise<Response>;

/** The events an HttpProvider emits, as y-websocket's provider names them. */
export interface IHttpProviderEvents {
  /** The channel's state: `connected` once the first sync answered. */
  status: { status: SocketStatus };
  /** Whether this peer holds everything the room held at its last sync. */
  sync: boolean;
  /** The room closed this peer for good (a 4400-4499 close code). */
  closed: { code: number; reason: string };
  /** The server refused this peer's edits (403): it may only read. */
  'permission-denied': string;
}

/** An answer, read in full. */
interface IAnswer {
  status: number;
  headers: Headers;
  body: Uint8Array;
}

/** The request a fresh sync or a resync interrupts. */
class Interrupted extends Error {}

/**
 * A room's HTTP channel.
 *
 * ```ts
 * const http = new HttpProvider({
 *   url: settings.baseUrl + 'ysync/rooms/notes',
 *   doc,
 *   awareness,
 *   request: (url, init) => ServerConnection.makeRequest(url, init, settings)
 * });
 * http.on('sync', synced => console.log(synced));
 * http.destroy();
 * ```
 */
export class HttpProvider {
  constructor(options: HttpProvider.IOptions) {
    this.url = options.url.replace(/\/+$/, '');
    this.doc = options.doc;
    this.awareness = options.awareness;
    this._request = options.request;
    this._wait = options.wait ?? 25;
    this._slack = options.slack ?? 15000;
    this._postTimeout = options.postTimeout ?? 120000;
    this._backoff = options.backoff ?? { base: 500, max: 15000 };
    this._random = options.random ?? Math.random;
    this._session =
      options.session ??
      newSessionId(bytes => globalThis.crypto.getRandomValues(bytes));
    this.doc.on('update', this._onDocUpdate);
    this.awareness.on('update', this._onAwarenessUpdate);
    if (options.connect ?? true) {
      this.connect();
    }
  }

  /** The room's URL: its routes are `<url>/updates` and `<url>/awareness`. */
  readonly url: string;
  readonly doc: Y.Doc;
  readonly awareness: Awareness;

  /** This peer's session id (`X-YSync-Session`); a new one after a 410. */
  get session(): string {
    return this._session;
  }

  get status(): SocketStatus {
    return this._status;
  }

  /** Whether the first sync of this session is done. */
  get synced(): boolean {
    return this._synced;
  }

  /** Whether the server refused this peer's edits. */
  get writeDenied(): boolean {
    return this._writeDenied;
  }

  /** Whether the requests run (between `connect` and `disconnect`). */
  get shouldConnect(): boolean {
    return this._running;
  }

  on<K extends keyof IHttpProviderEvents>(
    name: K,
    handler: (event: IHttpProviderEvents[K]) => void
  ): void {
    this._handlers[name].add(handler as (event: unknown) => void);
  }

  off<K extends keyof IHttpProviderEvents>(
    name: K,
    handler: (event: IHttpProviderEvents[K]) => void
  ): void {
    this._handlers[name].delete(handler as (event: unknown) => void);
  }

  /** Start syncing (again); the constructor does unless `connect: false`. */
  connect(): void {
    if (this._running || this._destroyed || this._closed) {
      return;
    }
    this._running = true;
    const run = ++this._run;
    void this._updatesLoop(run);
    void this._awarenessLoop(run);
  }

  /** Stop every request; the room forgets this peer once its session expires. */
  disconnect(): void {
    if (!this._running) {
      return;
    }
    this._running = false;
    this._run++;
    this._controllers.forEach(controller => controller.abort());
    this._controllers.clear();
    this._wakeSleepers();
    this._failFlushes(new Error('The HTTP channel was disconnected.'));
    this._setSynced(false);
    this._setStatus('disconnected');
  }

  /**
   * Resolve once the server stored every update this peer made so far (each
   * POST is answered once stored).
   *
   * @throws Error when a request fails first, or after `timeout` ms.
   */
  flush(timeout = 10000): Promise<void> {
    if (this._idle) {
      return Promise.resolve();
    }
    return new Promise<void>((resolve, reject) => {
      const timer = setTimeout(() => {
        this._flushes.delete(waiter);
        reject(new Error('The server did not store the latest edits in time.'));
      }, timeout);
      const waiter = (error?: Error): void => {
        clearTimeout(timer);
        if (error) {
          reject(error);
        } else {
          resolve();
        }
      };
      this._flushes.add(waiter);
    });
  }

  /**
   * Tell the other peers this one left (its state, null), e.g. as the page
   * unloads: the request is `keepalive`, and nobody awaits it. Should the
   * page stay, the next presence answer, without this peer, announces it
   * again.
   */
  goodbye(): void {
    if (!this._running || !this._synced) {
      return;
    }
    const own = this.awareness.clientID;
    const gone = encodeAwarenessUpdate(this.awareness, [own], new Map());
    this._request(`${this.url}/awareness`, {
      method: 'POST',
      body: gone as BodyInit,
      keepalive: true,
      headers: { 'Content-Type': OCTET_STREAM, [SESSION_HEADER]: this.session }
    }).catch(() => undefined);
  }

  /**
   * Stop for good. With `goodbye` (the default) the other peers are told
   * this one left; without, its state stays until its session expires (when
   * the websocket takes over and carries the same state).
   */
  destroy({ goodbye = true }: { goodbye?: boolean } = {}): void {
    if (this._destroyed) {
      return;
    }
    if (goodbye) {
      this.goodbye();
    }
    this.disconnect();
    this._destroyed = true;
    this.doc.off('update', this._onDocUpdate);
    this.awareness.off('update', this._onAwarenessUpdate);
    Object.values(this._handlers).forEach(handlers => handlers.clear());
  }

  // -- the updates ----------------------------------------------------------

  private async _updatesLoop(run: number): Promise<void> {
    let failures = 0;
    while (this._live(run)) {
      try {
        this._takeInterruption();
        if (this._synced) {
          await this._poll();
        } else {
          this._setStatus('connecting');
          await this._sync();
        }
        failures = 0;
      } catch (caught) {
        if (!this._live(run)) {
          return;
        }
        const error = this._takeInterruption(false) ?? caught;
        failures += 1;
        if (!(await this._recover(error, failures, run))) {
          return;
        }
      }
    }
  }

  /** The first sync of a session: what each side lacks. */
  private async _sync(): Promise<void> {
    const stateVector = encodeBase64Url(Y.encodeStateVector(this.doc));
    const answer = await this._fetch(
      `updates?sv=${stateVector}`,
      { method: 'GET' },
      this._slack,
      true
    );
    if (answer.status !== 200) {
      throw statusError(answer);
    }
    this._updatesTag = normalizeEtag(answer.headers.get('ETag'));
    if (!isEmptyUpdate(answer.body)) {
      Y.applyUpdate(this.doc, answer.body, this);
    }
    // Everything the server lacks, including what was queued before.
    this._pending = null;
    this._enqueue(this._missing(answer.headers));
    this._setStatus('connected');
    this._setSynced(true);
    this._announce();
    void this._pump();
  }

  /** A long poll for the updates others make. */
  private async _poll(): Promise<void> {
    const headers: Record<string, string> = {};
    if (this._updatesTag) {
      headers['If-None-Match'] = this._updatesTag;
    }
    const stateVector = encodeBase64Url(Y.encodeStateVector(this.doc));
    const answer = await this._fetch(
      `updates?sv=${stateVector}&wait=${this._wait}`,
      { method: 'GET', headers },
      this._wait * 1000 + this._slack,
      true
    );
    if (answer.status === 304) {
      return;
    }
    if (answer.status !== 200) {
      throw statusError(answer);
    }
    this._updatesTag = normalizeEtag(answer.headers.get('ETag'));
    if (!isEmptyUpdate(answer.body)) {
      Y.applyUpdate(this.doc, answer.body, this);
    }
    // A repair: content the server lacks while nothing is on its way (an
    // update lost with a failed request) is sent again.
    if (this._idle && !this._writeDenied) {
      this._enqueue(this._missing(answer.headers));
      void this._pump();
    }
  }

  /** What the server lacks, from the state vector an answer carries. */
  private _missing(headers: Headers): Uint8Array {
    const header = headers.get(STATE_VECTOR_HEADER);
    if (!header) {
      return Y.encodeStateAsUpdate(this.doc);
    }
    const server = decodeBase64Url(header);
    const theirs = Y.decodeStateVector(server);
    const ahead = [...Y.decodeStateVector(Y.encodeStateVector(this.doc))].some(
      ([client, clock]) => clock > (theirs.get(client) ?? 0)
    );
    // Deletions do not show in a state vector: only a first sync sends them blind.
    return ahead || !this._synced
      ? Y.encodeStateAsUpdate(this.doc, server)
      : new Uint8Array([0, 0]);
  }

  private _onDocUpdate = (update: Uint8Array, origin: unknown): void => {
    if (origin !== this && !this._writeDenied) {
      this._enqueue(update);
      void this._pump();
    }
  };

  private _enqueue(update: Uint8Array): void {
    if (isEmptyUpdate(update)) {
      return;
    }
    this._pending = this._pending
      ? Y.mergeUpdates([this._pending, update])
      : update;
  }

  /** POST the pending update, one request at a time. */
  private async _pump(): Promise<void> {
    if (this._posting || !this._synced || !this._running) {
      return;
    }
    this._posting = true;
    const run = this._run;
    try {
      while (this._pending && this._live(run) && !this._writeDenied) {
        const body = this._pending;
        this._pending = null;
        const answer = await this._fetch(
          'updates',
          {
            method: 'POST',
            body: body as BodyInit,
            headers: { 'Content-Type': OCTET_STREAM }
          },
          this._postTimeout
        );
        if (answer.status === 202 || answer.status === 409) {
          // It builds on content the server lacks: send that too.
          const reply = parseJson(answer.body) as { state_vector?: string };
          const server = decodeBase64Url(reply.state_vector ?? '');
          this._enqueue(Y.encodeStateAsUpdate(this.doc, server));
        } else if (answer.status === 403) {
          this._deny(jsonMessage(answer.body));
        } else if (answer.status !== 200) {
          throw statusError(answer);
        }
      }
    } catch (error) {
      if (this._live(run)) {
        // The next sync sends whatever did not arrive.
        this._pending = null;
        this._failFlushes(toError(error));
        this._interrupt(error);
      }
    } finally {
      this._posting = false;
    }
    if (this._idle) {
      this._settleFlushes();
    }
  }

  private _deny(reason: string): void {
    this._pending = null;
    if (!this._writeDenied) {
      this._writeDenied = true;
      this._emit('permission-denied', reason);
    }
  }

  // -- presence -------------------------------------------------------------

  private async _awarenessLoop(run: number): Promise<void> {
    let failures = 0;
    while (this._live(run)) {
      try {
        if (!this._synced) {
          await this._untilSynced();
          continue;
        }
        const headers: Record<string, string> = { Accept: OCTET_STREAM };
        if (this._awarenessTag) {
          headers['If-None-Match'] = this._awarenessTag;
        }
        const answer = await this._fetch(
          `awareness?wait=${this._wait}`,
          { method: 'GET', headers },
          this._wait * 1000 + this._slack
        );
        if (answer.status === 200) {
          this._awarenessTag = normalizeEtag(answer.headers.get('ETag'));
          this._applyStates(answer.body);
        } else if (answer.status !== 304) {
          throw statusError(answer);
        }
        failures = 0;
      } catch (error) {
        if (!this._live(run)) {
          return;
        }
        failures += 1;
        if (error instanceof HttpStatusError) {
          const failure = httpFailure(error);
          if (failure.kind !== 'retry') {
            this._interrupt(error); // the updates loop decides for both
          }
        }
        await this._sleep(this._delay(failures));
      }
    }
  }

  private _onAwarenessUpdate = (
    change: { added: number[]; updated: number[]; removed: number[] },
    origin: unknown
  ): void => {
    const own = this.awareness.clientID;
    const changed = [...change.added, ...change.updated, ...change.removed];
    if (origin !== this && changed.includes(own)) {
      this._awarenessRefused = false;
      this._awarenessDirty = true;
      void this._postAwareness();
    }
  };

  /**
   * Post this peer's state with a new clock: the room ignores a clock it
   * has seen, even for a state it dropped (an expired session).
   */
  private _announce(): void {
    const state = this.awareness.getLocalState();
    if (state !== null) {
      this.awareness.setLocalState(state); // posted by `_onAwarenessUpdate`
    } else {
      this._awarenessDirty = true;
      void this._postAwareness();
    }
  }

  /** POST this peer's state; the answer is everyone's. */
  private async _postAwareness(): Promise<void> {
    if (this._awarenessPosting || !this._synced || !this._running) {
      return;
    }
    this._awarenessPosting = true;
    const run = this._run;
    try {
      while (this._awarenessDirty && this._live(run)) {
        const own = this.awareness.clientID;
        this._awarenessDirty = false;
        const answer = await this._fetch(
          'awareness',
          {
            method: 'POST',
            body: encodeAwarenessUpdate(this.awareness, [own]) as BodyInit,
            headers: { 'Content-Type': OCTET_STREAM, Accept: OCTET_STREAM }
          },
          this._slack
        );
        if (answer.status !== 200) {
          throw statusError(answer);
        }
        this._awarenessTag = normalizeEtag(answer.headers.get('ETag'));
        this._applyStates(answer.body, true);
      }
    } catch (error) {
      if (this._live(run)) {
        this._awarenessDirty = true; // posted again after the next sync
        this._interrupt(error);
      }
    } finally {
      this._awarenessPosting = false;
    }
  }

  /**
   * Everyone's states, a full answer: applied, and the states it does not
   * list removed (those peers left). This peer's own state is never removed;
   * if the server lost it (an expired session), it is posted again.
   */
  private _applyStates(update: Uint8Array, posted = false): void {
    const listed = awarenessClients(update);
    const own = this.awareness.clientID;
    for (const client of listed.keys()) {
      // A state removed here (e.g. when a websocket closed) comes back even
      // at the clock it had: y-protocols only takes newer clocks.
      if (client !== own && !this.awareness.states.has(client)) {
        this.awareness.meta.delete(client);
      }
    }
    applyAwarenessUpdate(this.awareness, update, this);
    const gone = [...this.awareness.getStates().keys()].filter(
      client => client !== own && !listed.has(client)
    );
    if (gone.length > 0) {
      removeAwarenessStates(this.awareness, gone, this);
    }
    if (listed.has(own) || this.awareness.getLocalState() === null) {
      return;
    }
    if (posted) {
      // Not taken: posting the same state again would not help.
      this._awarenessRefused = true;
    } else if (!this._awarenessRefused) {
      this._announce();
    }
  }

  // -- failures -------------------------------------------------------------

  /**
   * After a failed request: close for good, start a new session, or wait
   * and sync again. Returns whether the loop goes on.
   */
  private async _recover(
    error: unknown,
    failures: number,
    run: number
  ): Promise<boolean> {
    const failure =
      error instanceof HttpStatusError
        ? httpFailure(error)
        : { kind: 'retry' as const };
    this._failFlushes(toError(error));
    if (failure.kind === 'close') {
      this._close(failure.code, (error as HttpStatusError).message);
      return false;
    }
    this._setSynced(false);
    if (failure.kind === 'resync') {
      // The room ended the session (e.g. it was reloaded): a new peer.
      this._session = newSessionId(bytes =>
        globalThis.crypto.getRandomValues(bytes)
      );
      this._awarenessTag = null;
      this._updatesTag = null;
      if (failures < 3) {
        return true;
      }
    }
    if (!(error instanceof Interrupted)) {
      this._setStatus('disconnected');
    }
    await this._sleep(this._delay(failures));
    return this._live(run);
  }

  private _close(code: number, reason: string): void {
    this._closed = true;
    this.disconnect();
    this._emit('closed', { code, reason });
  }

  /** Make the updates loop stop its request and recover from `error`. */
  private _interrupt(error: unknown): void {
    this._interruption ??= error;
    this._pollController?.abort();
  }

  /** The interruption, if any; thrown unless `raise` is false. */
  private _takeInterruption(raise = true): unknown {
    const error = this._interruption;
    this._interruption = null;
    if (raise && error !== null) {
      throw error;
    }
    return error;
  }

  private _delay(failures: number): number {
    return backoffDelay(failures, this._backoff, 0.2, this._random());
  }

  // -- requests -------------------------------------------------------------

  /**
   * One request of this session, read in full, aborted after `timeout` ms
   * (a proxy may hold a dead connection) or when disconnected.
   */
  private async _fetch(
    path: string,
    init: RequestInit,
    timeout: number,
    interruptible = false
  ): Promise<IAnswer> {
    const controller = new AbortController();
    this._controllers.add(controller);
    if (interruptible) {
      this._pollController = controller;
    }
    const timer = setTimeout(() => controller.abort(), timeout);
    try {
      const response = await this._request(`${this.url}/${path}`, {
        ...init,
        headers: { ...(init.headers ?? {}), [SESSION_HEADER]: this.session },
        signal: controller.signal
      });
      const body = new Uint8Array(await response.arrayBuffer());
      return { status: response.status, headers: response.headers, body };
    } catch (error) {
      throw controller.signal.aborted && this._interruption !== null
        ? new Interrupted('interrupted')
        : error;
    } finally {
      clearTimeout(timer);
      this._controllers.delete(controller);
      if (this._pollController === controller) {
        this._pollController = null;
      }
    }
  }

  private _live(run: number): boolean {
    return this._running && run === this._run;
  }

  /** Nothing to post and nothing posted unanswered. */
  private get _idle(): boolean {
    return this._pending === null && !this._posting;
  }

  private _sleep(ms: number): Promise<void> {
    return new Promise<void>(resolve => {
      const wake = (): void => {
        clearTimeout(timer);
        this._sleepers.delete(wake);
        resolve();
      };
      const timer = setTimeout(wake, ms);
      this._sleepers.add(wake);
    });
  }

  private _untilSynced(): Promise<void> {
    return new Promise<void>(resolve => this._sleepers.add(resolve));
  }

  private _wakeSleepers(): void {
    const sleepers = [...this._sleepers];
    this._sleepers.clear();
    sleepers.forEach(wake => wake());
  }

  private _settleFlushes(): void {
    const waiters = [...this._flushes];
    this._flushes.clear();
    waiters.forEach(waiter => waiter());
  }

  private _failFlushes(error: Error): void {
    const waiters = [...this._flushes];
    this._flushes.clear();
    waiters.forEach(waiter => waiter(error));
  }

  private _setStatus(status: SocketStatus): void {
    if (status !== this._status) {
      this._status = status;
      this._emit('status', { status });
    }
  }

  private _setSynced(synced: boolean): void {
    if (synced !== this._synced) {
      this._synced = synced;
      if (synced) {
        this._wakeSleepers();
      }
      this._emit('sync', synced);
    }
  }

  private _emit<K extends keyof IHttpProviderEvents>(
    name: K,
    event: IHttpProviderEvents[K]
  ): void {
    [...this._handlers[name]].forEach(handler => handler(event));
  }

  private _request: RequestFunction;
  private _session = '';
  private _wait: number;
  private _slack: number;
  private _postTimeout: number;
  private _backoff: IBackoff;
  private _random: () => number;
  private _status: SocketStatus = 'disconnected';
  private _synced = false;
  private _running = false;
  private _destroyed = false;
  private _closed = false;
  private _writeDenied = false;
  /** Bumped by connect and disconnect: a loop of an older run stops. */
  private _run = 0;
  private _updatesTag: string | null = null;
  private _awarenessTag: string | null = null;
  private _pending: Uint8Array | null = null;
  private _posting = false;
  private _awarenessDirty = false;
  private _awarenessPosting = false;
  /** The server did not take this peer's state as last posted. */
  private _awarenessRefused = false;
  private _interruption: unknown = null;
  private _pollController: AbortController | null = null;
  private _controllers = new Set<AbortController>();
  private _sleepers = new Set<() => void>();
  private _flushes = new Set<(error?: Error) => void>();
  private _handlers: {
    [K in keyof IHttpProviderEvents]: Set<(event: unknown) => void>;
  } = {
    status: new Set(),
    sync: new Set(),
    closed: new Set(),
    'permission-denied': new Set()
  };
}

/** The HttpProvider namespace. */
export namespace HttpProvider {
  export interface IOptions {
    /** The room's URL, e.g. `<baseUrl>ysync/rooms/notes`. */
    url: string;
    /** The replica to sync. */
    doc: Y.Doc;
    /** The presence to share (the websocket provider's, when falling back). */
    awareness: Awareness;
    /** Sends a request: `ServerConnection.makeRequest` with the lab's settings. */
    request: RequestFunction;
    /** The session id. Default: a random one. */
    session?: string;
    /** Seconds each long poll asks the server to wait (30 at most). Default 25. */
    wait?: number;
    /** How much longer than `wait` a request may take, in ms. Default 15000. */
    slack?: number;
    /** How long a POST may take (answered once stored), in ms. Default 120000. */
    postTimeout?: number;
    /** Retry delays after failures. Default 0.5 s doubling to 15 s. */
    backoff?: IBackoff;
    /** For the backoff's jitter. Default `Math.random`. */
    random?: () => number;
    /** Start at once. Default true. */
    connect?: boolean;
  }
}

/** The error an answer describes, with the server's JSON `message` and `code`. */
function statusError(answer: IAnswer): HttpStatusError {
  const reply = parseJson(answer.body) as { message?: unknown; code?: unknown };
  const code = typeof reply.code === 'number' ? reply.code : null;
  return new HttpStatusError(answer.status, jsonMessage(answer.body), code);
}

function parseJson(body: Uint8Array): Record<string, unknown> {
  try {
    const value = JSON.parse(new TextDecoder().decode(body));
    return value !== null && typeof value === 'object' ? value : {};
  } catch {
    return {};
  }
}

function jsonMessage(body: Uint8Array): string {
  const message = parseJson(body).message;
  return typeof message === 'string' ? message : '';
}

function toError(error: unknown): Error {
  return error instanceof Error ? error : new Error(String(error));
}
