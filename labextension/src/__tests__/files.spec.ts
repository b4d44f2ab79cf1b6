import {
  DirtyState,
  IFileState,
  InvalidFileInfo,
  encodePath,
  fileStateLabel,
  fileUrl,
  findFileState,
  isFileState,
  parseFileInfo,
  parseFileState,
  roomActionUrl
} from '../files';

const ANSWER = {
  room: 'file:3f2a',
  path: 'notes/report.md',
  file_id: '3f2a',
  format: 'markdown',
  writable: true,
  dirty: false,
  last_saved: '2025-01-31T10:00:00Z'
};

function serverState(file: Record<string, unknown>): unknown {
  return {
    kind: 'file',
    file: {
      path: 'notes/report.md',
      dirty: false,
      last_saved: null,
      writable: true,
      state: 'saved',
      ...file
    }
  };
}

describe('encodePath', () => {
  it('percent-encodes each segment, as the contents API does', () => {
    expect(encodePath('notes/Q1 report#2?.md')).toBe(
      'notes/Q1%20report%232%3F.md'
    );
  });

  it('drops leading, trailing and doubled slashes', () => {
    expect(encodePath('/notes//report.md/')).toBe('notes/report.md');
  });

  it('keeps non-ASCII names readable by the server', () => {
    expect(decodeURIComponent(encodePath('été/ñ.md'))).toBe('été/ñ.md');
  });
});

describe('fileUrl', () => {
  it.each([['http://host/base/'], ['http://host/base']])(
    'joins the files route to %s',
    base => {
      expect(fileUrl(base, 'notes/a b.md')).toBe(
        'http://host/base/ysync/files/notes/a%20b.md'
      );
    }
  );
});

describe('roomActionUrl', () => {
  it.each<['save' | 'revert']>([['save'], ['revert']])(
    'names the room and the %s action',
    action => {
      expect(roomActionUrl('http://host/', 'file:3f2a', action)).toBe(
        `http://host/ysync/rooms/file%3A3f2a/${action}`
      );
    }
  );
});

describe('parseFileInfo', () => {
  it('reads the contract', () => {
    expect(parseFileInfo(ANSWER)).toEqual({
      room: 'file:3f2a',
      path: 'notes/report.md',
      fileId: '3f2a',
      format: 'markdown',
      writable: true,
      dirty: false,
      lastSaved: '2025-01-31T10:00:00Z'
    });
  });

  it('takes a file never saved, and HTML', () => {
    const info = parseFileInfo({ ...ANSWER, format: 'html', last_saved: null });
    expect(info.format).toBe('html');
    expect(info.lastSaved).toBeNull();
  });

  it.each([
    ['room', ''],
    ['format', 'rst'],
    ['writable', 'yes'],
    ['dirty', undefined],
    ['last_saved', 12]
  ])('names the bad field %s', (name, value) => {
    const call = (): unknown => parseFileInfo({ ...ANSWER, [name]: value });
    expect(call).toThrow(InvalidFileInfo);
    expect(call).toThrow(new RegExp(`${name} is`));
  });

  it.each([[null], [[]], ['room']])('refuses %p', data => {
    expect(() => parseFileInfo(data)).toThrow(InvalidFileInfo);
  });
});

describe('parseFileState', () => {
  it('reads the server state', () => {
    expect(
      parseFileState(serverState({ dirty: true, state: 'unsaved' }))
    ).toEqual({
      path: 'notes/report.md',
      dirty: true,
      lastSaved: null,
      writable: true,
      state: 'unsaved'
    });
  });

  it.each([
    [{ user: { name: 'Ada' } }],
    [{ kind: 'kernel', user: { name: 'kernel' } }],
    [{ kind: 'file' }],
    [{ kind: 'file', file: null }],
    [serverState({ state: 'lost' })],
    [serverState({ dirty: 'no' })],
    [null]
  ])('ignores %p', state => {
    expect(parseFileState(state)).toBeNull();
  });

  it('tells file states from peers', () => {
    expect(isFileState(serverState({}))).toBe(true);
    expect(isFileState({ user: { name: 'Ada' } })).toBe(false);
    expect(isFileState(null)).toBe(false);
  });
});

