/**
 * YEditor: a Quill 2 editor bound to a room's shared `Y.Text`, with remote
 * carets, a status line and a collaborative (per-peer) undo.
 *
 * The widget view and the main-area panel both host this class. Everything
 * that is not Quill lives elsewhere: the connection in `provider.ts`, the undo
 * manager in `history.ts`, the status line's words in `status.ts`, so that
 * swapping the editor (e.g. for Tiptap) only touches this file.
 */

import { InputDialog, Notification } from '@jupyterlab/apputils';
import { ServerConnection } from '@jupyterlab/services';
import {
  ITranslator,
  TranslationBundle,
  nullTranslator
} from '@jupyterlab/translation';
import { IDisposable } from '@lumino/disposable';
import { ISignal, Signal } from '@lumino/signaling';
import Quill from 'quill';
import QuillCursors from 'quill-cursors';
import { WebsocketProvider } from 'y-websocket';
import * as Y from 'yjs';

import { RichTextBinding } from './binding';
import { YjsHistory } from './history';
import { IUser } from './identity';
import { IPeer, IPerson, headcount, isPeerState } from './people';
import { ROOT_TEXT } from './protocol';
import { RoomConnection } from './provider';
import { ConnectionStatus, channelLabel, statusLine } from './status';

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
    this._trans = (options.translator ?? nullTranslator).load('jupyter_ysync');
    this.connection = new RoomConnection({
      room: options.room,
      user: options.user,
      serverSettings: options.serverSettings,
      translator: options.translator
    });
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

    // Keeps Quill to the final-newline contract (`RichText.delta`): this
    // editor and every other peer show the same document.
    this._binding = new RichTextBinding(
      this.text,
      this.quill,
      this.connection.awareness
    );
    this.undoManager = new Y.UndoManager(this.text, {
      trackedOrigins: new Set([this._binding])
    });
    this._history.attach(this.undoManager, this.text);

    this.node.addEventListener('keydown', this._onKeydown);
    this.connection.statusChanged.connect(this._onStatusChanged, this);
    this.connection.peersChanged.connect(this._onPeersChanged, this);
    this.connection.writeDeniedChanged.connect(this._onWriteDenied, this);

    this.setReadOnly(options.readOnly ?? false);
    this.setToolbar(options.toolbar ?? true);
    this.setHeight(options.height ?? '');
    this._label = options.label ?? '';
    this._renderStatus();
  }

  /** The room's connection: replica, provider, status and peers. */
  readonly connection: RoomConnection;
  /** The editor's root element (class `jp-ysync-editor`); the host attaches it. */
  readonly node: HTMLDivElement;
  /** The room's root text, `content`. */
  readonly text: Y.Text;
  readonly quill: Quill;
  /** Undoes this peer's own edits only. */
  readonly undoManager: Y.UndoManager;

  /** The room name. */
  get room(): string {
    return this.connection.room;
  }

  /** This peer's replica of the room. */
  get doc(): Y.Doc {
    return this.connection.doc;
  }

  get provider(): WebsocketProvider {
    return this.connection.provider;
  }

  /** The connection state. */
  get status(): ConnectionStatus {
    return this.connection.status;
  }

  /** Emitted when `status` changes. */
  get statusChanged(): ISignal<this, ConnectionStatus> {
    return this._statusChanged;
  }

  /** Every peer (connection) in the room, this one first. */
  get peers(): IPeer[] {
    return this.connection.peers;
  }

  /** Everyone in the room, one entry per person or kernel, you first. */
  get people(): IPerson[] {
    return this.connection.people;
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
    const locked = this._locked;
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

  /**
   * Show more about the room in the status line, after its state (e.g. a
   * file's `saved`); null shows nothing.
   */
  setStatusDetail(detail: string | null): void {
    this._statusDetail = detail;
    this._renderStatus();
  }

  /** Change the name and colour other peers see. */
  setUser(user: IUser): void {
    this.connection.setUser(user);
  }

  focus(): void {
    this.quill.focus();
  }

  dispose(): void {
    if (this._isDisposed) {
      return;
    }
    this._isDisposed = true;
    this._nameTimers.forEach(timer => window.clearTimeout(timer));
    this._nameTimers.clear();
    this._history.detach();
    this.undoManager.destroy();
    this._binding.destroy();
    this.connection.dispose();
    this.node.removeEventListener('keydown', this._onKeydown);
    this.node.remove();
    Signal.clearData(this);
  }

  /** Local edits are forbidden: by the host, or by the server. */
  private get _locked(): boolean {
    return this._readOnly || this.connection.writeDenied !== null;
  }

  private get _history(): YjsHistory {
    return this.quill.getModule('history') as YjsHistory;
  }

  private _updateToolbar(): void {
    this.node.classList.toggle(
      'jp-mod-noToolbar',
      !this._toolbar || this._locked
    );
  }

  private _renderStatus(): void {
    const writeDenied = this.connection.writeDenied;
    this._statusNode.textContent = statusLine(
      {
        room: this._label || this.room,
        status: this.status,
        closed: this.connection.closedReason,
        detail: this._statusDetail,
        headcount: headcount(this.people),
        readOnly: this._locked,
        channel: this.connection.channel
      },
      this._trans
    );
    this._statusNode.title =
      writeDenied ??
      this._trans.__(
        'via %1',
        channelLabel(this.connection.channel, this._trans)
      );
    this._statusNode.dataset.status = this.status;
    this._statusNode.dataset.channel = this.connection.channel;
    this._statusNode.classList.toggle(
      'jp-mod-writeDenied',
      writeDenied !== null
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

  private _onStatusChanged(_: RoomConnection, status: ConnectionStatus): void {
    this._renderStatus();
    this._statusChanged.emit(status);
  }

  private _onPeersChanged(
    _: RoomConnection,
    { added, updated }: RoomConnection.IPeersChange
  ): void {
    this._renderStatus();
    this._peersChanged.emit(this.peers);
    this._showNames([...added, ...updated]);
  }

  /** The server dropped our edits: show the room as it is, read-only. */
  private _onWriteDenied(): void {
    this.setReadOnly(this._readOnly);
    // None of this peer's edits were kept.
    this._history.discardLocalChanges();
  }

  /**
   * Show the names of carets that just moved, for a moment: quill-cursors
   * shows them on hover only, and a caret without a name says little.
   */
  private _showNames(clientIds: number[]): void {
    const cursors = this.quill.getModule('cursors') as QuillCursors;
    const states = this.connection.awareness.getStates();
    for (const clientId of clientIds) {
      if (
        clientId === this.doc.clientID ||
        !isPeerState(states.get(clientId))
      ) {
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

  private async _insertImage(): Promise<void> {
    const range = this.quill.getSelection(true);
    const result = await InputDialog.getText({
      title: this._trans.__('Insert image'),
      label: this._trans.__('Image URL'),
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
      this._trans.__(
        'Images are embedded by URL: use the image button of the toolbar.'
      ),
      { autoClose: 5000 }
    );
  }

  private _trans: TranslationBundle;
  private _binding: RichTextBinding;
  private _statusNode: HTMLDivElement;
  private _label: string;
  private _statusDetail: string | null = null;
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
    /** What the status line calls the room, e.g. a file's path. Default: the room name. */
    label?: string;
    /**
     * Name and colour others see, e.g. `currentUser(users)`; the editor
     * connects once a promise resolves. Default: anonymous.
     */
    user?: IUser | Promise<IUser>;
    /** Where the Jupyter server is. Default `ServerConnection.makeSettings()`. */
    serverSettings?: ServerConnection.ISettings;
    /** For the editor's labels and messages. Default: none (English). */
    translator?: ITranslator;
  }
}
