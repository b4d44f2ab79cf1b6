/**
 * Markdown and HTML files as collaborative rich-text documents: the
 * "Rich Text (collaborative)" document widget, its model, and the content
 * provider through which JupyterLab's save, dirty indicator and "Reload from
 * Disk" act on the file's room instead of on a copy of its text.
 *
 * Why a content provider: JupyterLab's `Context.save()` writes
 * `model.toString()` through the contents API. A browser's copy of a shared
 * room is stale as soon as another peer types, and only the server knows how
 * the room reads as Markdown or HTML. So every `get` and `save` of this
 * widget's context goes to `FileContentProvider` (the widget factory's
 * `contentProviderId`): `save` flushes this browser's edits to the room and
 * asks the server to write the room (`POST ysync/rooms/{room}/save`); a load
 * opens the room (`GET ysync/files/{path}`); a load while a widget is open on
 * the file is "Reload from Disk" (`POST ysync/rooms/{room}/revert`). The
 * model carries no text: its dirty flag is the room's (`DirtyState`), and its
 * file format is `json` for a `file`, which the contents API refuses to
 * write (400), so that a save that bypasses the provider (JupyterLab's
 * "Save As", its fallback for a vanished file) never writes anything.
 */

import {
  Contents,
  IContentProvider,
  ServerConnection,
  User
} from '@jupyterlab/services';
import {
  ABCWidgetFactory,
  DocumentRegistry,
  DocumentWidget
} from '@jupyterlab/docregistry';
import { ITranslator, nullTranslator } from '@jupyterlab/translation';
import { IDisposable, DisposableDelegate } from '@lumino/disposable';
import { ISignal, Signal } from '@lumino/signaling';
import { BoxPanel } from '@lumino/widgets';
import * as Y from 'yjs';

import {
  DirtyState,
  FileFormat,
  IFileInfo,
  IFileState,
  fileStateLabel,
  fileUrl,
  findFileState,
  parseFileInfo,
  roomActionUrl
} from './files';
import { RoomPanel } from './panel';
import { CloseCode } from './protocol';
import { RoomConnection } from './provider';

/**
 * The widget factory's name: stable, for JupyterLab's `defaultViewers`
 * setting (`{"markdown": "Rich Text (collaborative)"}`) and the workspace.
 */
export const FACTORY_NAME = 'Rich Text (collaborative)';

/** The model factory's name. */
export const MODEL_NAME = 'jupyter-ysync-file';

/** The content provider's id on the default drive. */
export const CONTENT_PROVIDER_ID = 'jupyter-ysync-file';

/** The file types the factory opens. */
export const FILE_TYPES = ['markdown', 'html'];

/** What stands in for the file's text in the "hash" of a contents model. */
const HASH_ALGORITHM = 'jupyter-ysync-file-id';

const MIME_TYPES: Record<FileFormat, string> = {
  markdown: 'text/markdown',
  html: 'text/html'
};

/** The contents model JupyterLab keeps for a file room: no content. */
function contentsModel(localPath: string, info: IFileInfo): Contents.IModel {
  const time = info.lastSaved ?? '';
  return {
    name: localPath.split('/').pop() ?? localPath,
    path: localPath,
    type: 'file',
    writable: info.writable,
    created: time,
    last_modified: time,
    mimetype: MIME_TYPES[info.format],
    content: null,
    format: null,
    // The room is the truth: JupyterLab's check for a file changed on disk
    // (hash or time) has nothing to compare, the server merges such changes.
    hash: info.fileId,
    hash_algorithm: HASH_ALGORITHM
  };
}

/** An open widget's link to its room, for saves and reloads. */
interface ISession {
  readonly connection: RoomConnection;
  readonly model: FileModel;
}

/**
 * Files as rooms, for JupyterLab's document context (see the module
 * docstring). Register it on the default drive under `CONTENT_PROVIDER_ID`.
 */
