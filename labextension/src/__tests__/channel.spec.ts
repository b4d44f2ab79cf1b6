import { Awareness, encodeAwarenessUpdate } from 'y-protocols/awareness';
import * as Y from 'yjs';

import {
  FallbackAction,
  FallbackMachine,
  HttpStatusError,
  awarenessClients,
  backoffDelay,
  decodeBase64Url,
  encodeBase64Url,
  httpFailure,
  isEmptyUpdate,
  newSessionId,
  normalizeEtag
} from '../channel';

const kinds = (actions: FallbackAction[]): string[] =>
  actions.map(action => action.kind);

describe('base64url', () => {
  it('encodes as the server decodes: base64url without padding', () => {
    for (let length = 0; length < 40; length++) {
      const bytes = Uint8Array.from({ length }, (_, i) => (i * 97 + 251) % 256);
      const expected = Buffer.from(bytes).toString('base64url');
      expect(encodeBase64Url(bytes)).toBe(expected);
      expect(decodeBase64Url(expected)).toEqual(bytes);
    }
  });

  it('decodes standard base64 and padding too', () => {
    const bytes = Uint8Array.from([251, 255, 190, 0, 1]);
    const standard = Buffer.from(bytes).toString('base64');
    expect(standard).toMatch(/[+/=]/);
    expect(decodeBase64Url(standard)).toEqual(bytes);
    expect(decodeBase64Url(` ${standard} `)).toEqual(bytes);
  });

  it('round-trips a state vector', () => {
    const doc = new Y.Doc();
    doc.getText('content').insert(0, 'hello');
    const vector = Y.encodeStateVector(doc);
    expect(decodeBase64Url(encodeBase64Url(vector))).toEqual(vector);
  });

  it('refuses what is not base64, naming it', () => {
    expect(() => decodeBase64Url('not base64!')).toThrow(
      'Not base64: "not base64!"'
    );
    expect(() => decodeBase64Url('abcde')).toThrow('Not base64');
  });
});

describe('normalizeEtag', () => {
  it('sends a tag back as it came, without a weak prefix', () => {
    expect(normalizeEtag('"ab12.7"')).toBe('"ab12.7"');
    expect(normalizeEtag('W/"ab12.7"')).toBe('"ab12.7"');
    expect(normalizeEtag('  "ab12.a3" ')).toBe('"ab12.a3"');
  });

  it('is null without a tag', () => {
    expect(normalizeEtag(null)).toBeNull();
    expect(normalizeEtag(undefined)).toBeNull();
    expect(normalizeEtag(' ')).toBeNull();
  });
});

describe('backoffDelay', () => {
  const backoff = { base: 500, max: 15000 };

  it('doubles from the base up to the maximum', () => {
    const delays = [1, 2, 3, 4, 5, 6, 7].map(n => backoffDelay(n, backoff));
    expect(delays).toEqual([500, 1000, 2000, 4000, 8000, 15000, 15000]);
    expect(backoffDelay(0, backoff)).toBe(500);
    expect(backoffDelay(1000, backoff)).toBe(15000);
  });

  it('takes off up to the jitter', () => {
    expect(backoffDelay(3, backoff, 0.2, 0)).toBe(2000);
    expect(backoffDelay(3, backoff, 0.2, 0.5)).toBe(1800);
    expect(backoffDelay(3, backoff, 0.2, 0.999)).toBeGreaterThanOrEqual(1600);
  });
});

describe('isEmptyUpdate', () => {
  it('knows an update with nothing in it', () => {
    const doc = new Y.Doc();
    expect(isEmptyUpdate(Y.encodeStateAsUpdate(doc))).toBe(true);
    expect(isEmptyUpdate(new Uint8Array())).toBe(true);
    doc.getText('content').insert(0, 'x');
    const full = Y.encodeStateAsUpdate(doc);
    expect(isEmptyUpdate(full)).toBe(false);
    expect(
      isEmptyUpdate(Y.encodeStateAsUpdate(doc, Y.encodeStateVector(doc)))
    ).toBe(true);
  });

  it('keeps an update that only deletes', () => {
    const doc = new Y.Doc();
    doc.getText('content').insert(0, 'xy');
    const before = Y.encodeStateVector(doc);
    let deletion = new Uint8Array();
    doc.on('update', (update: Uint8Array) => (deletion = update));
    doc.getText('content').delete(0, 1);
    expect(Y.encodeStateVector(doc)).toEqual(before);
    expect(isEmptyUpdate(deletion)).toBe(false);
  });
});

