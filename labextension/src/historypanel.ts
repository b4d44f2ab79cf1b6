/**
 * The history of a room in JupyterLab: the "Version history" side panel (a
 * room's versions, a preview of one, how the current text differs from it,
 * "Restore this version"). `historycommands.ts` adds it to the shell, where
 * it follows the current room panel or file document, as the table of
 * contents does. A restore is the user's own edit, made in that widget's
 * editor (see `restoreVersion`).
 */

import {
  InputDialog,
  Notification,
  showErrorMessage
} from '@jupyterlab/apputils';
import { ServerConnection } from '@jupyterlab/services';
import {
  ITranslator,
  TranslationBundle,
  nullTranslator
} from '@jupyterlab/translation';
import { LabIcon, refreshIcon } from '@jupyterlab/ui-components';
import { Message } from '@lumino/messaging';
import { Widget } from '@lumino/widgets';
import Quill, { Parchment } from 'quill';
import type Delta from 'quill-delta';

import { YEditor } from './editor';
import { YjsHistory } from './history';
import { RoomHistory } from './roomhistory';
import {
  DIFF_FORMAT,
  IVersion,
  authorsLine,
  diffDocument,
  diffSegments,
  diffStats,
  formatSize,
  formatTime,
  restoreChange,
  versionTitle
} from './versions';

/** A clock with a backwards arrow: the history of a document. */
export const historyIcon = new LabIcon({
  name: 'jupyter-ysync:history',
  svgstr:
    '<svg xmlns="http://www.w3.org/2000/svg" width="16" height="16" viewBox="0 0 24 24">' +
    '<g class="jp-icon3" fill="#616161">' +
    '<path d="M13 3a9 9 0 0 0-9 9H1l3.9 3.9.1.1L9 12H6a7 7 0 1 1 2.05 4.95l-1.42 1.42A9 9 0 1 0 13 3zm-1 5v5l4.25 2.52.77-1.28-3.52-2.09V8H12z"/>' +
    '</g></svg>'
});

/** A bookmark: a version with a name. */
export const saveVersionIcon = new LabIcon({
  name: 'jupyter-ysync:save-version',
  svgstr:
    '<svg xmlns="http://www.w3.org/2000/svg" width="16" height="16" viewBox="0 0 24 24">' +
    '<g class="jp-icon3" fill="#616161">' +
    '<path d="M17 3H7a2 2 0 0 0-2 2v16l7-3 7 3V5a2 2 0 0 0-2-2zm0 15-5-2.18L7 18V5h10v13z"/>' +
    '</g></svg>'
});

/** Text in several colours: who wrote what. */
export const authorsIcon = new LabIcon({
  name: 'jupyter-ysync:authors',
  svgstr:
    '<svg xmlns="http://www.w3.org/2000/svg" width="16" height="16" viewBox="0 0 24 24">' +
    '<g class="jp-icon3" fill="#616161">' +
    '<path d="M3 5h8v3H3zM13 5h8v3h-8zM3 10.5h5v3H3zM10 10.5h11v3H10zM3 16h12v3H3z" opacity=".55"/>' +
    '<path d="M3 8h8v1H3zM10 13.5h11v1H10zM3 19h12v1H3z"/>' +
    '</g></svg>'
});

/** The id of the "Version history" side panel. */
export const HISTORY_PANEL_ID = 'jp-ysync-history';

/** How long the text stays still before the diff view follows it, in ms. */
const DIFF_DELAY_MS = 300;

/** A room shown in JupyterLab: its editor and what its tab calls it. */
export interface IRoomView {
  readonly editor: YEditor;
  readonly label: string;
}

/**
 * Turn the editor's text into `version`, as the user's own edit: one step of
 * their undo (Ctrl+Z takes it back), and for other peers an edit like any.
 *
 * @returns false if the editor may not be edited (nothing changed).
 */
export function restoreVersion(editor: YEditor, version: Delta): boolean {
  const quill = editor.quill;
  if (!quill.isEnabled()) {
    return false;
  }
  const history = quill.getModule('history') as YjsHistory;
  // Its own undo step: neither merged with what was typed just before, nor
  // with what is typed next.
  history.cutoff();
  quill.updateContents(restoreChange(quill.getContents(), version), 'user');
  history.cutoff();
  return true;
}

