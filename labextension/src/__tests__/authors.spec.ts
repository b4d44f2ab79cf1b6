import Delta from 'quill-delta';

import {
  AUTHOR_PALETTE,
  IAuthorship,
  authorKey,
  buildLegend,
  parseAuthorship,
  shiftRanges
} from '../authors';
import { IPeer } from '../people';
import { InvalidAnswer } from '../versions';
import { english } from './english';

const ANSWER = {
  clients: {
    '11': { username: 'ada', display_name: 'Ada Lovelace', kind: 'browser' },
    '12': { username: 'ada', display_name: 'Ada Lovelace', kind: 'browser' },
    '21': { username: 'ada', display_name: 'Ada Lovelace', kind: 'kernel' },
    '31': { username: 'grace', display_name: 'Grace Hopper', kind: 'browser' }
  },
  ranges: [
    { index: 20, length: 5, client: 31 },
    { index: 0, length: 10, client: 11 },
    { index: 10, length: 0, client: 31 },
    { index: 10, length: 6, client: 21 },
    { index: 16, length: 4, client: 12 },
    { index: 25, length: 3, client: 99 }
  ]
};

function peer(fields: Partial<IPeer>): IPeer {
  return {
    clientId: 1,
    name: 'Someone',
    color: '#000000',
    username: null,
    kind: 'person',
    isLocal: false,
    personKey: 'person/client:1',
    ...fields
  };
}

describe('parseAuthorship', () => {
  it('reads who is behind each client, and the ranges by index', () => {
    const authorship = parseAuthorship(ANSWER);
    expect(authorship.clients.get(21)).toEqual({
      username: 'ada',
      displayName: 'Ada Lovelace',
      kind: 'kernel'
    });
    expect(authorship.ranges.map(r => r.index)).toEqual([0, 10, 16, 20, 25]);
  });

  it('drops empty ranges', () => {
    const ranges = parseAuthorship(ANSWER).ranges;
    expect(ranges.every(range => range.length > 0)).toBe(true);
  });

  it.each([
    [null, 'the authors'],
    [{ ranges: [] }, 'clients'],
    [{ clients: {}, ranges: {} }, 'ranges'],
    [{ clients: { ada: {} }, ranges: [] }, 'clients'],
    [{ clients: {}, ranges: [7] }, 'ranges[0]'],
    [
      { clients: {}, ranges: [{ index: 0, length: -1, client: 1 }] },
      'ranges[0].length'
    ],
    [
      { clients: { '1': { username: 'x', kind: 'bot' } }, ranges: [] },
      'clients[1].kind'
    ]
  ])('refuses %p, naming %s', (answer, where) => {
    expect(() => parseAuthorship(answer)).toThrow(InvalidAnswer);
    expect(() => parseAuthorship(answer)).toThrow(`${where} is`);
  });
});