export class FileContentProvider implements IContentProvider {
  constructor(options: { serverSettings: ServerConnection.ISettings }) {
    this.serverSettings = options.serverSettings;
  }

  readonly serverSettings: ServerConnection.ISettings;

  /** Emitted when the server wrote a room to its file. */
  get fileChanged(): ISignal<this, Contents.IChangedArgs> {
    return this._fileChanged;
  }

  /** The last description of the file at `localPath`, if it was opened. */
  info(localPath: string): IFileInfo | undefined {
    return this._infos.get(localPath);
  }

  /**
   * Load the file: open its room; or, while a widget is open on it, make the
   * room equal to the file on disk ("Reload from Disk"). A request without
   * content (JupyterLab's check before a save) answers from what is known.
   */
  async get(
    localPath: string,
    options?: Contents.IFetchOptions
  ): Promise<Contents.IModel> {
    const known = this._infos.get(localPath);
    if (!options?.content && known) {
      return contentsModel(localPath, known);
    }
    const sessions = this._sessions.get(localPath);
    const info =
      options?.content && sessions && sessions.size > 0 && known
        ? await this._act(localPath, known.room, 'revert', sessions, false)
        : await this.open(localPath);
    return contentsModel(localPath, info);
  }

  /**
   * Write the room's live content to the file: this browser's edits reach
   * the room first, then the server writes the room. `options.content` (a
   * copy of the text) is never used.
   */
  async save(
    localPath: string,
    options?: Partial<Contents.IModel>
  ): Promise<Contents.IModel> {
    const known = this._infos.get(localPath) ?? (await this.open(localPath));
    const sessions = this._sessions.get(localPath) ?? new Set();
    const info = await this._act(localPath, known.room, 'save', sessions, true);
    return contentsModel(localPath, info);
  }

  /** Open the room of the file at `localPath` (`GET ysync/files/{path}`). */
  async open(localPath: string): Promise<IFileInfo> {
    return this._request(localPath, fileUrl(this._baseUrl, localPath), 'GET');
  }

  /**
   * Tell the provider a widget shows `localPath` in `connection`'s room, so
   * that saves flush it and loads revert the room; dispose to forget it.
   */
  attach(
    localPath: string,
    connection: RoomConnection,
    model: FileModel
  ): IDisposable {
    const session: ISession = { connection, model };
    let sessions = this._sessions.get(localPath);
    if (!sessions) {
      sessions = new Set();
      this._sessions.set(localPath, sessions);
    }
    sessions.add(session);
    return new DisposableDelegate(() => {
      const current = this._sessions.get(localPath);
      current?.delete(session);
      if (current?.size === 0) {
        this._sessions.delete(localPath);
      }
    });
  }

  /** The server saved the file on its own (autosave): tell JupyterLab. */
  noteServerState(localPath: string, state: IFileState): void {
    const known = this._infos.get(localPath);
    if (!known || known.lastSaved === state.lastSaved) {
      return;
    }
    const info = {
      ...known,
      dirty: state.dirty,
      lastSaved: state.lastSaved,
      writable: state.writable
    };
    this._infos.set(localPath, info);
    if (state.lastSaved !== null) {
      this._fileChanged.emit({
        type: 'save',
        oldValue: null,
        newValue: contentsModel(localPath, info)
      });
    }
  }

  private get _baseUrl(): string {
    return this.serverSettings.baseUrl;
  }

  /**
   * Save or revert the room: flush the open widgets' edits (for a save),
   * then ask the server; the answer settles their dirty flags.
   */
  private async _act(
    localPath: string,
    room: string,
    action: 'save' | 'revert',
    sessions: ReadonlySet<ISession>,
    flush: boolean
  ): Promise<IFileInfo> {
    const models = new Set([...sessions].map(session => session.model));
    const marks = new Map([...models].map(model => [model, model.beginSave()]));
    if (flush) {
      await Promise.all(
        [...sessions].map(session => session.connection.flush())
      );
    }
    const info = await this._request(
      localPath,
      roomActionUrl(this._baseUrl, room, action),
      'POST'
    );
    marks.forEach((mark, model) => model.endSave(mark, info));
    return info;
  }