describe('newSessionId', () => {
  it('is 22 characters the server accepts', () => {
    const id = newSessionId(bytes => bytes.fill(255));
    expect(id).toBe('_____________________w');
    expect(id).toMatch(/^[A-Za-z0-9_-]{8,64}$/);
  });
});

describe('awarenessClients', () => {
  it('lists the clients and clocks of an awareness update', () => {
    const a = new Awareness(new Y.Doc());
    const b = new Awareness(new Y.Doc());
    b.doc.clientID = 300000; // a three-byte varint
    b.clientID = 300000;
    b.setLocalState({ user: { name: 'Grace' } });
    b.setLocalStateField('cursor', { anchor: 1 });
    a.setLocalState({ user: { name: 'Ada' } });
    const update = encodeAwarenessUpdate(b, [b.clientID]);
    expect(awarenessClients(update)).toEqual(new Map([[300000, 1]]));
    const both = encodeAwarenessUpdate(a, [a.clientID]);
    expect([...awarenessClients(both).keys()]).toEqual([a.clientID]);
    expect(awarenessClients(new Uint8Array([0]))).toEqual(new Map());
    a.destroy();
    b.destroy();
  });

  it('refuses a truncated update', () => {
    expect(() => awarenessClients(new Uint8Array([]))).toThrow('Truncated');
    expect(() => awarenessClients(new Uint8Array([1, 5, 1, 9, 0]))).toThrow(
      'Truncated'
    );
  });
});

describe('httpFailure', () => {
  it('closes for good where the websocket would', () => {
    expect(httpFailure(new HttpStatusError(401, 'no credential'))).toEqual({
      kind: 'close',
      code: 4401
    });
    expect(httpFailure(new HttpStatusError(403, ''))).toEqual({
      kind: 'close',
      code: 4403
    });
    expect(httpFailure(new HttpStatusError(413, ''))).toEqual({
      kind: 'close',
      code: 4413
    });
    expect(httpFailure(new HttpStatusError(410, 'deleted', 4404))).toEqual({
      kind: 'close',
      code: 4404
    });
  });

  it('starts a new session when the room ended one for a passing reason', () => {
    expect(httpFailure(new HttpStatusError(410, 'reloaded', 1001))).toEqual({
      kind: 'resync'
    });
    expect(httpFailure(new HttpStatusError(410, ''))).toEqual({
      kind: 'resync'
    });
  });

  it('retries what may pass: the server, the proxy, the network', () => {
    for (const status of [400, 404, 409, 500, 502, 503]) {
      expect(httpFailure(new HttpStatusError(status, ''))).toEqual({
        kind: 'retry'
      });
    }
  });

  it('says the status and the message', () => {
    expect(new HttpStatusError(503, 'not saved').message).toBe(
      'HTTP 503: not saved'
    );
    expect(new HttpStatusError(502, '').message).toBe('HTTP 502');
  });
});

