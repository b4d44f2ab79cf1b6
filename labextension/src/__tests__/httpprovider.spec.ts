/**
 * HttpProvider against an in-memory fake of the server's HTTP routes
 * (`jupyter_ysync/server/http_sync.py`): version tags, long polls, sessions,
 * awareness. Real timers, short waits; every wait is on a condition.
 */

import {
  Awareness,
  applyAwarenessUpdate,
  encodeAwarenessUpdate,
  removeAwarenessStates
} from 'y-protocols/awareness';
import * as Y from 'yjs';

import { HttpProvider } from '../httpprovider';

const ROOM_URL = 'http://lab.test/ysync/rooms/notes';

interface IRecorded {
  method: string;
  route: string;
  query: URLSearchParams;
  headers: Headers;
  body: Uint8Array;
}

const b64 = (bytes: Uint8Array): string =>
  Buffer.from(bytes).toString('base64url');

/** The server's routes, in memory. */
class FakeServer {
  constructor() {
    this.awareness.setLocalState(null); // the server itself has no presence
  }

  readonly doc = new Y.Doc();
  readonly awareness = new Awareness(new Y.Doc());
  version = 0;
  awarenessVersion = 0;
  requests: IRecorded[] = [];
  /** Sessions the room closed, with the close code their next request hears. */
  closed = new Map<string, number>();
  /** Requests that fail as a network error, before reaching the routes. */
  networkFailures = 0;
  /** Answer update POSTs with 403. */
  readOnly = false;
  /** Answer the next update POST with 202 (held), once. */
  holdNext = false;
  /** Answer that many update or awareness POSTs with 503. */
  failPosts = 0;
  /** Drop the awareness states posted (as a server that refuses them). */
  ignorePresence = false;
  /** While set, update POSTs wait for it. */
  gate: Promise<void> | null = null;

  /** Another peer edits the room. */
  edit(change: (text: Y.Text) => void): void {
    change(this.doc.getText('content'));
    this.changed();
  }

  /** Another peer's presence at `clock`; null: it left. */
  setPresence(client: number, clock: number, state: object | null): void {
    if (state === null) {
      removeAwarenessStates(this.awareness, [client], 'test');
    } else {
      const other = new Awareness(new Y.Doc());
      other.clientID = client;
      other.meta.set(client, { clock: clock - 1, lastUpdated: 0 });
      other.setLocalState(state);
      const update = encodeAwarenessUpdate(other, [client]);
      applyAwarenessUpdate(this.awareness, update, 'test');
      other.destroy();
    }
    this.awarenessChanged();
  }

  changed(): void {
    this.version++;
    this._wake();
  }

  awarenessChanged(): void {
    this.awarenessVersion++;
    this._wake();
  }

  get text(): string {
    return this.doc.getText('content').toString();
  }

  count(method: string, route: string): number {
    return this.requests.filter(r => r.method === method && r.route === route)
      .length;
  }

