/**
 * Collaborative undo for Quill: a `Y.UndoManager` replaces Quill's `history`
 * module, so that undo and redo only ever touch this peer's own edits, and
 * put the caret back where the undone change was.
 */

import Quill from 'quill';
import * as Y from 'yjs';

/** The undo manager's stack items, as far as the caret restore reads them. */
interface IStackItemEvent {
  stackItem: { meta: Map<string, unknown> };
}

/**
 * Quill's `history` module replaced by a `Y.UndoManager`: Quill's own history
 * would undo remote peers' edits too. Quill always instantiates a module named
 * `history` and calls `clear()`/`cutoff()` on it, so this keeps that surface.
 *
 * ```ts
 * Quill.register('modules/history', YjsHistory, true);
 * const quill = new Quill(host);
 * const undoManager = new Y.UndoManager(text, { trackedOrigins: new Set([binding]) });
 * (quill.getModule('history') as YjsHistory).attach(undoManager, text);
 * ```
 */
export class YjsHistory {
  static DEFAULTS = {};

  constructor(readonly quill: Quill) {
    const undo = (): void => this.undo();
    const redo = (): void => this.redo();
    // Handlers returning nothing make Quill prevent the browser's own undo.
    quill.keyboard.addBinding({ key: 'z', shortKey: true }, undo);
    quill.keyboard.addBinding(
      { key: ['z', 'Z'], shortKey: true, shiftKey: true },
      redo
    );
    quill.keyboard.addBinding({ key: 'y', shortKey: true }, redo);
    // Edit menu / touch-bar undo arrive as `beforeinput`, not as keys.
    quill.root.addEventListener('beforeinput', (event: InputEvent) => {
      if (event.inputType === 'historyUndo') {
        event.preventDefault();
        this.undo();
      } else if (event.inputType === 'historyRedo') {
        event.preventDefault();
        this.redo();
      }
    });
  }

  /**
   * Start delegating to `undoManager`, which tracks `text` (it needs the
   * binding, created after Quill), and restoring the caret on undo and redo.
   */
  attach(undoManager: Y.UndoManager, text: Y.Text): void {
    this.detach();
    this._undoManager = undoManager;
    this._text = text;
    undoManager.on('stack-item-added', this._onStackItemAdded);
    undoManager.on('stack-item-popped', this._onStackItemPopped);
  }

  /** Stop delegating: undo and redo do nothing until the next `attach`. */
  detach(): void {
    this._undoManager?.off('stack-item-added', this._onStackItemAdded);
    this._undoManager?.off('stack-item-popped', this._onStackItemPopped);
    this._undoManager = null;
    this._text = null;
  }

  undo(): void {
    this._undoManager?.undo();
  }

  redo(): void {
    this._undoManager?.redo();
  }

  clear(): void {
    this._undoManager?.clear();
  }

  cutoff(): void {
    this._undoManager?.stopCapturing();
  }

  /**
   * Take back every local edit still on the undo stack and forget them, e.g.
   * once the server said none of them were kept: the editor then shows the
   * room as it is.
   */
  discardLocalChanges(): void {
    const undoManager = this._undoManager;
    if (!undoManager) {
      return;
    }
    while (undoManager.undoStack.length > 0) {
      undoManager.undo();
    }
    undoManager.clear();
  }

  /** Remember where the caret was, so undo/redo puts it back near the change. */
  private _onStackItemAdded = ({ stackItem }: IStackItemEvent): void => {
    const range = this.quill.getSelection();
    if (range && this._text && !stackItem.meta.has('caret')) {
      stackItem.meta.set(
        'caret',
        Y.createRelativePositionFromTypeIndex(this._text, range.index)
      );
    }
  };

  private _onStackItemPopped = ({ stackItem }: IStackItemEvent): void => {
    const text = this._text;
    const caret = stackItem.meta.get('caret') as Y.RelativePosition | undefined;
    const position =
      caret &&
      text?.doc &&
      Y.createAbsolutePositionFromRelativePosition(caret, text.doc);
    if (position && position.type === text) {
      this.quill.setSelection(position.index, 0, 'user');
    }
  };

  private _undoManager: Y.UndoManager | null = null;
  private _text: Y.Text | null = null;
}
