/**
 * RichTextBinding: y-quill's binding of a Quill editor to the room's `Y.Text`,
 * kept to the final-newline contract (`richtext.ts`, stated in `RichText.delta`).
 */

import type Quill from 'quill';
import type { EmitterSource } from 'quill';
import { QuillBinding } from 'y-quill';
import type { Awareness } from 'y-protocols/awareness';
import * as Y from 'yjs';

import {
  FinalNewlineFix,
  endsWithNewline,
  finalNewlineFix,
  quillCanApply
} from './richtext';

/**
 * y-quill's `QuillBinding`, after which Quill shows the text with the final
 * newline every peer shows (`RichText.delta` in Python).
 *
 * y-quill applies every change verbatim to the other side, and on load shows
 * the text as the contract says. But Quill always ends with a newline, which
 * the text may lack: a change to the end of the text (a peer writing
 * `'Title\n'` into an empty room or deleting the final newline, this user
 * pressing Enter at the end of a text without one) leaves Quill with one line
 * more than the text, with a line format the text does not hold, or, asked
 * to delete its final newline, without its last line's text. This binding
 * hands y-quill remote changes Quill can apply (`quillCanApply`), then mends
 * the end (`finalNewlineFix`): on Quill after a remote change, on the text
 * after a local one. So every editor, however long open, and every Python
 * peer show the same document.
 *
 * ```ts
 * const binding = new RichTextBinding(doc.getText(ROOT_TEXT), quill, awareness);
 * const undoManager = new Y.UndoManager(binding.type, { trackedOrigins: new Set([binding]) });
 * binding.destroy();
 * ```
 */
export class RichTextBinding extends QuillBinding {
  constructor(text: Y.Text, quill: Quill, awareness?: Awareness) {
    super(text, quill, awareness);
    // y-quill's observer, which applies remote changes to Quill, is wrapped
    // in place: `destroy()` removes the wrapper.
    const applyRemote = this._typeObserver;
    text.unobserve(applyRemote);
    this._typeObserver = (event: Y.YTextEvent): void => {
      const local = event.transaction.origin === this;
      if (!local) {
        const delta = quillCanApply(event.delta, this.quill.getLength());
        applyRemote({ delta, transaction: event.transaction } as Y.YTextEvent);
      }
      this._keepFinalNewline(local);
    };
    text.observe(this._typeObserver);
  }

  declare quill: Quill;

  /** After a change of the text, mend the end of the side that did not make it. */
  private _keepFinalNewline(local: boolean): void {
    const quill = this.quill;
    const quillLength = quill.getLength();
    if (quillLength !== this.type.length + 1) {
      // Quill's final newline is the text's: the usual case, decided
      // without walking the text.
      return;
    }
    const fix = finalNewlineFix(
      {
        textLength: this.type.length,
        textEndsWithNewline: endsWithNewline(this.type),
        quillLength,
        quillFinalNewline:
          quill.getContents(quillLength - 1, 1).ops[0]?.attributes ?? {}
      },
      local
    );
    if (fix !== null) {
      this._apply(fix, quillLength);
    }
  }

  private _apply(fix: FinalNewlineFix, quillLength: number): void {
    if (fix.kind === 'store') {
      // Origin `this`: undone with the edit that needed it, by this editor's
      // undo manager, and not applied back to Quill.
      this.doc.transact(() => {
        this.type.insert(this.type.length, '\n', fix.attributes);
      }, this);
      return;
    }
    // With the binding as source, y-quill does not write this to the text;
    // Quill moves the selection through the change, as for any remote one.
    const source = this as unknown as EmitterSource;
    const last = { retain: quillLength - 1 };
    if (fix.kind === 'dropLastLine') {
      this.quill.updateContents([last, { delete: 1 }], source);
    } else {
      this.quill.updateContents(
        [last, { retain: 1, attributes: fix.attributes }],
        source
      );
    }
  }
}