describe('findFileState', () => {
  it('finds the server state among the peers', () => {
    const states = new Map<number, unknown>([
      [1, { user: { name: 'Ada' } }],
      [7, serverState({ state: 'deleted' })]
    ]);
    expect(findFileState(states)?.state).toBe('deleted');
  });

  it('is null while the server published none', () => {
    expect(findFileState(new Map([[1, { user: {} }]]))).toBeNull();
  });
});

describe('fileStateLabel', () => {
  it.each<[IFileState['state'], string]>([
    ['saved', 'saved'],
    ['unsaved', 'unsaved changes'],
    ['deleted', 'file deleted']
  ])('says %s as %s', (state, words) => {
    expect(fileStateLabel(state, { __: (message: string) => message })).toBe(
      words
    );
  });
});

describe('DirtyState', () => {
  const T0 = '2025-01-31T10:00:00Z';
  const T1 = '2025-01-31T10:00:05Z';
  const saved = { dirty: false, lastSaved: T0, state: 'saved' as const };
  const unsaved = { dirty: true, lastSaved: T0, state: 'unsaved' as const };

  it('starts from the server description', () => {
    expect(new DirtyState({ dirty: true, lastSaved: null }).dirty).toBe(true);
    expect(new DirtyState({ dirty: false, lastSaved: T0 }).dirty).toBe(false);
  });

  it('is dirty at once after a local edit', () => {
    const state = new DirtyState({ dirty: false, lastSaved: T0 });
    state.localEdit();
    expect(state.dirty).toBe(true);
  });

  it('keeps a local edit the server has not reported yet', () => {
    const state = new DirtyState({ dirty: false, lastSaved: T0 });
    state.localEdit();
    // A state the server published before the edit reached it.
    state.serverState(saved);
    expect(state.dirty).toBe(true);
  });

  it('follows the server once it reported the edit, until it saved', () => {
    const state = new DirtyState({ dirty: false, lastSaved: T0 });
    state.localEdit();
    state.serverState(unsaved);
    expect(state.dirty).toBe(true);
    state.serverState({ dirty: false, lastSaved: T1, state: 'saved' });
    expect(state.dirty).toBe(false);
    expect(state.lastSaved).toBe(T1);
  });

  it('counts a save that followed the edit (autosave before any report)', () => {
    const state = new DirtyState({ dirty: false, lastSaved: T0 });
    state.localEdit();
    state.serverState({ dirty: false, lastSaved: T1, state: 'saved' });
    expect(state.dirty).toBe(false);
  });

  it('is clean after a save that covers every edit', () => {
    const state = new DirtyState({ dirty: true, lastSaved: T0 });
    state.localEdit();
    const mark = state.beginSave();
    state.endSave(mark, { dirty: false, lastSaved: T1 });
    expect(state.dirty).toBe(false);
  });

  it('stays dirty for an edit made while saving', () => {
    const state = new DirtyState({ dirty: true, lastSaved: T0 });
    const mark = state.beginSave();
    state.localEdit();
    state.endSave(mark, { dirty: false, lastSaved: T1 });
    expect(state.dirty).toBe(true);
    state.serverState({ dirty: true, lastSaved: T1, state: 'unsaved' });
    state.serverState({
      dirty: false,
      lastSaved: '2025-01-31T10:00:09Z',
      state: 'saved'
    });
    expect(state.dirty).toBe(false);
  });

  it('takes the server answer when it says the room is still dirty', () => {
    const state = new DirtyState();
    const mark = state.beginSave();
    state.endSave(mark, { dirty: true, lastSaved: T1 });
    expect(state.dirty).toBe(true);
  });

  it('is never dirty once the file is deleted', () => {
    const state = new DirtyState({ dirty: true, lastSaved: T0 });
    state.localEdit();
    state.serverState({ dirty: true, lastSaved: T0, state: 'deleted' });
    expect(state.deleted).toBe(true);
    expect(state.dirty).toBe(false);
    const closed = new DirtyState({ dirty: true, lastSaved: T0 });
    closed.fileDeleted();
    expect(closed.dirty).toBe(false);
  });
});