  private async _request(
    localPath: string,
    url: string,
    method: 'GET' | 'POST'
  ): Promise<IFileInfo> {
    const response = await ServerConnection.makeRequest(
      url,
      { method },
      this.serverSettings
    );
    if (response.status !== 200) {
      // Its `message` is the server's ("… is not a UTF-8 text file").
      throw await ServerConnection.ResponseError.create(response);
    }
    const info = parseFileInfo(await response.json());
    this._infos.set(localPath, info);
    return info;
  }

  private _infos = new Map<string, IFileInfo>();
  private _sessions = new Map<string, Set<ISession>>();
  private _fileChanged = new Signal<this, Contents.IChangedArgs>(this);
}

/**
 * What JupyterLab's context asks of a shared model; the room is the
 * document, so there is nothing behind it.
 */
class DetachedSharedModel {
  readonly changed = new Signal<this, unknown>(this);
  readonly disposed = new Signal<this, void>(this);
  get isDisposed(): boolean {
    return this._isDisposed;
  }
  clearUndoHistory(): void {
    // The editor's undo manager lives with the room connection.
  }
  dispose(): void {
    if (!this._isDisposed) {
      this._isDisposed = true;
      this.disposed.emit();
      Signal.clearData(this);
    }
  }
  private _isDisposed = false;
}

/**
 * A file room's document model: no text (the room holds it), and a dirty
 * flag that is the room's (`DirtyState`).
 */
export class FileModel implements DocumentRegistry.IModel {
  /** The room is the document: JupyterLab's collaborative mode. */
  readonly collaborative = true;
  readonly defaultKernelName = '';
  readonly defaultKernelLanguage = '';
  readonly sharedModel =
    new DetachedSharedModel() as unknown as DocumentRegistry.IModel['sharedModel'];

  get contentChanged(): ISignal<this, void> {
    return this._contentChanged;
  }

  get stateChanged(): ISignal<this, any> {
    return this._stateChanged;
  }

  /** The room holds changes the file does not have yet. */
  get dirty(): boolean {
    return this._state.dirty;
  }

  /**
   * Ignored: JupyterLab clears the flag after every save, but the server's
   * answer (and edits made meanwhile) decide it.
   */
  set dirty(_value: boolean) {
    // See the getter.
  }

  /** The file was deleted. */
  get deleted(): boolean {
    return this._state.deleted;
  }

  get readOnly(): boolean {
    return this._readOnly;
  }

  set readOnly(value: boolean) {
    if (value !== this._readOnly) {
      const oldValue = this._readOnly;
      this._readOnly = value;
      this._stateChanged.emit({ name: 'readOnly', oldValue, newValue: value });
    }
  }

  get isDisposed(): boolean {
    return this._isDisposed;
  }

  /** Start from the server's description of the file. */
  setInfo(info: IFileInfo): void {
    this._change(() => {
      this._state = new DirtyState(info);
    });
  }

  /** This browser edited the room. */
  localEdit(): void {
    this._change(() => this._state.localEdit());
    this._contentChanged.emit();
  }

  /** The server's file state changed. */
  serverState(state: IFileState): void {
    this._change(() => this._state.serverState(state));
  }

  /** A save or revert starts (see `DirtyState.beginSave`). */
  beginSave(): number {
    return this._state.beginSave();
  }

  /** The server answered a save or revert begun at `mark`. */
  endSave(mark: number, info: IFileInfo): void {
    this._change(() => this._state.endSave(mark, info));
  }

  /** The server closed the room because its file is gone. */
  fileDeleted(): void {
    this._change(() => this._state.fileDeleted());
  }

