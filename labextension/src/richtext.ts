/**
 * The room's text as Quill shows it (twin of `jupyter_ysync/richtext/`): the
 * final-newline contract, and what an editor does to keep to it. Pure: Yjs
 * only, no Quill and no DOM; `binding.ts` applies it to a Quill editor.
 *
 * The contract is stated once, in `RichText.delta`
 * (`jupyter_ysync/richtext/_text.py`): the `Y.Text` is the document, and
 * every peer shows it with one final newline, the text's own when it ends
 * with `\n`, else an implicit plain one. Quill always ends with a newline,
 * and cannot delete it: `quillCanApply` keeps a remote change from trying.
 * What changes the end of the text (a remote write, an undo, a local Enter)
 * may leave an open editor with one newline more than the text or with the
 * line format of a newline the text no longer has. `finalNewlineFix` says
 * which side to mend: a local edit is what the user sees, so the text follows
 * Quill; a remote change is the document, so Quill follows the text.
 */

import * as Y from 'yjs';

/** Attributes of a delta op: formats, `null` removing one. */
export type Attributes = Record<string, unknown>;

/** One op of a delta, as Yjs text events and Quill list them. */
export interface IDeltaOp {
  insert?: unknown;
  retain?: number;
  delete?: number;
  attributes?: Attributes;
}

/**
 * A change of the text as Quill can apply it: a delete that reaches Quill's
 * final newline stops before it.
 *
 * Asked to delete its final newline with the newline before it (a peer
 * deleting `'\nBody\n'` from `'Title\nBody\n'`), Quill loses the text of
 * the line left, `'Title'`. Kept, the final newline shows the text's new end
 * once `finalNewlineFix` has mended its line format or dropped it.
 *
 * @param delta The change, from the text's `YTextEvent`.
 * @param quillLength Quill's length before the change.
 */
export function quillCanApply(
  delta: IDeltaOp[],
  quillLength: number
): IDeltaOp[] {
  let index = 0; // in the document before the change
  const ops: IDeltaOp[] = [];
  for (const op of delta) {
    if (op.delete !== undefined) {
      index += op.delete;
      const count = index === quillLength ? op.delete - 1 : op.delete;
      if (count > 0) {
        ops.push({ delete: count });
      }
    } else {
      index += op.retain ?? 0;
      ops.push(op);
    }
  }
  return ops;
}

/**
 * Whether `text` ends with a newline (an embed or nothing is no newline).
 *
 * ```ts
 * text.insert(0, 'Title\n', { header: 1 });
 * endsWithNewline(text); // true
 * ```
 */
export function endsWithNewline(text: Y.Text): boolean {
  // Walks the item list (no string is built): format items and deleted
  // items may follow the last character.
  let last: Y.Item | null = null;
  for (let item = text._start; item !== null; item = item.right) {
    if (!item.deleted && item.countable) {
      last = item;
    }
  }
  return (
    last !== null &&
    last.content instanceof Y.ContentString &&
    last.content.str.endsWith('\n')
  );
}

/** The two ends to compare: the text's and the editor's. */
export interface IDocumentEnds {
  /** The text's length, in Quill's units (UTF-16, 1 per embed). */
  textLength: number;
  /** Whether the text ends with a newline (`endsWithNewline`). */
  textEndsWithNewline: boolean;
  /** Quill's length, its final newline included (`quill.getLength()`). */
  quillLength: number;
  /** The attributes of Quill's final newline: the last line's format. */
  quillFinalNewline: Attributes;
}

/** What puts an editor back under the contract. */
export type FinalNewlineFix =
  /** Store Quill's final newline, with `attributes`, at the end of the text. */
  | { kind: 'store'; attributes: Attributes }
  /** Remove Quill's last line, an empty one the text does not have. */
  | { kind: 'dropLastLine' }
  /** Clear the line format of Quill's final newline, implicit in the text. */
  | { kind: 'clearFormat'; attributes: Attributes };

/**
 * What to change after a change of the text, for Quill to show the text
 * under the final-newline contract; `null` when it already does.
 *
 * Both sides hold the same content up to the text's end, as the binding
 * applies every change to both; only Quill's final newline may be extra.
 *
 * @param ends The text's and the editor's ends, after the change.
 * @param local The change came from this editor: the text follows Quill
 *   (`store`). Otherwise Quill follows the text (`dropLastLine`, `clearFormat`).
 *
 * ```ts
 * // Python appended 'Notes\n' to a text without a final newline: Quill
 * // shows its implicit newline after the text's own.
 * finalNewlineFix(
 *   { textLength: 12, textEndsWithNewline: true, quillLength: 13, quillFinalNewline: {} },
 *   false
 * ); // { kind: 'dropLastLine' }
 * ```
 */
export function finalNewlineFix(
  ends: IDocumentEnds,
  local: boolean
): FinalNewlineFix | null {
  const formats = Object.keys(ends.quillFinalNewline);
  const implicit =
    ends.quillLength === ends.textLength + 1 &&
    !ends.textEndsWithNewline &&
    formats.length === 0;
  if (ends.quillLength !== ends.textLength + 1 || implicit) {
    // Quill's final newline is the text's, or the implicit plain one.
    return null;
  }
  if (local) {
    return { kind: 'store', attributes: { ...ends.quillFinalNewline } };
  }
  if (ends.textEndsWithNewline) {
    return { kind: 'dropLastLine' };
  }
  return {
    kind: 'clearFormat',
    attributes: Object.fromEntries(formats.map(name => [name, null]))
  };
}
