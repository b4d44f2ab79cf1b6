import Delta from 'quill-delta';

import {
  DIFF_FORMAT,
  IVersion,
  InvalidAnswer,
  LINE_BREAK_MARK,
  asDocument,
  authorLabel,
  authorsLine,
  diffDocument,
  diffSegments,
  diffStats,
  formatSize,
  formatTime,
  parseAuthor,
  parseVersion,
  parseVersionContent,
  parseVersions,
  restoreChange,
  roomUrl,
  versionContentUrl,
  versionTitle
} from '../versions';
import { english } from './english';

const VERSION = {
  id: 7,
  created: '2025-01-31T10:00:00Z',
  name: 'sent to review',
  auto: false,
  authors: [
    { username: 'ada', display_name: 'Ada Lovelace', kind: 'browser' },
    { username: 'ada', display_name: 'Ada Lovelace', kind: 'kernel' }
  ],
  size: 812
};

function version(fields: Partial<IVersion> = {}): IVersion {
  return { ...parseVersion(VERSION), ...fields };
}

/** Apply `change` to `document`: what an editor shows after it. */
function apply(document: Delta, change: Delta): Delta {
  return document.compose(change);
}

describe('roomUrl', () => {
  it.each([['http://host/base/'], ['http://host/base']])(
    'joins the room route to %s, the room name encoded',
    base => {
      expect(roomUrl(base, 'file:3f2a', 'versions')).toBe(
        'http://host/base/ysync/rooms/file%3A3f2a/versions'
      );
    }
  );

  it('asks for a version as a delta', () => {
    expect(versionContentUrl('http://host/', 'notes', 7)).toBe(
      'http://host/ysync/rooms/notes/versions/7/content?format=delta'
    );
  });
});

describe('parseVersions', () => {
  it('reads the versions in the order the server sends them', () => {
    const versions = parseVersions([
      VERSION,
      { ...VERSION, id: 6, name: null, auto: true, authors: [] }
    ]);
    expect(versions).toEqual([
      {
        id: 7,
        created: '2025-01-31T10:00:00Z',
        name: 'sent to review',
        auto: false,
        authors: [
          { username: 'ada', displayName: 'Ada Lovelace', kind: 'browser' },
          { username: 'ada', displayName: 'Ada Lovelace', kind: 'kernel' }
        ],
        size: 812
      },
      {
        id: 6,
        created: '2025-01-31T10:00:00Z',
        name: null,
        auto: true,
        authors: [],
        size: 812
      }
    ]);
  });

  it('reads an empty name as none', () => {
    expect(parseVersion({ ...VERSION, name: '' }).name).toBeNull();
  });

  it('refuses an answer that is no list', () => {
    expect(() => parseVersions({ versions: [] })).toThrow(InvalidAnswer);
  });

  it.each([
    ['id', '7', '[0].id'],
    ['id', -1, '[0].id'],
    ['created', 12, '[0].created'],
    ['auto', 'no', '[0].auto'],
    ['size', 1.5, '[0].size'],
    ['authors', 'ada', '[0].authors']
  ])('names the field %s when it is %p', (name, value, where) => {
    expect(() => parseVersions([{ ...VERSION, [name]: value }])).toThrow(
      new InvalidAnswer(where, value)
    );
  });

  it('names a bad author by its place', () => {
    const authors = [VERSION.authors[0], { username: 'x', kind: 'robot' }];
    expect(() => parseVersions([{ ...VERSION, authors }])).toThrow(
      '[0].authors[1].kind is "robot"'
    );
  });

  it('refuses a version that is no object', () => {
    expect(() => parseVersions([null])).toThrow(new InvalidAnswer('[0]', null));
  });

  it('tells how to fix a mismatch', () => {
    expect(new InvalidAnswer('id', 'x').message).toMatch(
      /same version as the labextension/
    );
  });
});

describe('parseAuthor', () => {
  it('uses the username when there is no display name', () => {
    expect(parseAuthor({ username: 'ada', kind: 'browser' })).toEqual({
      username: 'ada',
      displayName: 'ada',
      kind: 'browser'
    });
  });

  it('accepts an author the server cannot name', () => {
    expect(
      parseAuthor({ username: null, display_name: null, kind: 'system' })
    ).toEqual({ username: '', displayName: '', kind: 'system' });
  });

  it('refuses an author that is no object', () => {
    expect(() => parseAuthor('ada')).toThrow(InvalidAnswer);
  });
});

describe('parseVersionContent', () => {
  it('reads the delta as a document', () => {
    const content = parseVersionContent({
      room: 'notes',
      version: 7,
      delta: [
        { insert: 'Title' },
        { insert: '\n', attributes: { header: 1 } },
        { insert: { image: 'https://x/p.png' } },
        { insert: '\n' }
      ]
    });
    expect(content).toBeInstanceOf(Delta);
    expect(content.length()).toBe(8);
  });

  it.each([
    [null, 'the version content'],
    [{ delta: 'Title' }, 'delta'],
    [{ delta: [{ retain: 3 }] }, 'delta[0]'],
    [{ delta: [{ insert: 'a', attributes: 'bold' }] }, 'delta[0]']
  ])('refuses %p, naming %s', (answer, where) => {
    expect(() => parseVersionContent(answer)).toThrow(`${where} is`);
  });
});