describe('FallbackMachine', () => {
  const probe = { base: 30000, max: 60000 };

  it('starts on the websocket', () => {
    const machine = new FallbackMachine();
    expect(machine.state).toBe('websocket');
    expect(kinds(machine.start())).toEqual(['connect-websocket']);
    expect(machine.start()).toEqual([]);
    expect(machine.channel).toBe('websocket');
  });

  it('falls back to HTTP when the first handshake fails, and probes', () => {
    const machine = new FallbackMachine({ probe });
    machine.start();
    expect(machine.websocketFailed()).toEqual([
      { kind: 'disconnect-websocket' },
      { kind: 'start-http' },
      { kind: 'schedule-probe', delay: 30000 }
    ]);
    expect(machine.state).toBe('http');
    expect(machine.channel).toBe('http');
    // A late close of that socket changes nothing.
    expect(machine.websocketFailed()).toEqual([]);
  });

  it('probes the websocket while on HTTP, less often as probes fail', () => {
    const machine = new FallbackMachine({ probe });
    machine.start();
    machine.websocketFailed();
    expect(kinds(machine.probeDue())).toEqual(['connect-websocket']);
    expect(machine.state).toBe('probing');
    expect(machine.channel).toBe('http');
    expect(machine.probeDue()).toEqual([]);
    expect(machine.websocketFailed()).toEqual([
      { kind: 'disconnect-websocket' },
      { kind: 'schedule-probe', delay: 60000 }
    ]);
    expect(machine.state).toBe('http');
    machine.probeDue();
    expect(machine.websocketFailed()).toEqual([
      { kind: 'disconnect-websocket' },
      { kind: 'schedule-probe', delay: 60000 }
    ]);
  });

  it('returns to the websocket once a probe opens, and stops HTTP', () => {
    const machine = new FallbackMachine({ probe, lostFailures: 3 });
    machine.start();
    machine.websocketFailed();
    machine.probeDue();
    expect(kinds(machine.websocketOpened())).toEqual([
      'cancel-probe',
      'stop-http'
    ]);
    expect(machine.state).toBe('websocket');
    expect(machine.channel).toBe('websocket');
    // The probe delays start over for the next fallback.
    machine.websocketLost();
    machine.websocketFailed();
    machine.websocketFailed();
    expect(machine.websocketFailed()).toContainEqual({
      kind: 'schedule-probe',
      delay: 30000
    });
  });

  it('rides out a server restart on the websocket before falling back', () => {
    const machine = new FallbackMachine({ lostFailures: 3 });
    machine.start();
    expect(machine.websocketOpened()).toEqual([]);
    expect(machine.websocketLost()).toEqual([]);
    expect(machine.websocketFailed()).toEqual([]);
    expect(machine.websocketFailed()).toEqual([]);
    expect(machine.state).toBe('websocket');
    // A socket that opens in between resets the count.
    machine.websocketOpened();
    machine.websocketLost();
    expect(machine.websocketFailed()).toEqual([]);
    expect(machine.websocketFailed()).toEqual([]);
    expect(kinds(machine.websocketFailed())).toEqual([
      'disconnect-websocket',
      'start-http',
      'schedule-probe'
    ]);
  });

  it('rides out about 13 s of failed reconnections by default', () => {
    const machine = new FallbackMachine();
    machine.start();
    machine.websocketOpened();
    machine.websocketLost();
    for (let failure = 1; failure < 8; failure++) {
      expect(machine.websocketFailed()).toEqual([]);
    }
    expect(machine.websocketFailed()).toContainEqual({ kind: 'start-http' });
  });

  it('never falls back with the websocket transport', () => {
    const machine = new FallbackMachine({ transport: 'websocket' });
    machine.start();
    expect(machine.websocketFailed()).toEqual([]);
    expect(machine.state).toBe('websocket');
  });

  it('starts on HTTP with the http transport, and never probes', () => {
    const machine = new FallbackMachine({ transport: 'http' });
    expect(kinds(machine.start())).toEqual(['start-http']);
    expect(machine.channel).toBe('http');
    expect(machine.probeDue()).toEqual([]);
    expect(machine.websocketFailed()).toEqual([]);
  });

  it('stops everything on close, once', () => {
    const machine = new FallbackMachine();
    machine.start();
    expect(kinds(machine.close())).toEqual([
      'cancel-probe',
      'disconnect-websocket'
    ]);
    expect(machine.close()).toEqual([]);
    expect(machine.websocketFailed()).toEqual([]);
    expect(machine.probeDue()).toEqual([]);

    const onHttp = new FallbackMachine();
    onHttp.start();
    onHttp.websocketFailed();
    expect(kinds(onHttp.close())).toEqual([
      'cancel-probe',
      'disconnect-websocket',
      'stop-http'
    ]);
    expect(onHttp.state).toBe('closed');
  });

  it('follows a deliberate reconnect after a close', () => {
    const machine = new FallbackMachine();
    machine.start();
    machine.close();
    expect(machine.websocketOpened()).toEqual([]);
    expect(machine.state).toBe('websocket');
  });
});