  /** No text: the room holds it (see the module docstring). */
  toString(): string {
    return '';
  }

  fromString(_value: string): void {
    // A load never carries text: `FileContentProvider` gives none.
  }

  /** Nothing the contents API would write for a `file` (see the module docstring). */
  toJSON(): null {
    return null;
  }

  fromJSON(_value: unknown): void {
    // As `fromString`.
  }

  initialize(): void {
    // Nothing to set up: the widget connects to the room.
  }

  dispose(): void {
    if (this._isDisposed) {
      return;
    }
    this._isDisposed = true;
    this.sharedModel.dispose();
    Signal.clearData(this);
  }

  private _change(change: () => void): void {
    const oldValue = this._state.dirty;
    change();
    const newValue = this._state.dirty;
    if (oldValue !== newValue) {
      this._stateChanged.emit({ name: 'dirty', oldValue, newValue });
    }
  }

  private _state = new DirtyState();
  private _readOnly = false;
  private _isDisposed = false;
  private _contentChanged = new Signal<this, void>(this);
  private _stateChanged = new Signal<this, any>(this);
}

/** Makes `FileModel`s. */
export class FileModelFactory implements DocumentRegistry.IModelFactory<FileModel> {
  readonly name = MODEL_NAME;
  readonly contentType: Contents.ContentType = 'file';
  /**
   * `json` for a `file`: the contents API refuses to write it, so a save
   * that does not go through `FileContentProvider` writes nothing.
   */
  readonly fileFormat: Contents.FileFormat = 'json';
  readonly collaborative = true;

  get isDisposed(): boolean {
    return this._isDisposed;
  }

  createNew(): FileModel {
    return new FileModel();
  }

  preferredLanguage(): string {
    return '';
  }

  dispose(): void {
    this._isDisposed = true;
  }

  private _isDisposed = false;
}

/**
 * The widget's content: once the file's room is open, the room panel
 * (people, editor, status line) on it.
 */
export class FilePanel extends BoxPanel {
  constructor(options: FilePanel.IOptions) {
    super();
    this.addClass('jp-ysync-file');
    this._options = options;
    this._trans = (options.translator ?? nullTranslator).load('jupyter_ysync');
    this.ready = this._open();
  }

  /** Resolves once the room panel is shown; rejects if the file cannot open. */
  readonly ready: Promise<void>;

  /** The room panel, once the room is open. */
  get panel(): RoomPanel | null {
    return this._panel;
  }

  dispose(): void {
    if (this.isDisposed) {
      return;
    }
    this._attachment?.dispose();
    this._panel?.dispose();
    super.dispose();
  }

  protected onActivateRequest(): void {
    this._panel?.editor.focus();
  }

  private async _open(): Promise<void> {
    const { context, files } = this._options;
    await context.ready;
    const info =
      files.info(context.localPath) ?? (await files.open(context.localPath));
    if (this.isDisposed) {
      return;
    }
    const model = context.model;
    model.setInfo(info);
    const panel = new RoomPanel({
      room: info.room,
      label: info.path,
      users: this._options.users,
      serverSettings: files.serverSettings,
      translator: this._options.translator
    });
    this._panel = panel;
    const editor = panel.editor;
    editor.node.dataset.format = info.format;
    // Labels lines of the file's own source (`VERBATIM`) in the CSS.
    editor.node.style.setProperty(
      '--jp-ysync-verbatim-label',
      JSON.stringify(
        info.format === 'html'
          ? this._trans.__('HTML source')
          : this._trans.__('Markdown source')
      )
    );
    this.addWidget(panel);
    BoxPanel.setStretch(panel, 1);

    this._path = context.localPath;
    this._attachment = files.attach(this._path, editor.connection, model);
    context.pathChanged.connect(this._onPathChanged, this);
    editor.text.observe(this._onTextChange);
    editor.connection.awareness.on('change', this._onAwareness);
    editor.connection.statusChanged.connect(this._onStatus, this);
    this._setWritable(info.writable);
    this._onAwareness();
  }