describe('versionTitle', () => {
  it('is the name the version was given', () => {
    expect(versionTitle(version(), english)).toBe('sent to review');
  });

  it('calls an unnamed automatic version "Automatic"', () => {
    expect(versionTitle(version({ name: null, auto: true }), english)).toBe(
      'Automatic'
    );
  });

  it('calls any other unnamed version "Unnamed"', () => {
    expect(versionTitle(version({ name: null, auto: false }), english)).toBe(
      'Unnamed'
    );
  });
});

describe('authorsLine', () => {
  it('marks a kernel as a script', () => {
    expect(authorsLine(version().authors, english)).toBe(
      'Ada Lovelace, Ada Lovelace (script)'
    );
  });

  it('shows a dash for no author', () => {
    expect(authorsLine([], english)).toBe('—');
  });

  it('names the server', () => {
    const server = { username: '', displayName: '', kind: 'system' as const };
    expect(authorLabel(server, english)).toBe('the server');
    expect(authorLabel({ ...server, displayName: 'import' }, english)).toBe(
      'import (server)'
    );
  });

  it('calls a nameless browser "Unknown"', () => {
    const author = { username: '', displayName: '', kind: 'browser' as const };
    expect(authorLabel(author, english)).toBe('Unknown');
  });
});

describe('formatSize', () => {
  it.each([
    [0, '0 B'],
    [812, '812 B'],
    [1500, '1.5 KB'],
    [3 * 1024 * 1024, '3.0 MB']
  ])('shows %p bytes as %s', (bytes, shown) => {
    expect(formatSize(bytes)).toBe(shown);
  });
});

describe('formatTime', () => {
  it('shows a time in the locale', () => {
    expect(formatTime('2025-01-31T10:00:00Z', 'en-US')).toMatch(/2025/);
  });

  it('shows what is no time as it came', () => {
    expect(formatTime('yesterday')).toBe('yesterday');
  });
});

describe('restoreChange', () => {
  const version = new Delta()
    .insert('Plan')
    .insert('\n', { header: 1 })
    .insert('Ship ')
    .insert('Friday', { bold: true })
    .insert('\n');

  it('turns the current text into the version', () => {
    const current = new Delta()
      .insert('Plan v2')
      .insert('\n', { header: 2 })
      .insert('Ship Monday, maybe\nExtra line\n');
    const change = restoreChange(current, version);
    expect(apply(current, change)).toEqual(version);
  });

  it('changes nothing when the text is the version', () => {
    expect(restoreChange(version, version).ops).toEqual([]);
  });

  it('keeps the final newline the editor cannot delete', () => {
    const current = new Delta().insert('Hello\n');
    const withoutNewline = new Delta().insert('Hi');
    const change = restoreChange(current, withoutNewline);
    expect(apply(current, change)).toEqual(new Delta().insert('Hi\n'));
  });

  it('restores an empty room', () => {
    const change = restoreChange(new Delta().insert('Text\n'), new Delta());
    expect(apply(new Delta().insert('Text\n'), change)).toEqual(
      new Delta().insert('\n')
    );
  });
});

describe('asDocument', () => {
  it('adds the final newline a document lacks', () => {
    expect(asDocument(new Delta().insert({ image: 'x' }))).toEqual(
      new Delta().insert({ image: 'x' }).insert('\n')
    );
  });

  it('keeps a document that has one', () => {
    const document = new Delta().insert('a\n');
    expect(asDocument(document)).toBe(document);
  });
});

