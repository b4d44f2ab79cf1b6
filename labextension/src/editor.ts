/**
 * YEditor: a Quill 2 editor bound to a room's shared `Y.Text` over the
 * Jupyter server's room websocket, with remote carets, presence and a
 * collaborative (per-peer) undo.
 *
 * The widget view and the main-area panel both host this class; swapping the
 * editor (e.g. for Tiptap) only touches this file.
 */

import { InputDialog, Notification } from '@jupyterlab/apputils';
import { ServerConnection } from '@jupyterlab/services';
import { IDisposable } from '@lumino/disposable';
import { ISignal, Signal } from '@lumino/signaling';
import Quill from 'quill';
import QuillCursors from 'quill-cursors';
import * as authProtocol from 'y-protocols/auth';
import { QuillBinding } from 'y-quill';
import { WebsocketProvider, messageAuth } from 'y-websocket';
import * as Y from 'yjs';

import { IUser, anonymousUser } from './identity';

/** The room's root `Y.Text`, shared with the server and the Python peers. */
export const ROOT_TEXT = 'content';

/** The websocket route under the server's base URL; the room name follows. */
export const ROOMS_ROUTE = 'ysync/rooms';

/**
 * Room names: the same rule as `jupyter_ysync.protocol.validate_room_name`,
 * 1-128 characters of `A-Z a-z 0-9 . _ - ~ :`, not only dots ("." and ".."
 * would be rewritten by URL normalisation).
 */
export const ROOM_NAME_PATTERN = /^(?!\.+$)[A-Za-z0-9._~:-]{1,128}$/;

/**
 * Return `name` if it is a valid room name.
 *
 * @throws Error naming the bad value and the rule it breaks.
 */
export function validateRoomName(name: string): string {
  if (!ROOM_NAME_PATTERN.test(name)) {
    throw new Error(
      `Invalid room name ${JSON.stringify(name)}: use 1-128 characters of ` +
        'A-Z a-z 0-9 . _ - ~ : (not only dots), ' +
        "for example 'notes' or 'team:plan'."
    );
  }
  return name;
}

/** The connection state, as shown in the status line and the widget's `status` trait. */
export type ConnectionStatus =
  'connecting' | 'connected' | 'synced' | 'disconnected';

/** One peer in the room, from its awareness state. */
export interface IPeer {
  readonly clientId: number;
  readonly name: string;
  readonly color: string;
  readonly isLocal: boolean;
}

/** The awareness state fields this editor reads. */
interface IAwarenessState {
  user?: Partial<IUser>;
}

/** How long a remote caret's name stays shown after it moved, in ms. */
const NAME_FLAG_MS = 2500;

/** Toolbar: the formats of the document schema (see DESIGN.md). */
const TOOLBAR = [
  [{ header: [1, 2, 3, false] }],
  ['bold', 'italic', 'underline', 'strike', 'code'],
  [{ color: [] as string[] }, { align: [] as string[] }],
  [{ list: 'ordered' }, { list: 'bullet' }, 'blockquote', 'code-block'],
  ['link', 'image'],
  ['clean']
];

/**
 * Quill's `history` module replaced by a `Y.UndoManager`: Quill's own history
 * would undo remote peers' edits too. Quill always instantiates a module named
 * `history` and calls `clear()`/`cutoff()` on it, so this keeps that surface.
 */
class YjsHistory {
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