describe('buildLegend', () => {
  const authorship: IAuthorship = parseAuthorship(ANSWER);

  it("lists each author once, a person's kernel apart, most text first", () => {
    const legend = buildLegend(authorship, [], english);
    expect(legend.map(entry => [entry.name, entry.kind, entry.chars])).toEqual([
      ['Ada Lovelace', 'browser', 14],
      ['Ada Lovelace', 'kernel', 6],
      ['Grace Hopper', 'browser', 5],
      ['Unknown (client 99)', 'unknown', 3]
    ]);
    expect(legend[0].clientIds).toEqual([11, 12]);
    expect(legend[0].key).toBe('browser/ada');
    expect(legend[1].key).toBe('kernel/ada');
  });

  it('gives each author a distinct colour', () => {
    const colors = buildLegend(authorship, [], english).map(e => e.color);
    expect(new Set(colors).size).toBe(colors.length);
    colors.forEach(color => expect(AUTHOR_PALETTE).toContain(color));
  });

  it('gives the same author the same colour every time', () => {
    const first = buildLegend(authorship, [], english);
    const again = buildLegend(authorship, [], english);
    expect(again.map(e => e.color)).toEqual(first.map(e => e.color));
  });

  it('uses the caret colour of an author in the room, and marks you', () => {
    const peers = [
      peer({ username: 'grace', color: '#123456', isLocal: true }),
      peer({ clientId: 2, username: 'ada', color: '#654321', kind: 'kernel' })
    ];
    const legend = buildLegend(authorship, peers, english);
    const grace = legend.find(e => e.key === 'browser/grace')!;
    const kernel = legend.find(e => e.key === 'kernel/ada')!;
    const ada = legend.find(e => e.key === 'browser/ada')!;
    expect(grace.color).toBe('#123456');
    expect(grace.isLocal).toBe(true);
    expect(kernel.color).toBe('#654321');
    expect(ada.isLocal).toBe(false);
    expect(ada.color).not.toBe('#123456');
  });

  it('uses the caret colour of the very peer that wrote, username or not', () => {
    const peers = [
      peer({ clientId: 11, color: '#111111', isLocal: true }),
      peer({ clientId: 21, color: '#222222', kind: 'kernel' })
    ];
    const legend = buildLegend(authorship, peers, english);
    const ada = legend.find(e => e.key === 'browser/ada')!;
    expect(ada.color).toBe('#111111');
    expect(ada.isLocal).toBe(true);
    const kernel = legend.find(e => e.key === 'kernel/ada')!;
    expect(kernel.color).toBe('#222222');
    expect(kernel.isLocal).toBe(false);
  });

  it('ignores peers without a username', () => {
    const legend = buildLegend(
      authorship,
      [peer({ isLocal: true, color: '#123456' })],
      english
    );
    expect(legend.some(e => e.isLocal || e.color === '#123456')).toBe(false);
  });

  it('still colours everyone when the palette runs out', () => {
    const clients: Record<string, unknown> = {};
    const ranges = [];
    for (let i = 0; i < AUTHOR_PALETTE.length + 2; i++) {
      clients[String(i)] = { username: `u${i}`, kind: 'browser' };
      ranges.push({ index: i, length: 1, client: i });
    }
    const legend = buildLegend(
      parseAuthorship({ clients, ranges }),
      [],
      english
    );
    expect(legend).toHaveLength(AUTHOR_PALETTE.length + 2);
    legend.forEach(entry => expect(AUTHOR_PALETTE).toContain(entry.color));
  });

  it('names an author known only by kind', () => {
    const legend = buildLegend(
      parseAuthorship({
        clients: { '5': { username: null, kind: 'system' } },
        ranges: [{ index: 0, length: 2, client: 5 }]
      }),
      [],
      english
    );
    expect(legend[0]).toMatchObject({
      key: 'system/client:5',
      name: 'the server',
      kind: 'system'
    });
  });

  it('is empty for an empty text', () => {
    expect(
      buildLegend(parseAuthorship({ clients: {}, ranges: [] }), [], english)
    ).toEqual([]);
  });
});

describe('authorKey', () => {
  it('tells authors apart by kind and username, else by client', () => {
    const ada = {
      username: 'ada',
      displayName: 'Ada',
      kind: 'browser' as const
    };
    expect(authorKey(1, ada)).toBe('browser/ada');
    expect(authorKey(1, { ...ada, username: '' })).toBe('browser/client:1');
    expect(authorKey(1, undefined)).toBe('unknown/client:1');
  });
});

describe('shiftRanges', () => {
  const ranges = [
    { index: 0, length: 5, client: 1 },
    { index: 5, length: 5, client: 2 }
  ];

  it('moves ranges after an insertion, leaving the inserted text out', () => {
    const change = new Delta().retain(5).insert('xyz');
    expect(shiftRanges(ranges, change)).toEqual([
      { index: 0, length: 5, client: 1 },
      { index: 8, length: 5, client: 2 }
    ]);
  });

  it('grows a range typed into', () => {
    const change = new Delta().retain(2).insert('ab');
    expect(shiftRanges(ranges, change)[0]).toEqual({
      index: 0,
      length: 7,
      client: 1
    });
  });

  it('shortens ranges through a deletion, and drops emptied ones', () => {
    const change = new Delta().retain(3).delete(7);
    expect(shiftRanges(ranges, change)).toEqual([
      { index: 0, length: 3, client: 1 }
    ]);
  });
});