describe('diffSegments', () => {
  it('marks text added since the version', () => {
    const from = new Delta().insert('cat\n');
    const to = new Delta().insert('cart\n');
    expect(diffSegments(from, to)).toEqual([
      { kind: 'equal', insert: 'ca' },
      { kind: 'insert', insert: 'r' },
      { kind: 'equal', insert: 't\n' }
    ]);
  });

  it('marks text removed since the version', () => {
    const from = new Delta().insert('The cat sat\n');
    const to = new Delta().insert('The cat\n');
    expect(diffSegments(from, to)).toEqual([
      { kind: 'equal', insert: 'The cat' },
      { kind: 'delete', insert: ' sat' },
      { kind: 'equal', insert: '\n' }
    ]);
  });

  it('holds both texts: the version without insertions, the current without deletions', () => {
    const from = new Delta().insert('The cat sat on the mat\nBye\n');
    const to = new Delta().insert('The big cat sat\nHello\nBye\n');
    const segments = diffSegments(from, to);
    const text = (skip: string): string =>
      segments
        .filter(s => s.kind !== skip)
        .map(s => s.insert)
        .join('');
    expect(text('insert')).toBe('The cat sat on the mat\nBye\n');
    expect(text('delete')).toBe('The big cat sat\nHello\nBye\n');
  });

  it('shows a deletion before the insertion that replaces it', () => {
    const segments = diffSegments(
      new Delta().insert('a cat\n'),
      new Delta().insert('a dog\n')
    );
    const kinds = segments.map(s => s.kind);
    expect(kinds.indexOf('delete')).toBeLessThan(kinds.indexOf('insert'));
    expect(
      segments
        .filter(s => s.kind !== 'insert')
        .map(s => s.insert)
        .join('')
    ).toBe('a cat\n');
    expect(
      segments
        .filter(s => s.kind !== 'delete')
        .map(s => s.insert)
        .join('')
    ).toBe('a dog\n');
  });

  it('keeps the formats of each side', () => {
    const from = new Delta().insert('cat', { italic: true }).insert('\n');
    const to = new Delta().insert('dog', { bold: true }).insert('\n');
    expect(diffSegments(from, to)).toEqual([
      { kind: 'delete', insert: 'cat', attributes: { italic: true } },
      { kind: 'insert', insert: 'dog', attributes: { bold: true } },
      { kind: 'equal', insert: '\n' }
    ]);
  });

  it('marks text whose formats changed, shown with the new ones', () => {
    const from = new Delta().insert('Title\n');
    const to = new Delta().insert('Title', { bold: true }).insert('\n');
    expect(diffSegments(from, to)).toEqual([
      { kind: 'format', insert: 'Title', attributes: { bold: true } },
      { kind: 'equal', insert: '\n' }
    ]);
  });

  it('marks a format removed', () => {
    const from = new Delta().insert('Title', { bold: true }).insert('\n');
    const to = new Delta().insert('Title\n');
    expect(diffSegments(from, to)).toEqual([
      { kind: 'format', insert: 'Title' },
      { kind: 'equal', insert: '\n' }
    ]);
  });

  it('joins neighbouring pieces that now look the same', () => {
    const from = new Delta()
      .insert('bold', { bold: true })
      .insert('italic', { italic: true })
      .insert('\n');
    const to = new Delta().insert('bolditalic\n');
    expect(diffSegments(from, to)).toEqual([
      { kind: 'format', insert: 'bolditalic' },
      { kind: 'equal', insert: '\n' }
    ]);
  });

  it('handles embeds as one character', () => {
    const image = { image: 'https://x/p.png' };
    const from = new Delta().insert('a').insert(image).insert('\n');
    const to = new Delta().insert('a\n');
    const segments = diffSegments(from, to);
    expect(segments).toEqual([
      { kind: 'equal', insert: 'a' },
      { kind: 'delete', insert: image },
      { kind: 'equal', insert: '\n' }
    ]);
    expect(diffStats(segments)).toEqual({
      inserted: 0,
      deleted: 1,
      reformatted: 0
    });
  });

  it('finds nothing between equal documents', () => {
    const document = new Delta().insert('Same\n');
    expect(diffSegments(document, document)).toEqual([
      { kind: 'equal', insert: 'Same\n' }
    ]);
  });
});

describe('diffStats', () => {
  it('counts the characters added, removed and reformatted', () => {
    const from = new Delta().insert('one two three\n');
    const to = new Delta()
      .insert('one ')
      .insert('three', { bold: true })
      .insert(' four\n');
    const stats = diffStats(diffSegments(from, to));
    expect(stats.inserted - stats.deleted).toBe(to.length() - from.length());
    expect(stats.deleted).toBeGreaterThan(0);
  });
});

describe('diffDocument', () => {
  it('marks changed text with the diff format, and keeps the rest', () => {
    const segments = diffSegments(
      new Delta().insert('a cat\n'),
      new Delta().insert('a dog\n')
    );
    expect(diffDocument(segments).ops).toEqual([
      { insert: 'a ' },
      { insert: 'cat', attributes: { [DIFF_FORMAT]: 'delete' } },
      { insert: 'dog', attributes: { [DIFF_FORMAT]: 'insert' } },
      { insert: '\n' }
    ]);
  });

  it('shows a changed line break as a marked pilcrow, keeping its line format', () => {
    const from = new Delta().insert('One\n');
    const to = new Delta()
      .insert('One')
      .insert('\n', { header: 2 })
      .insert('Two\n');
    const ops = diffDocument(diffSegments(from, to)).ops;
    expect(ops).toEqual([
      { insert: 'One' },
      { insert: '\n', attributes: { header: 2 } },
      {
        insert: `Two${LINE_BREAK_MARK}`,
        attributes: { [DIFF_FORMAT]: 'insert' }
      },
      { insert: '\n' }
    ]);
  });

  it('shows a reformatted line break without a pilcrow', () => {
    const from = new Delta().insert('Title\n');
    const to = new Delta().insert('Title').insert('\n', { header: 1 });
    expect(diffDocument(diffSegments(from, to)).ops).toEqual([
      { insert: 'Title' },
      { insert: '\n', attributes: { header: 1 } }
    ]);
  });

  it('marks a changed embed', () => {
    const image = { image: 'https://x/p.png' };
    const ops = diffDocument(
      diffSegments(
        new Delta().insert('a\n'),
        new Delta().insert('a').insert(image).insert('\n')
      )
    ).ops;
    expect(ops).toEqual([
      { insert: 'a' },
      { insert: image, attributes: { [DIFF_FORMAT]: 'insert' } },
      { insert: '\n' }
    ]);
  });
});