/** Ask for a version's name; null if the user cancelled. */
export async function askVersionName(
  trans: TranslationBundle,
  room: string
): Promise<string | null> {
  const result = await InputDialog.getText({
    title: trans.__('Save version of %1', room),
    label: trans.__('Version name'),
    placeholder: trans.__('e.g. sent to review'),
    okLabel: trans.__('Save'),
    required: true
  });
  const name = result.value?.trim();
  return result.button.accept && name ? name : null;
}

/** The diff view's mark: a class, `jp-ysync-diff-insert` and so on. */
const DiffMark = new Parchment.ClassAttributor(DIFF_FORMAT, 'jp-ysync-diff', {
  scope: Parchment.Scope.INLINE,
  whitelist: ['insert', 'delete', 'format']
});

let diffRegistry: Parchment.Registry | null = null;

/**
 * Quill's formats and the diff mark, in a registry of the diff view's own:
 * registered globally, the mark could be pasted from the diff view into an
 * editor, and so into a room's text.
 */
function getDiffRegistry(): Parchment.Registry {
  if (diffRegistry === null) {
    const registry = new Parchment.Registry();
    // As Quill registers them globally (`Quill.register`).
    for (const [path, target] of Object.entries(Quill.imports)) {
      if (
        (path.startsWith('blots/') || path.startsWith('formats/')) &&
        target instanceof Object &&
        (target as { blotName?: string }).blotName !== 'abstract'
      ) {
        registry.register(target as Parchment.RegistryDefinition);
      }
    }
    registry.register(DiffMark);
    diffRegistry = registry;
  }
  return diffRegistry;
}

/** A Quill that only shows a document. */
function readOnlyQuill(
  host: HTMLElement,
  registry?: Parchment.Registry
): Quill {
  return new Quill(host, {
    theme: 'snow',
    readOnly: true,
    modules: { toolbar: false },
    ...(registry ? { registry } : {})
  });
}

/** The selected version and what is known of it. */
interface ISelection {
  version: IVersion;
  content: Delta | null;
  error: string | null;
}

/**
 * The "Version history" side panel: the versions of the current room, newest
 * first; the selected one's preview, its diff against the current text, and
 * "Restore this version".
 */
export class HistoryPanel extends Widget {
  constructor(options: HistoryPanel.IOptions) {
    super();
    this.id = HISTORY_PANEL_ID;
    this.addClass('jp-ysync-history');
    this._serverSettings = options.serverSettings;
    this._trans = (options.translator ?? nullTranslator).load('jupyter_ysync');
    const trans = this._trans;
    this.title.icon = historyIcon;
    this.title.caption = trans.__('Version History');

    const header = document.createElement('header');
    header.className = 'jp-ysync-history-header';
    const heading = document.createElement('h2');
    heading.textContent = trans.__('Version history');
    this._roomNode = document.createElement('div');
    this._roomNode.className = 'jp-ysync-history-room';
    const actions = document.createElement('div');
    actions.className = 'jp-ysync-history-headerActions';
    this._saveButton = this._button(
      trans.__('Save version…'),
      'jp-ysync-history-save',
      () => void this.saveVersion()
    );
    this._refreshButton = this._button(
      '',
      'jp-ysync-history-refresh',
      () => void this.refresh()
    );
    this._refreshButton.title = trans.__('Refresh the list of versions');
    this._refreshButton.setAttribute('aria-label', this._refreshButton.title);
    refreshIcon.element({ container: this._refreshButton });
    actions.append(this._saveButton, this._refreshButton);
    header.append(heading, this._roomNode, actions);

    this._message = document.createElement('div');
    this._message.className = 'jp-ysync-history-message';
    this._list = document.createElement('ul');
    this._list.className = 'jp-ysync-versions';
    this._list.setAttribute('role', 'listbox');
    this._list.setAttribute('aria-label', trans.__('Versions'));

    this._detail = document.createElement('section');
    this._detail.className = 'jp-ysync-history-detail';
    this._detailTitle = document.createElement('h3');
    this._detailTitle.className = 'jp-ysync-history-detailTitle';
    const tabs = document.createElement('div');
    tabs.className = 'jp-ysync-history-tabs';
    tabs.setAttribute('role', 'tablist');
    this._previewTab = this._tab(trans.__('Preview'), 'preview');
    this._changesTab = this._tab(trans.__('Changes'), 'changes');
    tabs.append(this._previewTab, this._changesTab);
    this._summary = document.createElement('div');
    this._summary.className = 'jp-ysync-history-summary';
    const previewHost = document.createElement('div');
    this._previewNode = document.createElement('div');
    this._previewNode.className =
      'jp-ysync-history-view jp-ysync-history-preview';
    this._previewNode.appendChild(previewHost);
    const diffHost = document.createElement('div');
    this._diffNode = document.createElement('div');
    this._diffNode.className = 'jp-ysync-history-view jp-ysync-history-diff';
    this._diffNode.appendChild(diffHost);
    this._restoreButton = this._button(
      trans.__('Restore this version'),
      'jp-ysync-history-restore jp-mod-accept',
      () => void this.restore()
    );
    const footer = document.createElement('div');
    footer.className = 'jp-ysync-history-actions';
    footer.append(this._restoreButton);
    this._detail.append(
      this._detailTitle,
      footer,
      tabs,
      this._summary,
      this._previewNode,
      this._diffNode
    );
    this.node.append(header, this._message, this._list, this._detail);

    this._preview = readOnlyQuill(previewHost);
    this._diff = readOnlyQuill(diffHost, getDiffRegistry());
    this._render();
  }