  /** Start delegating to `undoManager` (it needs the binding, created after Quill). */
  attach(undoManager: Y.UndoManager): void {
    this._undoManager = undoManager;
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

  private _undoManager: Y.UndoManager | null = null;
}

// Quill is bundled in this extension only, so registering globally is safe.
Quill.register('modules/cursors', QuillCursors, true);
Quill.register('modules/history', YjsHistory, true);

/**
 * A collaborative rich-text editor on one room.
 *
 * ```ts
 * const editor = new YEditor({ room: 'notes', user: { name: 'Ada', color: '#e67e22' } });
 * host.appendChild(editor.node);
 * editor.statusChanged.connect((_, status) => console.log(status));
 * editor.dispose();
 * ```
 */
export class YEditor implements IDisposable {
  constructor(options: YEditor.IOptions) {
    this.room = validateRoomName(options.room);
    this.doc = new Y.Doc();
    this.text = this.doc.getText(ROOT_TEXT);

    this.node = document.createElement('div');
    this.node.className = 'jp-ysync-editor';
    const host = document.createElement('div');
    host.className = 'jp-ysync-quill';
    this.node.appendChild(host);
    this._statusNode = document.createElement('div');
    this._statusNode.className = 'jp-ysync-status';

    this.quill = new Quill(host, {
      theme: 'snow',
      bounds: this.node,
      placeholder: options.placeholder ?? '',
      modules: {
        // y-quill moves remote carets from their Yjs relative positions on
        // every change; quill-cursors' own transform would shift them twice.
        cursors: { transformOnTextChange: false },
        toolbar: {
          container: TOOLBAR,
          handlers: { image: () => void this._insertImage() }
        },
        // Pasted or dropped image files would be inlined as data URLs,
        // bloating every replica and possibly exceeding the server's message
        // size limit; images are embedded by URL instead.
        uploader: { handler: () => this._refuseUpload() }
      }
    });
    // Quill inserts the toolbar before its container, inside `node`.
    this.node.appendChild(this._statusNode);

    const settings = options.serverSettings ?? ServerConnection.makeSettings();
    this.provider = new WebsocketProvider(
      settings.wsUrl + ROOMS_ROUTE,
      this.room,
      this.doc,
      {
        params: settings.token ? { token: settings.token } : {},
        // Every update goes through the server, the room's hub: it enforces
        // read-only access and stores history, which cross-tab
        // BroadcastChannel sync would bypass.
        disableBc: true,
        // Join only once peers can be told who we are (see below).
        connect: false
      }
    );
    // y-websocket only logs the server's permission-denied message (sent
    // once, when a read-only peer tries to write): show it instead.
    this.provider.messageHandlers[messageAuth] = (_encoder, decoder) =>
      authProtocol.readAuthMessage(decoder, this.doc, (_doc, reason) =>
        this._onPermissionDenied(reason)
      );
    void Promise.resolve(options.user ?? anonymousUser())
      .catch(() => anonymousUser())
      .then(user => {
        if (!this._isDisposed) {
          this.setUser(user);
          this.provider.connect();
        }
      });

    this._binding = new QuillBinding(
      this.text,
      this.quill,
      this.provider.awareness
    );
    this.undoManager = new Y.UndoManager(this.text, {
      trackedOrigins: new Set([this._binding])
    });
    (this.quill.getModule('history') as YjsHistory).attach(this.undoManager);
    this.undoManager.on('stack-item-added', this._onStackItemAdded);
    this.undoManager.on('stack-item-popped', this._onStackItemPopped);

    this.node.addEventListener('keydown', this._onKeydown);
    this.provider.on('status', this._onStatus);
    this.provider.on('sync', this._onSync);
    this.provider.on('closed', this._onClosed);
    this.provider.awareness.on('change', this._onAwarenessChange);

    this.setReadOnly(options.readOnly ?? false);
    this.setToolbar(options.toolbar ?? true);
    this.setHeight(options.height ?? '');
    this._renderStatus();
  }

  /** The room name. */
  readonly room: string;
  /** The editor's root element (class `jp-ysync-editor`); the host attaches it. */
  readonly node: HTMLDivElement;
  /** This peer's replica of the room. */
  readonly doc: Y.Doc;
  /** The room's root text, `content`. */
  readonly text: Y.Text;
  readonly quill: Quill;
  readonly provider: WebsocketProvider;
  /** Undoes this peer's own edits only. */
  readonly undoManager: Y.UndoManager;

  /** The connection state. */
  get status(): ConnectionStatus {
    return this._status;
  }

  /** Emitted when `status` changes. */
  get statusChanged(): ISignal<this, ConnectionStatus> {
    return this._statusChanged;
  }

  /** Everyone in the room, this peer first. */
  get peers(): IPeer[] {
    const local = this.doc.clientID;
    const peers: IPeer[] = [];
    this.provider.awareness.getStates().forEach((state, clientId) => {
      const user = (state as IAwarenessState).user ?? {};
      peers.push({
        clientId,
        name: typeof user.name === 'string' ? user.name : `Peer ${clientId}`,
        color: typeof user.color === 'string' ? user.color : '#888888',
        isLocal: clientId === local
      });
    });
    return peers.sort((a, b) => Number(b.isLocal) - Number(a.isLocal));
  }

  /** Emitted when peers join, leave or change their name or colour. */
  get peersChanged(): ISignal<this, IPeer[]> {
    return this._peersChanged;
  }

  get readOnly(): boolean {
    return this._readOnly;
  }