  request = async (url: string, init: RequestInit): Promise<Response> => {
    const parsed = new URL(url);
    const route = parsed.pathname.split('/').pop() as string;
    const headers = new Headers(init.headers as Record<string, string>);
    const body = init.body
      ? new Uint8Array(init.body as Uint8Array)
      : new Uint8Array();
    const method = init.method ?? 'GET';
    const signal = init.signal as AbortSignal;
    if (this.requests.length > 500) {
      // A request loop fails the test rather than hang it.
      throw new Error('runaway: more than 500 requests');
    }
    this.requests.push({
      method,
      route,
      query: parsed.searchParams,
      headers,
      body
    });
    if (this.networkFailures > 0) {
      this.networkFailures--;
      throw new TypeError('Failed to fetch');
    }
    const session = headers.get('X-YSync-Session') ?? '';
    const code = this.closed.get(session);
    if (code !== undefined) {
      this.closed.delete(session);
      return json(410, { message: 'closed', code });
    }
    if (route === 'updates' && method === 'GET') {
      const sv = parsed.searchParams.get('sv');
      const wait = Number(parsed.searchParams.get('wait') ?? 0);
      const tag = headers.get('If-None-Match');
      if (tag !== null && tag === this._tag() && wait > 0) {
        const changed = await this._waitChange(wait, signal, () => this._tag());
        if (!changed) {
          return new Response(null, { status: 304, headers: this._headers() });
        }
      }
      const vector = sv ? Buffer.from(sv, 'base64url') : undefined;
      const update = Y.encodeStateAsUpdate(this.doc, vector);
      return new Response(update, { status: 200, headers: this._headers() });
    }
    if (method === 'POST' && this.failPosts > 0) {
      this.failPosts--;
      return json(503, { message: 'not saved' });
    }
    if (route === 'updates' && method === 'POST') {
      if (this.gate) {
        await Promise.race([
          this.gate,
          new Promise((_, reject) =>
            signal.addEventListener('abort', () =>
              reject(new DOMException('aborted', 'AbortError'))
            )
          )
        ]);
      }
      if (this.readOnly) {
        return json(403, { message: 'read-only', reason: 'Forbidden' });
      }
      if (this.holdNext) {
        this.holdNext = false;
        return json(202, {
          state_vector: b64(Y.encodeStateVector(this.doc)),
          held: 1
        });
      }
      Y.applyUpdate(this.doc, body);
      this.changed();
      return json(200, {
        state_vector: b64(Y.encodeStateVector(this.doc)),
        version: this._tag(),
        held: 0
      });
    }
    if (route === 'awareness' && method === 'GET') {
      const wait = Number(parsed.searchParams.get('wait') ?? 0);
      const tag = headers.get('If-None-Match');
      if (tag !== null && tag === this._awarenessTag() && wait > 0) {
        const changed = await this._waitChange(wait, signal, () =>
          this._awarenessTag()
        );
        if (!changed) {
          return new Response(null, {
            status: 304,
            headers: { ETag: this._awarenessTag() }
          });
        }
      }
      return this._states();
    }
    if (route === 'awareness' && method === 'POST') {
      if (!this.ignorePresence) {
        applyAwarenessUpdate(this.awareness, body, session);
      }
      this.awarenessChanged();
      return this._states();
    }
    return json(404, { message: 'no such route' });
  };

  destroy(): void {
    this.awareness.destroy();
    this._wake();
  }

  private _tag(): string {
    return `"e1.${this.version}"`;
  }

  private _awarenessTag(): string {
    return `"e1.a${this.awarenessVersion}"`;
  }

  private _headers(): Record<string, string> {
    return {
      ETag: this._tag(),
      'X-YSync-State-Vector': b64(Y.encodeStateVector(this.doc))
    };
  }

  private _states(): Response {
    const clients = [...this.awareness.getStates().keys()];
    return new Response(encodeAwarenessUpdate(this.awareness, clients), {
      status: 200,
      headers: { ETag: this._awarenessTag() }
    });
  }

  /** Whether `tag()` changed within `wait` seconds. */
  private _waitChange(
    wait: number,
    signal: AbortSignal,
    tag: () => string
  ): Promise<boolean> {
    const before = tag();
    return new Promise<boolean>((resolve, reject) => {
      const done = (): void => {
        clearTimeout(timer);
        this._wakers.delete(check);
        signal.removeEventListener('abort', abort);
      };
      const check = (): void => {
        if (tag() !== before) {
          done();
          resolve(true);
        }
      };
      const abort = (): void => {
        done();
        reject(new DOMException('aborted', 'AbortError'));
      };
      const timer = setTimeout(() => {
        done();
        resolve(false);
      }, wait * 1000);
      this._wakers.add(check);
      signal.addEventListener('abort', abort);
    });
  }

  private _wake(): void {
    [...this._wakers].forEach(wake => wake());
  }

  private _wakers = new Set<() => void>();
}

