import * as encoding from 'lib0/encoding';
import * as syncProtocol from 'y-protocols/sync';
import * as Y from 'yjs';

import { MessageType, syncStep1Message } from '../protocol';

/** The same message as y-websocket builds it, with lib0 and y-protocols. */
function reference(doc: Y.Doc): Uint8Array {
  const encoder = encoding.createEncoder();
  encoding.writeVarUint(encoder, MessageType.SYNC);
  syncProtocol.writeSyncStep1(encoder, doc);
  return encoding.toUint8Array(encoder);
}

describe('syncStep1Message', () => {
  it('is y-protocols’ sync step 1 for an empty document', () => {
    const doc = new Y.Doc();
    expect(syncStep1Message(Y.encodeStateVector(doc))).toEqual(reference(doc));
  });

  it('is y-protocols’ sync step 1 for a long state vector', () => {
    const doc = new Y.Doc();
    // Many clients: a state vector longer than 127 bytes (a two-byte length).
    for (let client = 0; client < 40; client++) {
      const other = new Y.Doc();
      other.clientID = 1000003 * (client + 1);
      other.getText('content').insert(0, 'x'.repeat(client + 1));
      Y.applyUpdate(doc, Y.encodeStateAsUpdate(other));
    }
    const stateVector = Y.encodeStateVector(doc);
    expect(stateVector.length).toBeGreaterThan(127);
    expect(syncStep1Message(stateVector)).toEqual(reference(doc));
  });
});
