import {
  ConnectionStatus,
  Translation,
  channelLabel,
  closedMessage,
  connectionStatus,
  statusLabel,
  statusLine
} from '../status';
import { english, format } from './english';

/** A language bundle that marks every message it translated. */
const marked: Translation = {
  __: (message: string, ...args: unknown[]) => `«${format(message, args)}»`,
  _n: (singular: string, plural: string, n: number, ...args: unknown[]) =>
    `«${format(n === 1 ? singular : plural, [n, ...args])}»`
};

describe('connectionStatus', () => {
  it.each<[Parameters<typeof connectionStatus>[0], boolean, ConnectionStatus]>([
    ['connecting', false, 'connecting'],
    ['connecting', true, 'connecting'],
    ['connected', false, 'connected'],
    ['connected', true, 'synced'],
    ['disconnected', false, 'disconnected'],
    ['disconnected', true, 'disconnected']
  ])('maps a %s socket (synced: %s) to %s', (socket, synced, status) => {
    expect(connectionStatus(socket, synced)).toBe(status);
  });
});

describe('closedMessage', () => {
  it("gives the server's reason and the code", () => {
    expect(closedMessage(4404, 'room deleted', english)).toBe(
      'disconnected: room deleted (4404)'
    );
  });

  it('says the server closed the room when it gave no reason', () => {
    expect(closedMessage(4403, '', english)).toBe(
      'disconnected: closed by the server (4403)'
    );
  });

  it('is translated', () => {
    expect(closedMessage(4403, '', marked)).toBe(
      '«disconnected: «closed by the server» (4403)»'
    );
  });
});

describe('statusLabel', () => {
  it.each<ConnectionStatus>([
    'connecting',
    'connected',
    'synced',
    'disconnected'
  ])('names %s, translated', status => {
    expect(statusLabel(status, english)).toBe(status);
    expect(statusLabel(status, marked)).toBe(`«${status}»`);
  });
});

describe('statusLine', () => {
  const base = {
    room: 'notes',
    status: 'synced' as ConnectionStatus,
    closed: null,
    headcount: { people: 1, kernels: 0 },
    readOnly: false
  };

  it('shows the room, the state and one person', () => {
    expect(statusLine(base, english)).toBe('notes · synced · 1 person');
  });

  it('says when the room goes over HTTP, not over the usual websocket', () => {
    const http = { ...base, channel: 'http' as const };
    expect(statusLine(http, english)).toBe(
      'notes · synced · HTTP (websocket blocked) · 1 person'
    );
    expect(statusLine({ ...base, channel: 'websocket' }, english)).toBe(
      'notes · synced · 1 person'
    );
    const closed = { ...http, closed: closedMessage(4404, 'gone', english) };
    expect(statusLine(closed, english)).toBe(
      'notes · disconnected: gone (4404) · 1 person'
    );
  });

  it('names the channel', () => {
    expect(channelLabel('websocket', english)).toBe('websocket');
    expect(channelLabel('http', english)).toBe('HTTP (websocket blocked)');
  });

  it('counts people and kernels', () => {
    const line = { ...base, headcount: { people: 2, kernels: 1 } };
    expect(statusLine(line, english)).toBe(
      'notes · synced · 2 people · 1 kernel'
    );
    const more = { ...base, headcount: { people: 0, kernels: 3 } };
    expect(statusLine(more, english)).toBe(
      'notes · synced · 0 people · 3 kernels'
    );
  });

  it('shows the detail after the state, e.g. a file state', () => {
    const line = {
      ...base,
      room: 'notes/report.md',
      detail: 'unsaved changes'
    };
    expect(statusLine(line, english)).toBe(
      'notes/report.md · synced · unsaved changes · 1 person'
    );
  });

  it('says a file was deleted (4410), read-only', () => {
    const line = {
      ...base,
      room: 'notes/report.md',
      status: 'disconnected' as ConnectionStatus,
      closed: closedMessage(4410, 'file deleted', english),
      detail: 'file deleted',
      readOnly: true
    };
    expect(statusLine(line, english)).toBe(
      'notes/report.md · disconnected: file deleted (4410) · file deleted · 1 person · read-only'
    );
  });

  it('says why the server closed the room, instead of the state', () => {
    const line = {
      ...base,
      status: 'disconnected' as ConnectionStatus,
      closed: 'disconnected: room deleted (4404)'
    };
    expect(statusLine(line, english)).toBe(
      'notes · disconnected: room deleted (4404) · 1 person'
    );
  });

  it('says when this peer may only read', () => {
    expect(statusLine({ ...base, readOnly: true }, english)).toBe(
      'notes · synced · 1 person · read-only'
    );
  });

  it('translates everything but the room name', () => {
    const line = {
      ...base,
      headcount: { people: 2, kernels: 1 },
      readOnly: true
    };
    expect(statusLine(line, marked)).toBe(
      'notes · «synced» · «2 people» · «1 kernel» · «read-only»'
    );
  });
});