  /** A change made in this browser (typing, undo) makes the tab dirty. */
  private _onTextChange = (_event: Y.YTextEvent, tx: Y.Transaction): void => {
    if (tx.local) {
      this._options.context.model.localEdit();
    }
  };

  private _onAwareness = (): void => {
    const panel = this._panel;
    if (!panel) {
      return;
    }
    const state = findFileState(panel.editor.connection.awareness.getStates());
    if (state === null) {
      return;
    }
    this._options.context.model.serverState(state);
    this._options.files.noteServerState(this._path, state);
    if (state.state === 'deleted') {
      this._fileDeleted();
    } else {
      this._setWritable(state.writable);
    }
    this._renderDetail(state);
  };

  private _onStatus(connection: RoomConnection): void {
    if (connection.closeCode === CloseCode.FILE_GONE) {
      this._fileDeleted();
    }
  }

  private _fileDeleted(): void {
    const model = this._options.context.model;
    model.fileDeleted();
    model.readOnly = true;
    this._panel?.editor.setReadOnly(true);
    this._panel?.editor.setStatusDetail(fileStateLabel('deleted', this._trans));
  }

  /** The file may not be written: the editor only reads. */
  private _setWritable(writable: boolean): void {
    if (this._options.context.model.deleted) {
      return;
    }
    this._options.context.model.readOnly = !writable;
    this._panel?.editor.setReadOnly(!writable);
  }

  private _renderDetail(state: IFileState): void {
    this._panel?.editor.setStatusDetail(
      fileStateLabel(
        this._options.context.model.deleted ? 'deleted' : state.state,
        this._trans
      )
    );
  }

  private _onPathChanged(
    _: DocumentRegistry.IContext<FileModel>,
    _path: string
  ): void {
    const { context, files } = this._options;
    const panel = this._panel;
    if (!panel || context.localPath === this._path) {
      return;
    }
    this._attachment?.dispose();
    this._path = context.localPath;
    this._attachment = files.attach(
      this._path,
      panel.editor.connection,
      context.model
    );
  }

  private _options: FilePanel.IOptions;
  private _trans: ReturnType<ITranslator['load']>;
  private _panel: RoomPanel | null = null;
  private _path = '';
  private _attachment: IDisposable | null = null;
}

/** The FilePanel namespace. */
export namespace FilePanel {
  export interface IOptions {
    context: DocumentRegistry.IContext<FileModel>;
    files: FileContentProvider;
    users?: User.IManager | null;
    translator?: ITranslator;
  }
}

/** A Markdown or HTML file, open as a collaborative rich-text document. */
export class FileDocument extends DocumentWidget<FilePanel, FileModel> {
  constructor(options: DocumentWidget.IOptions<FilePanel, FileModel>) {
    super(options);
    this.addClass('jp-ysync-fileDocument');
  }
}

/** Makes the "Rich Text (collaborative)" widgets. */
export class FileDocumentFactory extends ABCWidgetFactory<
  FileDocument,
  FileModel
> {
  constructor(options: FileDocumentFactory.IOptions) {
    super(options);
    this._files = options.files;
    this._users = options.users ?? null;
  }

  protected createNewWidget(
    context: DocumentRegistry.IContext<FileModel>
  ): FileDocument {
    const content = new FilePanel({
      context,
      files: this._files,
      users: this._users,
      translator: this.translator
    });
    return new FileDocument({
      content,
      context,
      reveal: content.ready,
      translator: this.translator
    });
  }

  private _files: FileContentProvider;
  private _users: User.IManager | null;
}

/** The FileDocumentFactory namespace. */
export namespace FileDocumentFactory {
  export interface IOptions extends DocumentRegistry.IWidgetFactoryOptions<FileDocument> {
    files: FileContentProvider;
    users?: User.IManager | null;
  }
}