  /** The room shown, if any. */
  get room(): IRoomView | null {
    return this._room;
  }

  /** Show the history of `room` (null: none; the panel says how to get one). */
  setRoom(room: IRoomView | null): void {
    if (room?.editor === this._room?.editor) {
      return;
    }
    this._room?.editor.quill.off('text-change', this._onTextChange);
    this._room = room;
    this._history = room
      ? new RoomHistory({
          room: room.editor.room,
          serverSettings: this._serverSettings
        })
      : null;
    this._versions = [];
    this._selection = null;
    this._error = null;
    this._loading = room !== null;
    room?.editor.quill.on('text-change', this._onTextChange);
    this._render();
    if (room && this.isVisible) {
      void this.refresh();
    }
  }

  /** Ask the server for the room's versions again. */
  async refresh(): Promise<void> {
    const history = this._history;
    if (!history) {
      return;
    }
    this._loading = true;
    this._renderMessage();
    try {
      const versions = await history.versions();
      if (history !== this._history) {
        return;
      }
      this._versions = versions;
      this._error = null;
      const selected = this._selection?.version.id;
      const still = versions.find(version => version.id === selected);
      if (this._selection && still) {
        this._selection.version = still;
      } else {
        this._selection = null;
      }
    } catch (error) {
      if (history !== this._history) {
        return;
      }
      this._error = this._trans.__(
        'Cannot list the versions: %1',
        (error as Error).message
      );
    }
    this._loading = false;
    this._render();
  }

  /**
   * Ask for a name, then record the room (with this browser's edits) as a
   * version of that name.
   */
  async saveVersion(): Promise<IVersion | null> {
    const room = this._room;
    const history = this._history;
    if (!room || !history) {
      return null;
    }
    const name = await askVersionName(this._trans, room.label);
    if (name === null) {
      return null;
    }
    let version: IVersion;
    try {
      // The version holds what this user sees.
      await room.editor.connection.flush();
      version = await history.save(name);
    } catch (error) {
      await showErrorMessage(
        this._trans.__('Cannot save the version'),
        error as Error
      );
      return null;
    }
    Notification.success(this._trans.__('Saved version “%1”.', name), {
      autoClose: 3000
    });
    if (history === this._history) {
      await this.refresh();
    }
    return version;
  }

  /** Select version `id`: show its preview and how the text differs from it. */
  async select(id: number): Promise<void> {
    const history = this._history;
    const version = this._versions.find(v => v.id === id);
    if (!history || !version) {
      return;
    }
    const cached = this._contents.get(this._cacheKey(id));
    const selection: ISelection = {
      version,
      content: cached ?? null,
      error: null
    };
    this._selection = selection;
    this._render();
    if (cached) {
      return;
    }
    try {
      selection.content = await history.content(id);
      this._contents.set(this._cacheKey(id), selection.content);
    } catch (error) {
      selection.error = this._trans.__(
        'Cannot show this version: %1',
        (error as Error).message
      );
    }
    if (selection === this._selection) {
      this._render();
    }
  }

  /** Show the selected version's preview, or its diff. */
  setView(view: HistoryPanel.View): void {
    this._view = view;
    this._renderDetail();
  }