  get isDisposed(): boolean {
    return this._isDisposed;
  }

  /**
   * Allow or forbid local edits; a read-only editor has no toolbar. Edits
   * stay forbidden once the server said this peer may only read.
   */
  setReadOnly(readOnly: boolean): void {
    this._readOnly = readOnly;
    const locked = readOnly || this._writeDenied !== null;
    this.quill.enable(!locked);
    // Still focusable, to select and copy, and so that keys go to the editor
    // rather than to the notebook around it (see `_onKeydown`).
    if (locked) {
      this.quill.root.tabIndex = 0;
    } else {
      this.quill.root.removeAttribute('tabindex');
    }
    this.node.classList.toggle('jp-mod-readOnly', locked);
    this._updateToolbar();
    this._renderStatus();
  }

  setToolbar(visible: boolean): void {
    this._toolbar = visible;
    this._updateToolbar();
  }

  setPlaceholder(placeholder: string): void {
    // Quill renders its placeholder from this attribute through CSS.
    this.quill.root.setAttribute('data-placeholder', placeholder);
  }

  /** Set the editor's height: a CSS length; empty fills the host. */
  setHeight(height: string): void {
    this.node.style.height = height;
  }

  /** Change the name and colour other peers see. */
  setUser(user: IUser): void {
    this.provider.awareness.setLocalStateField('user', { ...user });
  }

  focus(): void {
    this.quill.focus();
  }

  dispose(): void {
    if (this._isDisposed) {
      return;
    }
    this._isDisposed = true;
    this.provider.awareness.off('change', this._onAwarenessChange);
    this._nameTimers.forEach(timer => window.clearTimeout(timer));
    this._nameTimers.clear();
    this.provider.off('status', this._onStatus);
    this.provider.off('sync', this._onSync);
    this.provider.off('closed', this._onClosed);
    this.undoManager.destroy();
    this._binding.destroy();
    // Tells the other peers we left (awareness removal) and closes the socket.
    this.provider.destroy();
    this.doc.destroy();
    this.node.removeEventListener('keydown', this._onKeydown);
    this.node.remove();
    Signal.clearData(this);
  }

  private _updateToolbar(): void {
    this.node.classList.toggle(
      'jp-mod-noToolbar',
      !this._toolbar || this._readOnly || this._writeDenied !== null
    );
  }

  private _setStatus(status: ConnectionStatus): void {
    if (status !== this._status) {
      this._status = status;
      this._renderStatus();
      this._statusChanged.emit(status);
    }
  }

  private _renderStatus(): void {
    const count = this.provider.awareness.getStates().size ?? 0;
    const parts = [
      this.room,
      this._closedReason ?? this._status,
      `${count} ${count === 1 ? 'person' : 'people'}`
    ];
    if (this._readOnly || this._writeDenied !== null) {
      parts.push('read-only');
    }
    this._statusNode.textContent = parts.join(' · ');
    this._statusNode.title = this._writeDenied ?? '';
    this._statusNode.dataset.status = this._status;
    this._statusNode.classList.toggle(
      'jp-mod-writeDenied',
      this._writeDenied !== null
    );
  }

  /**
   * Keep plain keys typed into a read-only editor from reaching JupyterLab:
   * in a notebook they would run command-mode shortcuts (X cuts the cell
   * holding the editor). Escape and shortcuts with Ctrl, Alt or Meta pass.
   */
  private _onKeydown = (event: KeyboardEvent): void => {
    if (
      !this.quill.isEnabled() &&
      !event.ctrlKey &&
      !event.altKey &&
      !event.metaKey &&
      event.key !== 'Escape' &&
      event.key !== 'Tab'
    ) {
      event.stopPropagation();
    }
  };

  /** The server dropped our edits: this peer may only read the room. */
  private _onPermissionDenied(reason: string): void {
    this._writeDenied = reason || 'read-only: your changes are not saved';
    this.setReadOnly(this._readOnly);
    // None of this peer's edits were kept: show the room as it is.
    while (this.undoManager.undoStack.length > 0) {
      this.undoManager.undo();
    }
    this.undoManager.clear();
  }

  private _onStatus = ({ status }: { status: string }): void => {
    if (status === 'connected') {
      this._closedReason = null;
      // `sync` follows once the server answered sync step 1.
      this._setStatus(this.provider.synced ? 'synced' : 'connected');
    } else if (status === 'connecting' || status === 'disconnected') {
      this._setStatus(status);
    }
  };

