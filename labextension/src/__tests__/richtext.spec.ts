import * as Y from 'yjs';

import {
  IDocumentEnds,
  endsWithNewline,
  finalNewlineFix,
  quillCanApply
} from '../richtext';

function newText(): Y.Text {
  return new Y.Doc().getText('content');
}

describe('endsWithNewline', () => {
  it('is false for an empty text', () => {
    expect(endsWithNewline(newText())).toBe(false);
  });

  it('reads the last character', () => {
    const text = newText();
    text.insert(0, 'Title');
    expect(endsWithNewline(text)).toBe(false);
    text.insert(5, '\n', { header: 1 });
    expect(endsWithNewline(text)).toBe(true);
    text.insert(6, 'Body');
    expect(endsWithNewline(text)).toBe(false);
  });

  it('skips the formats and deletions after the last character', () => {
    const text = newText();
    text.insert(0, 'Title\nquote\n');
    text.format(6, 6, { blockquote: true }); // format items around 'quote\n'
    expect(endsWithNewline(text)).toBe(true);
    text.insert(12, 'gone');
    text.delete(12, 4);
    expect(endsWithNewline(text)).toBe(true);
    text.delete(11, 1);
    expect(endsWithNewline(text)).toBe(false);
  });

  it('is false after an embed', () => {
    const text = newText();
    text.insert(0, 'Plot\n');
    text.insertEmbed(5, { image: 'https://example.com/plot.png' });
    expect(endsWithNewline(text)).toBe(false);
  });
});

describe('finalNewlineFix', () => {
  function ends(overrides: Partial<IDocumentEnds>): IDocumentEnds {
    return {
      textLength: 6,
      textEndsWithNewline: true,
      quillLength: 6,
      quillFinalNewline: {},
      ...overrides
    };
  }

  it.each([true, false])(
    'changes nothing when Quill shows the text (local: %j)',
    local => {
      // 'Title\n': Quill's final newline is the text's.
      expect(
        finalNewlineFix(ends({ quillFinalNewline: { header: 1 } }), local)
      ).toBeNull();
      // 'Title': Quill adds a plain final newline.
      expect(
        finalNewlineFix(
          ends({ textLength: 5, textEndsWithNewline: false }),
          local
        )
      ).toBeNull();
      // An empty text: Quill's empty line.
      expect(
        finalNewlineFix(
          ends({ textLength: 0, textEndsWithNewline: false, quillLength: 1 }),
          local
        )
      ).toBeNull();
    }
  );

  it('drops the extra empty line after a remote change ended the text with a newline', () => {
    // 'Title\n' arrived in an editor opened on an empty room: 'Title\n\n'.
    expect(finalNewlineFix(ends({ quillLength: 7 }), false)).toEqual({
      kind: 'dropLastLine'
    });
  });

  it('stores the new last line of a local edit', () => {
    // Enter at the end of 'Title': Quill shows 'Title\n\n', the text 'Title\n'.
    expect(finalNewlineFix(ends({ quillLength: 7 }), true)).toEqual({
      kind: 'store',
      attributes: {}
    });
  });

  it('stores the line format set locally on the implicit final newline', () => {
    const header = ends({
      textLength: 5,
      textEndsWithNewline: false,
      quillFinalNewline: { header: 2 }
    });
    expect(finalNewlineFix(header, true)).toEqual({
      kind: 'store',
      attributes: { header: 2 }
    });
    // After a remote change, the format is one the text no longer holds.
    expect(finalNewlineFix(header, false)).toEqual({
      kind: 'clearFormat',
      attributes: { header: null }
    });
  });

  it('leaves alone ends it cannot account for', () => {
    expect(finalNewlineFix(ends({ quillLength: 9 }), false)).toBeNull();
    expect(finalNewlineFix(ends({ quillLength: 4 }), true)).toBeNull();
  });
});

describe('quillCanApply', () => {
  it("keeps the deletes that stop before Quill's final newline", () => {
    const delta = [{ retain: 5 }, { delete: 5 }, { insert: 'x' }];
    expect(quillCanApply(delta, 11)).toEqual(delta);
  });

  it("stops a delete before Quill's final newline", () => {
    // 'Title\nBody\n' loses '\nBody\n'.
    expect(quillCanApply([{ retain: 5 }, { delete: 6 }], 11)).toEqual([
      { retain: 5 },
      { delete: 5 }
    ]);
    // 'Title\n' loses everything, and gets words in its place.
    expect(
      quillCanApply([{ delete: 6 }, { insert: 'New', attributes: {} }], 6)
    ).toEqual([{ delete: 5 }, { insert: 'New', attributes: {} }]);
  });

  it('drops a delete of the final newline alone', () => {
    expect(
      quillCanApply(
        [{ retain: 2, attributes: { bold: true } }, { delete: 1 }],
        3
      )
    ).toEqual([{ retain: 2, attributes: { bold: true } }]);
  });

  it('counts positions in the document before the change', () => {
    const delta = [{ insert: 'ab' }, { retain: 1 }, { delete: 2 }];
    expect(quillCanApply(delta, 3)).toEqual([
      { insert: 'ab' },
      { retain: 1 },
      { delete: 1 }
    ]);
  });
});