  /**
   * Turn the editor's text into the selected version's, as this user's edit
   * (Ctrl+Z in the editor takes it back), then list the versions again.
   */
  async restore(): Promise<boolean> {
    const room = this._room;
    const selection = this._selection;
    if (!room || !selection?.content) {
      return false;
    }
    if (!restoreVersion(room.editor, selection.content)) {
      await showErrorMessage(
        this._trans.__('Cannot restore the version'),
        this._trans.__('This room is read-only for you.')
      );
      return false;
    }
    Notification.info(
      this._trans.__(
        'Restored “%1”: undo in the editor (Ctrl+Z) to take it back.',
        versionTitle(selection.version, this._trans)
      ),
      { autoClose: 5000 }
    );
    room.editor.focus();
    await this.refresh();
    return true;
  }

  dispose(): void {
    if (this.isDisposed) {
      return;
    }
    this.setRoom(null);
    window.clearTimeout(this._diffTimer);
    super.dispose();
  }

  protected onAfterShow(msg: Message): void {
    super.onAfterShow(msg);
    void this.refresh();
  }

  private _cacheKey(id: number): string {
    return `${this._history?.room}\n${id}`;
  }

  private _button(
    label: string,
    className: string,
    onClick: () => void
  ): HTMLButtonElement {
    const button = document.createElement('button');
    button.type = 'button';
    button.className = `jp-mod-styled ${className}`;
    button.textContent = label;
    button.addEventListener('click', onClick);
    return button;
  }

  private _tab(label: string, view: HistoryPanel.View): HTMLButtonElement {
    const tab = this._button(label, 'jp-ysync-history-tab', () =>
      this.setView(view)
    );
    tab.setAttribute('role', 'tab');
    tab.dataset.view = view;
    return tab;
  }

  /** The editor's text changed: the diff view follows, a moment later. */
  private _onTextChange = (): void => {
    window.clearTimeout(this._diffTimer);
    this._diffTimer = window.setTimeout(() => {
      // A hidden panel catches up when shown (`onAfterShow`).
      if (this.isVisible && this._selection?.content) {
        this._renderDetail();
      }
    }, DIFF_DELAY_MS);
  };

  private _render(): void {
    const room = this._room;
    this._roomNode.textContent = room?.label ?? '';
    this._roomNode.title = room?.label ?? '';
    this._saveButton.disabled = room === null;
    this._refreshButton.disabled = room === null;
    this._renderMessage();
    this._renderList();
    this._renderDetail();
  }

  private _renderMessage(): void {
    const trans = this._trans;
    let message = '';
    if (!this._room) {
      message = trans.__(
        'Open a shared rich-text room, or a Markdown or HTML file as rich text, to see its versions.'
      );
    } else if (this._error) {
      message = this._error;
    } else if (this._loading && this._versions.length === 0) {
      message = trans.__('Loading versions…');
    } else if (this._versions.length === 0) {
      message = trans.__(
        'No versions yet. The server records one when the room goes quiet after changes; "Save version" records one now.'
      );
    }
    this._message.textContent = message;
    this._message.hidden = message === '';
    this._message.classList.toggle('jp-mod-error', this._error !== null);
  }

  private _renderList(): void {
    const selected = this._selection?.version.id;
    this._list.replaceChildren(
      ...this._versions.map(version =>
        this._renderVersion(version, version.id === selected)
      )
    );
  }

  private _renderVersion(version: IVersion, selected: boolean): HTMLLIElement {
    const trans = this._trans;
    const item = document.createElement('li');
    item.className = 'jp-ysync-version';
    item.classList.toggle('jp-mod-selected', selected);
    item.classList.toggle('jp-mod-auto', !version.name);
    item.dataset.version = String(version.id);
    item.setAttribute('role', 'option');
    item.setAttribute('aria-selected', String(selected));
    item.tabIndex = 0;
    const head = document.createElement('div');
    head.className = 'jp-ysync-version-head';
    const name = document.createElement('span');
    name.className = 'jp-ysync-version-name';
    name.textContent = versionTitle(version, trans);
    const size = document.createElement('span');
    size.className = 'jp-ysync-version-size';
    size.textContent = formatSize(version.size);
    head.append(name, size);
    const time = document.createElement('time');
    time.className = 'jp-ysync-version-time';
    time.dateTime = version.created;
    time.textContent = formatTime(version.created);
    const authors = document.createElement('div');
    authors.className = 'jp-ysync-version-authors';
    authors.textContent = authorsLine(version.authors, trans);
    item.append(head, time, authors);
    item.title = trans.__(
      '%1, %2, by %3',
      name.textContent,
      time.textContent,
      authors.textContent
    );
    item.addEventListener('click', () => void this.select(version.id));
    item.addEventListener('keydown', event => {
      if (event.key === 'Enter' || event.key === ' ') {
        event.preventDefault();
        void this.select(version.id);
      }
    });
    return item;
  }