function json(status: number, value: unknown): Response {
  return new Response(JSON.stringify(value), {
    status,
    headers: { 'Content-Type': 'application/json' }
  });
}

/** Wait until `condition()` holds, within `timeout` ms. */
async function until(
  condition: () => boolean,
  what: string,
  timeout = 4000
): Promise<void> {
  const deadline = Date.now() + timeout;
  while (!condition()) {
    if (Date.now() > deadline) {
      throw new Error(`timed out waiting for ${what}`);
    }
    await new Promise(resolve => setTimeout(resolve, 5));
  }
}

describe('HttpProvider', () => {
  let server: FakeServer;
  let doc: Y.Doc;
  let awareness: Awareness;
  let providers: HttpProvider[];

  const open = (options: Partial<HttpProvider.IOptions> = {}): HttpProvider => {
    const provider = new HttpProvider({
      url: ROOM_URL + '/',
      doc,
      awareness,
      request: server.request,
      session: 'test-session-1',
      wait: 0.3,
      slack: 1000,
      backoff: { base: 10, max: 40 },
      random: () => 0,
      ...options
    });
    providers.push(provider);
    return provider;
  };

  beforeEach(() => {
    server = new FakeServer();
    doc = new Y.Doc();
    awareness = new Awareness(doc);
    providers = [];
  });

  afterEach(() => {
    providers.forEach(provider => provider.destroy({ goodbye: false }));
    awareness.destroy();
    server.destroy();
  });

  it('syncs both ways on connect: takes the room, posts what the room lacks', async () => {
    server.edit(text => text.insert(0, 'from the room. '));
    doc.getText('content').insert(0, 'Typed offline.');
    const events: string[] = [];
    const provider = open({ connect: false });
    provider.on('status', ({ status }) => events.push(status));
    provider.on('sync', synced => events.push(`sync ${synced}`));
    expect(provider.status).toBe('disconnected');
    provider.connect();
    provider.connect(); // once is enough

    await until(() => provider.synced, 'the first sync');
    expect(events).toEqual(['connecting', 'connected', 'sync true']);
    await provider.flush();
    expect(server.text).toBe(doc.getText('content').toString());
    expect(server.text).toContain('Typed offline.');
    expect(server.text).toContain('from the room. ');
    // The first GET asked without a version tag; every request names the session.
    const first = server.requests[0];
    expect(first.route).toBe('updates');
    expect(first.headers.get('If-None-Match')).toBeNull();
    expect(first.query.get('wait')).toBeNull();
    expect(
      server.requests.every(
        r => r.headers.get('X-YSync-Session') === 'test-session-1'
      )
    ).toBe(true);
  });

  it('posts nothing when the room lacks nothing', async () => {
    server.edit(text => text.insert(0, 'hello'));
    const provider = open();
    await until(() => provider.synced, 'the first sync');
    await provider.flush();
    expect(doc.getText('content').toString()).toBe('hello');
    expect(server.count('POST', 'updates')).toBe(0);
  });

  it('posts local edits one at a time, merging those made meanwhile', async () => {
    const provider = open();
    await until(() => provider.synced, 'the first sync');
    let open_gate = (): void => undefined;
    server.gate = new Promise<void>(resolve => (open_gate = resolve));
    const text = doc.getText('content');
    text.insert(0, 'a');
    await until(() => server.count('POST', 'updates') === 1, 'the first POST');
    text.insert(1, 'b');
    text.insert(2, 'c');
    text.insert(3, 'd');
    const flushed = provider.flush();
    server.gate = null;
    open_gate();
    await flushed;
    expect(server.text).toBe('abcd');
    // 'a', then 'bcd' merged into one.
    expect(server.count('POST', 'updates')).toBe(2);
    const post = server.requests.find(r => r.method === 'POST')!;
    expect(post.headers.get('Content-Type')).toBe('application/octet-stream');
  });

  it('brings remote edits with a long poll that sends the version tag back', async () => {
    const provider = open();
    await until(() => provider.synced, 'the first sync');
    server.edit(text => text.insert(0, 'remote'));
    await until(
      () => doc.getText('content').toString() === 'remote',
      'the remote edit'
    );
    const polls = server.requests.filter(
      r => r.method === 'GET' && r.route === 'updates' && r.query.has('wait')
    );
    expect(polls.length).toBeGreaterThan(0);
    expect(polls[0].headers.get('If-None-Match')).toBe('"e1.0"');
    expect(polls[0].query.get('wait')).toBe('0.3');
    // An idle room answers 304 and the poll goes on.
    const before = polls.length;
    await until(
      () =>
        server.requests.filter(
          r => r.route === 'updates' && r.query.has('wait')
        ).length >
        before + 1,
      'more polls'
    );
    server.edit(text => text.insert(6, '!'));
    await until(
      () => doc.getText('content').toString() === 'remote!',
      'the next remote edit'
    );
  });

  it('shares presence: posts its own, shows the others, drops those that left', async () => {
    awareness.setLocalStateField('user', { name: 'Ada' });
    server.setPresence(77, 1, { user: { name: 'Grace' } });
    const provider = open();
    await until(() => awareness.getStates().has(77), "Grace's presence");
    expect(awareness.getStates().get(77)).toEqual({ user: { name: 'Grace' } });
    await until(
      () => server.awareness.getStates().has(doc.clientID),
      "Ada's presence on the server"
    );
    awareness.setLocalStateField('cursor', { anchor: 3 });
    await until(
      () =>
        (server.awareness.getStates().get(doc.clientID) as any)?.cursor
          ?.anchor === 3,
      "Ada's caret on the server"
    );
    const post = server.requests.find(
      r => r.method === 'POST' && r.route === 'awareness'
    )!;
    expect(post.headers.get('Accept')).toBe('application/octet-stream');

    // Grace left: the full answer no longer lists her.
    server.setPresence(77, 2, null);
    await until(() => !awareness.getStates().has(77), 'Grace leaving');
    expect(awareness.getLocalState()).not.toBeNull();
    expect(provider.synced).toBe(true);
  });

  it('shows again a state removed here at the clock it had', async () => {
    server.setPresence(77, 4, { user: { name: 'Grace' } });
    const provider = open();
    await until(() => awareness.getStates().has(77), "Grace's presence");
    // As y-websocket does when its socket closes.
    removeAwarenessStates(awareness, [77], 'websocket');
    server.setPresence(78, 1, { user: { name: 'Alan' } });
    await until(() => awareness.getStates().has(78), "Alan's presence");
    expect(awareness.getStates().has(77)).toBe(true);
    expect(provider.status).toBe('connected');
  });

  it('posts its presence again when the room lost it', async () => {
    awareness.setLocalStateField('user', { name: 'Ada' });
    const provider = open();
    await until(
      () => server.awareness.getStates().has(doc.clientID),
      'the first presence'
    );
    const posts = server.count('POST', 'awareness');
    // The session expired on the server: its states went with it.
    removeAwarenessStates(server.awareness, [doc.clientID], 'expired');
    server.awarenessChanged();
    await until(
      () => server.count('POST', 'awareness') > posts,
      'the presence posted again'
    );
    await until(
      () => server.awareness.getStates().has(doc.clientID),
      'the presence back'
    );
    expect(provider.synced).toBe(true);
  });

  it('sends what a held update builds on (202)', async () => {
    const provider = open();
    await until(() => provider.synced, 'the first sync');
    server.holdNext = true;
    doc.getText('content').insert(0, 'held');
    await until(() => server.text === 'held', 'the missing content');
    await provider.flush();
    expect(server.count('POST', 'updates')).toBe(2);
  });

  it('reports a refused edit once, and posts no more (403)', async () => {
    server.readOnly = true;
    const provider = open();
    const denied: string[] = [];
    provider.on('permission-denied', reason => denied.push(reason));
    await until(() => provider.synced, 'the first sync');
    doc.getText('content').insert(0, 'nope');
    await until(() => denied.length === 1, 'the refusal');
    expect(denied).toEqual(['read-only']);
    expect(provider.writeDenied).toBe(true);
    doc.getText('content').insert(0, 'still nope');
    await provider.flush();
    expect(server.count('POST', 'updates')).toBe(1);
    expect(server.text).toBe('');
  });

  it('backs off after network errors, then syncs again', async () => {
    server.networkFailures = 3;
    const statuses: string[] = [];
    const provider = open({ connect: false });
    provider.on('status', ({ status }) => statuses.push(status));
    provider.connect();
    await until(() => provider.synced, 'a sync after the failures');
    expect(statuses).toEqual([
      'connecting',
      'disconnected',
      'connecting',
      'disconnected',
      'connecting',
      'disconnected',
      'connecting',
      'connected'
    ]);

    // A failed POST: the next sync sends what it carried.
    server.networkFailures = 1;
    let failed: Error | null = null;
    doc.getText('content').insert(0, 'kept');
    await provider.flush().catch(error => (failed = error));
    await until(() => server.text === 'kept', 'the edit sent again');
    expect(failed).not.toBeNull();
    await until(() => provider.synced, 'synced again');
  });

  it('starts a new session when the room ended the old one (410)', async () => {
    const provider = open();
    await until(() => provider.synced, 'the first sync');
    server.closed.set('test-session-1', 1001);
    server.edit(text => text.insert(0, 'after the reload'));
    await until(() => provider.session !== 'test-session-1', 'a new session');
    expect(provider.session).toMatch(/^[A-Za-z0-9_-]{22}$/);
    await until(
      () => doc.getText('content').toString() === 'after the reload',
      'the sync of the new session'
    );
    expect(provider.synced).toBe(true);
  });

  it('closes for good when the room was deleted (410, 4404)', async () => {
    const provider = open();
    const closed: { code: number; reason: string }[] = [];
    provider.on('closed', event => closed.push(event));
    await until(() => provider.synced, 'the first sync');
    server.closed.set('test-session-1', 4404);
    server.edit(text => text.insert(0, 'x'));
    await until(() => closed.length === 1, 'the close');
    expect(closed[0].code).toBe(4404);
    expect(closed[0].reason).toContain('HTTP 410');
    expect(provider.status).toBe('disconnected');
    expect(provider.shouldConnect).toBe(false);
    provider.connect(); // closed for good
    expect(provider.shouldConnect).toBe(false);
    await expect(provider.flush()).resolves.toBeUndefined();
  });

  it('says goodbye on destroy: the others see this peer leave', async () => {
    awareness.setLocalStateField('user', { name: 'Ada' });
    const provider = open();
    await until(
      () => server.awareness.getStates().has(doc.clientID),
      'the presence'
    );
    provider.destroy();
    provider.destroy();
    await until(
      () => !server.awareness.getStates().has(doc.clientID),
      'the goodbye'
    );
    expect(provider.status).toBe('disconnected');
    // Destroyed: local edits go nowhere.
    const posts = server.requests.length;
    doc.getText('content').insert(0, 'x');
    awareness.setLocalStateField('cursor', null);
    await new Promise(resolve => setTimeout(resolve, 50));
    expect(server.requests.length).toBe(posts);
  });

  it('leaves quietly for the websocket: its state stays', async () => {
    awareness.setLocalStateField('user', { name: 'Ada' });
    const provider = open();
    await until(
      () => server.awareness.getStates().has(doc.clientID),
      'the presence'
    );
    provider.destroy({ goodbye: false });
    await new Promise(resolve => setTimeout(resolve, 50));
    expect(server.awareness.getStates().has(doc.clientID)).toBe(true);
  });

  it('fails a pending flush when disconnected, and stops polling', async () => {
    const provider = open();
    await until(() => provider.synced, 'the first sync');
    server.gate = new Promise<void>(() => undefined); // never answered
    doc.getText('content').insert(0, 'x');
    const flushed = provider.flush();
    provider.disconnect();
    await expect(flushed).rejects.toThrow('disconnected');
    provider.disconnect();
    expect(provider.synced).toBe(false);
    const requests = server.requests.length;
    await new Promise(resolve => setTimeout(resolve, 50));
    expect(server.requests.length).toBe(requests);
  });

  it('gives up a flush after its timeout', async () => {
    const provider = open();
    await until(() => provider.synced, 'the first sync');
    server.gate = new Promise<void>(() => undefined);
    doc.getText('content').insert(0, 'x');
    await expect(provider.flush(30)).rejects.toThrow('in time');
  });

  it('retries an error answer, then closes on a refused credential', async () => {
    const answers = [json(503, { message: 'not saved' }), json(401, {})];
    const provider = open({
      connect: false,
      request: (url, init) =>
        answers.length
          ? Promise.resolve(answers.shift()!)
          : server.request(url, init)
    });
    const closed: number[] = [];
    const statuses: string[] = [];
    provider.on('closed', ({ code }) => closed.push(code));
    provider.on('status', ({ status }) => statuses.push(status));
    provider.connect();
    await until(() => closed.length === 1, 'the close');
    expect(closed).toEqual([4401]);
    expect(statuses).toEqual([
      'connecting',
      'disconnected',
      'connecting',
      'disconnected'
    ]);
  });

  it('makes up its own session id; a handler taken off hears nothing', async () => {
    const provider = open({ session: undefined, connect: false });
    expect(provider.session).toMatch(/^[A-Za-z0-9_-]{22}$/);
    const heard: boolean[] = [];
    const handler = (synced: boolean): number => heard.push(synced);
    provider.on('sync', handler);
    provider.off('sync', handler);
    provider.connect();
    await until(() => provider.synced, 'the first sync');
    expect(heard).toEqual([]);
  });

  it('sends an edit again after the server failed to store it (503)', async () => {
    const provider = open();
    await until(() => provider.synced, 'the first sync');
    server.failPosts = 1;
    doc.getText('content').insert(0, 'stored at last');
    await until(() => server.text === 'stored at last', 'the edit stored');
    await until(() => provider.synced, 'synced again');
    expect(server.count('POST', 'updates')).toBe(2);
  });

  it('posts its presence again after a failed awareness POST', async () => {
    const provider = open();
    await until(() => provider.synced, 'the first sync');
    await until(
      () => server.awareness.getStates().has(doc.clientID),
      'the first presence'
    );
    server.failPosts = 1;
    awareness.setLocalStateField('user', { name: 'Ada' });
    await until(
      () =>
        (server.awareness.getStates().get(doc.clientID) as any)?.user?.name ===
        'Ada',
      'the presence posted again'
    );
  });

  it('does not post again and again a state the room does not take', async () => {
    server.ignorePresence = true;
    const provider = open();
    await until(() => server.count('POST', 'awareness') === 1, 'one POST');
    server.setPresence(77, 1, { user: { name: 'Grace' } });
    await until(() => awareness.getStates().has(77), "Grace's presence");
    await new Promise(resolve => setTimeout(resolve, 50));
    expect(server.count('POST', 'awareness')).toBe(1);
    expect(provider.synced).toBe(true);
  });

  it('closes when the presence poll hears the room closed it for good', async () => {
    const provider = open();
    const closed: number[] = [];
    provider.on('closed', ({ code }) => closed.push(code));
    await until(
      () => server.count('GET', 'awareness') >= 2,
      'the presence long poll'
    );
    server.closed.set('test-session-1', 4403);
    server.setPresence(77, 1, { user: { name: 'Grace' } });
    await until(() => closed.length === 1, 'the close');
    expect(closed).toEqual([4403]);
    expect(provider.shouldConnect).toBe(false);
  });
});