  private _onSync = (synced: boolean): void => {
    if (this.provider.wsconnected) {
      this._setStatus(synced ? 'synced' : 'connected');
    }
  };

  /** The server refused the room for good (close codes 4400-4499): show why. */
  private _onClosed = ({
    code,
    reason
  }: {
    code: number;
    reason: string;
  }): void => {
    this._closedReason = `disconnected: ${reason || 'closed by the server'} (${code})`;
    this._renderStatus();
    this._setStatus('disconnected');
  };

  private _onAwarenessChange = ({
    added,
    updated
  }: {
    added: number[];
    updated: number[];
  }): void => {
    this._renderStatus();
    this._peersChanged.emit(this.peers);
    this._showNames([...added, ...updated]);
  };

  /**
   * Show the names of carets that just moved, for a moment: quill-cursors
   * shows them on hover only, and a caret without a name says little.
   */
  private _showNames(clientIds: number[]): void {
    const cursors = this.quill.getModule('cursors') as QuillCursors;
    for (const clientId of clientIds) {
      if (clientId === this.doc.clientID) {
        continue;
      }
      const id = String(clientId);
      cursors.toggleFlag(id, true);
      window.clearTimeout(this._nameTimers.get(id));
      this._nameTimers.set(
        id,
        window.setTimeout(() => {
          this._nameTimers.delete(id);
          cursors.toggleFlag(id, false);
        }, NAME_FLAG_MS)
      );
    }
  }

  /** Remember where the caret was, so undo/redo puts it back near the change. */
  private _onStackItemAdded = ({
    stackItem
  }: {
    stackItem: { meta: Map<string, unknown> };
  }): void => {
    const range = this.quill.getSelection();
    if (range && !stackItem.meta.has('caret')) {
      stackItem.meta.set(
        'caret',
        Y.createRelativePositionFromTypeIndex(this.text, range.index)
      );
    }
  };

  private _onStackItemPopped = ({
    stackItem
  }: {
    stackItem: { meta: Map<string, unknown> };
  }): void => {
    const caret = stackItem.meta.get('caret') as Y.RelativePosition | undefined;
    const position =
      caret && Y.createAbsolutePositionFromRelativePosition(caret, this.doc);
    if (position && position.type === this.text) {
      this.quill.setSelection(position.index, 0, 'user');
    }
  };

  private async _insertImage(): Promise<void> {
    const range = this.quill.getSelection(true);
    const result = await InputDialog.getText({
      title: 'Insert image',
      label: 'Image URL',
      placeholder: 'https://…/plot.png',
      pattern: '(https?:|data:image/).+',
      required: true
    });
    if (result.button.accept && result.value) {
      this.quill.insertEmbed(range.index, 'image', result.value, 'user');
      this.quill.setSelection(range.index + 1, 0, 'user');
    }
  }

  private _refuseUpload(): void {
    Notification.warning(
      'Images are embedded by URL: use the image button of the toolbar.',
      { autoClose: 5000 }
    );
  }

  private _binding: QuillBinding;
  private _statusNode: HTMLDivElement;
  private _status: ConnectionStatus = 'connecting';
  private _closedReason: string | null = null;
  /** The server's reason, once it refused this peer's edits. */
  private _writeDenied: string | null = null;
  private _readOnly = false;
  private _toolbar = true;
  private _isDisposed = false;
  private _nameTimers = new Map<string, number>();
  private _statusChanged = new Signal<this, ConnectionStatus>(this);
  private _peersChanged = new Signal<this, IPeer[]>(this);
}

/** The YEditor namespace. */
export namespace YEditor {
  export interface IOptions {
    /** The room name (see `validateRoomName`). */
    room: string;
    /** Forbid local edits and hide the toolbar. Default false. */
    readOnly?: boolean;
    /** Shown while the document is empty. Default ''. */
    placeholder?: string;
    /** Show the formatting toolbar. Default true. */
    toolbar?: boolean;
    /** A CSS height, e.g. '320px'; empty fills the host. Default ''. */
    height?: string;
    /**
     * Name and colour others see, e.g. `currentUser(users)`; the editor
     * connects once a promise resolves. Default: anonymous.
     */
    user?: IUser | Promise<IUser>;
    /** Where the Jupyter server is. Default `ServerConnection.makeSettings()`. */
    serverSettings?: ServerConnection.ISettings;
  }
}
