import { readFileSync } from 'fs';
import { join } from 'path';

import {
  CloseCode,
  InvalidRoomName,
  ROOM_NAME_PATTERN,
  ROOT_TEXT,
  ROOMS_ROUTE,
  ROOM_NAME_RULE,
  validateRoomName
} from '../protocol';

/** The Python twin, `jupyter_ysync/protocol.py`. */
const PROTOCOL_PY = readFileSync(
  join(__dirname, '..', '..', '..', 'jupyter_ysync', 'protocol.py'),
  'utf-8'
);

describe('validateRoomName', () => {
  it.each([
    'notes',
    'team:plan',
    'a',
    'A-Z_a.z~0:9',
    '.hidden',
    'x'.repeat(128)
  ])('accepts %j', name => {
    expect(validateRoomName(name)).toBe(name);
  });

  it('trims surrounding spaces first', () => {
    expect(validateRoomName('  team:plan \t')).toBe('team:plan');
  });

  it.each([
    ['empty', ''],
    ['only spaces', '   '],
    ['a dot', '.'],
    ['two dots', '..'],
    ['only dots', '.....'],
    ['too long', 'x'.repeat(129)],
    ['an inner space', 'my notes'],
    ['a slash', 'a/b'],
    ['a non-ASCII letter', 'café'],
    ['a percent sign', 'a%20b']
  ])('refuses %s', (_, name) => {
    expect(() => validateRoomName(name)).toThrow(InvalidRoomName);
  });

  it('names the refused value and the rule', () => {
    expect(() => validateRoomName('a/b')).toThrow(
      'Invalid room name "a/b": use 1-128 characters of A-Z a-z 0-9 . _ - ~ : ' +
        "(not only dots), for example 'notes' or 'team:plan'."
    );
  });

  it('refuses what is not a string', () => {
    expect(() => validateRoomName(undefined as unknown as string)).toThrow(
      InvalidRoomName
    );
  });

  it('keeps the refused value on the error', () => {
    try {
      validateRoomName('..');
      throw new Error('not refused');
    } catch (error) {
      expect((error as InvalidRoomName).roomName).toBe('..');
      expect((error as InvalidRoomName).name).toBe('InvalidRoomName');
    }
  });
});

describe('the contract with protocol.py', () => {
  it('names the root text and the route', () => {
    expect(ROOT_TEXT).toBe('content');
    expect(ROOMS_ROUTE).toBe('ysync/rooms');
  });

  it('anchors the pattern', () => {
    expect(ROOM_NAME_PATTERN.test('ok')).toBe(true);
    expect(ROOM_NAME_PATTERN.test('ok/..')).toBe(false);
  });

  it('has the close codes of protocol.py', () => {
    const body = /class CloseCode\(IntEnum\):([\s\S]*?)\n(?:\S|$)/.exec(
      PROTOCOL_PY
    );
    expect(body).not.toBeNull();
    const python = Object.fromEntries(
      [...body![1].matchAll(/^\s+([A-Z_]+) = (\d+)$/gm)].map(
        ([, name, code]) => [name, Number(code)]
      )
    );
    const typescript = Object.fromEntries(
      Object.entries(CloseCode).filter(([, code]) => typeof code === 'number')
    );
    expect(typescript).toEqual(python);
  });

  it('states the room-name rule as protocol.py does', () => {
    expect(PROTOCOL_PY).toContain(`ROOM_NAME_RULE = "${ROOM_NAME_RULE}"`);
  });

  it('has these close codes', () => {
    expect(CloseCode).toMatchObject({
      NORMAL: 1000,
      GOING_AWAY: 1001,
      PROTOCOL_ERROR: 1002,
      MESSAGE_TOO_BIG: 1009,
      INTERNAL_ERROR: 1011,
      TRY_AGAIN_LATER: 1013,
      MALFORMED: 4400,
      NOT_AUTHENTICATED: 4401,
      FORBIDDEN: 4403,
      ROOM_DELETED: 4404,
      TOO_SLOW: 4408,
      FILE_GONE: 4410,
      TOO_LARGE: 4413
    });
  });
});