  private _renderDetail(): void {
    const trans = this._trans;
    const selection = this._selection;
    const room = this._room;
    this._detail.hidden = selection === null;
    if (!selection || !room) {
      return;
    }
    this._detailTitle.textContent = trans.__(
      '%1 · %2',
      versionTitle(selection.version, trans),
      formatTime(selection.version.created)
    );
    const preview = this._view === 'preview';
    this._previewTab.setAttribute('aria-selected', String(preview));
    this._changesTab.setAttribute('aria-selected', String(!preview));
    this._previewTab.classList.toggle('jp-mod-active', preview);
    this._changesTab.classList.toggle('jp-mod-active', !preview);
    this._previewNode.hidden = !preview;
    this._diffNode.hidden = preview;
    const content = selection.content;
    this._restoreButton.disabled =
      content === null || !room.editor.quill.isEnabled();
    this._restoreButton.title = room.editor.quill.isEnabled()
      ? trans.__('Make the text this version again, as your own edit')
      : trans.__('This room is read-only for you.');
    if (content === null) {
      this._summary.textContent =
        selection.error ?? trans.__('Loading the version…');
      this._summary.classList.toggle('jp-mod-error', selection.error !== null);
      this._previewed = null;
      this._preview.setContents([], 'api');
      this._diff.setContents([], 'api');
      return;
    }
    this._summary.classList.remove('jp-mod-error');
    if (this._previewed !== content) {
      this._previewed = content;
      this._preview.setContents(content, 'api');
    }
    const segments = diffSegments(content, room.editor.quill.getContents());
    const stats = diffStats(segments);
    this._diff.setContents(diffDocument(segments), 'api');
    this._summary.dataset.inserted = String(stats.inserted);
    this._summary.dataset.deleted = String(stats.deleted);
    const changes = [
      [
        stats.inserted,
        trans._n('%1 character added', '%1 characters added', stats.inserted)
      ],
      [
        stats.deleted,
        trans._n('%1 character removed', '%1 characters removed', stats.deleted)
      ],
      [
        stats.reformatted,
        trans._n(
          '%1 character reformatted',
          '%1 characters reformatted',
          stats.reformatted
        )
      ]
    ] as const;
    const parts = changes
      .filter(([count]) => count > 0)
      .map(([, words]) => words);
    this._summary.textContent =
      parts.length === 0
        ? trans.__('The current text is this version.')
        : trans.__('Since this version: %1.', parts.join(', '));
  }

  private _serverSettings: ServerConnection.ISettings;
  private _trans: TranslationBundle;
  private _room: IRoomView | null = null;
  private _history: RoomHistory | null = null;
  private _versions: IVersion[] = [];
  private _selection: ISelection | null = null;
  private _contents = new Map<string, Delta>();
  private _view: HistoryPanel.View = 'preview';
  private _error: string | null = null;
  private _loading = false;
  private _diffTimer = 0;
  private _roomNode: HTMLDivElement;
  private _saveButton: HTMLButtonElement;
  private _refreshButton: HTMLButtonElement;
  private _message: HTMLDivElement;
  private _list: HTMLUListElement;
  private _detail: HTMLElement;
  private _detailTitle: HTMLHeadingElement;
  private _previewTab: HTMLButtonElement;
  private _changesTab: HTMLButtonElement;
  private _summary: HTMLDivElement;
  private _previewNode: HTMLDivElement;
  private _diffNode: HTMLDivElement;
  private _restoreButton: HTMLButtonElement;
  private _preview: Quill;
  /** The version content the preview shows. */
  private _previewed: Delta | null = null;
  private _diff: Quill;
}

/** The HistoryPanel namespace. */
export namespace HistoryPanel {
  /** What the selected version shows: itself, or the changes since. */
  export type View = 'preview' | 'changes';

  export interface IOptions {
    serverSettings: ServerConnection.ISettings;
    translator?: ITranslator;
  }
}
