/**
 * The editor's "show authors" mode: the text tinted by who wrote it, with a
 * legend. The tint is an overlay over Quill (marks positioned from the DOM
 * ranges of the text), never a format: the room's text is not touched, and
 * other peers see nothing of it.
 */

import {
  ITranslator,
  TranslationBundle,
  nullTranslator
} from '@jupyterlab/translation';
import { IDisposable } from '@lumino/disposable';
import type Quill from 'quill';
import type Delta from 'quill-delta';

import {
  IAuthorRange,
  IAuthorship,
  ILegendEntry,
  authorKey,
  buildLegend,
  shiftRanges
} from './authors';
import type { YEditor } from './editor';
import { RoomHistory } from './roomhistory';

/** How long the text stays still before the authors are asked again, in ms. */
const REFRESH_DELAY_MS = 800;

/** The DOM rectangles of Quill's text from `index` to `index + length`. */
function textRects(quill: Quill, index: number, length: number): DOMRect[] {
  const rects: DOMRect[] = [];
  const end = Math.min(index + length, quill.getLength() - 1);
  for (const line of quill.getLines(index, end - index)) {
    const lineStart = quill.getIndex(line);
    // The line's own newline takes no room on screen.
    const from = Math.max(index, lineStart);
    const to = Math.min(end, lineStart + line.length() - 1);
    if (to <= from) {
      continue;
    }
    const [first, firstOffset] = quill.getLeaf(from);
    const [last, lastOffset] = quill.getLeaf(to - 1);
    if (!first || !last) {
      continue;
    }
    const range = document.createRange();
    const [startNode, startOffset] = first.position(firstOffset, true);
    const [endNode, endOffset] = last.position(lastOffset + 1, true);
    range.setStart(startNode, startOffset);
    range.setEnd(endNode, endOffset);
    for (const rect of range.getClientRects()) {
      if (rect.width > 0.5 && rect.height > 0.5) {
        rects.push(rect);
      }
    }
  }
  return rects;
}

/**
 * Tints an editor's text by author, with a legend under the text, until
 * disposed. The authors come from the server (`GET …/authors`), again a
 * moment after the text stops changing; in between, the tints follow the
 * text through its changes.
 *
 * ```ts
 * const overlay = new AuthorsOverlay({ editor, history: new RoomHistory({ room: editor.room }) });
 * overlay.dispose(); // the editor as it was
 * ```
 */
export class AuthorsOverlay implements IDisposable {
  constructor(options: AuthorsOverlay.IOptions) {
    this._editor = options.editor;
    this._history = options.history;
    this._trans = (options.translator ?? nullTranslator).load('jupyter_ysync');
    const quill = this._editor.quill;

    this._layer = document.createElement('div');
    this._layer.className = 'jp-ysync-authors-layer';
    this._layer.setAttribute('aria-hidden', 'true');
    quill.container.appendChild(this._layer);

    this._legend = document.createElement('ul');
    this._legend.className = 'jp-ysync-authors-legend';
    this._legend.setAttribute('aria-label', this._trans.__('Authors'));
    this._legend.dataset.state = 'loading';
    this._legend.textContent = this._trans.__('Finding who wrote what…');
    const status = this._editor.node.querySelector('.jp-ysync-status');
    this._editor.node.insertBefore(this._legend, status);
    this._editor.node.classList.add('jp-mod-showAuthors');

    quill.on('text-change', this._onTextChange);
    quill.root.addEventListener('scroll', this._scheduleRender);
    this._resize = new ResizeObserver(this._scheduleRender);
    this._resize.observe(quill.root);
    this._editor.peersChanged.connect(this._renderLegend, this);
    void this.refresh();
  }

  /** The legend as last shown. */
  get legend(): readonly ILegendEntry[] {
    return this._entries;
  }

  get isDisposed(): boolean {
    return this._isDisposed;
  }

  /** Ask the server who wrote what, then tint the text. */
  async refresh(): Promise<void> {
    window.clearTimeout(this._refreshTimer);
    if (this._editor.isDisposed) {
      this.dispose();
      return;
    }
    const asked = ++this._asked;
    const changes = this._changes;
    let authorship: IAuthorship;
    try {
      authorship = await this._history.authors();
    } catch (error) {
      if (!this._isDisposed && asked === this._asked) {
        this._legend.dataset.state = 'error';
        this._legend.textContent = this._trans.__(
          'Cannot tell who wrote what: %1',
          (error as Error).message
        );
      }
      return;
    }
    if (
      this._isDisposed ||
      asked !== this._asked ||
      changes !== this._changes
    ) {
      // The text changed meanwhile: a newer answer is coming.
      return;
    }
    this._authorship = authorship;
    this._ranges = authorship.ranges;
    this._renderLegend();
    this._render();
  }

  dispose(): void {
    if (this._isDisposed) {
      return;
    }
    this._isDisposed = true;
    window.clearTimeout(this._refreshTimer);
    window.cancelAnimationFrame(this._frame);
    const quill = this._editor.quill;
    quill.off('text-change', this._onTextChange);
    quill.root.removeEventListener('scroll', this._scheduleRender);
    this._resize.disconnect();
    this._editor.peersChanged.disconnect(this._renderLegend, this);
    this._layer.remove();
    this._legend.remove();
    this._editor.node.classList.remove('jp-mod-showAuthors');
  }

  private _onTextChange = (change: Delta): void => {
    this._changes++;
    this._ranges = shiftRanges(this._ranges, change);
    this._scheduleRender();
    window.clearTimeout(this._refreshTimer);
    this._refreshTimer = window.setTimeout(
      () => void this.refresh(),
      REFRESH_DELAY_MS
    );
  };

  private _scheduleRender = (): void => {
    window.cancelAnimationFrame(this._frame);
    this._frame = window.requestAnimationFrame(() => this._render());
  };

  private _renderLegend(): void {
    if (!this._authorship || this._isDisposed) {
      return;
    }
    this._entries = buildLegend(
      this._authorship,
      this._editor.peers,
      this._trans
    );
    this._colors = new Map(this._entries.map(e => [e.key, e.color]));
    this._legend.dataset.state = 'ready';
    if (this._entries.length === 0) {
      this._legend.textContent = this._trans.__('Nobody wrote anything yet.');
      return;
    }
    this._legend.replaceChildren(
      ...this._entries.map(entry => this._renderEntry(entry))
    );
  }

  private _renderEntry(entry: ILegendEntry): HTMLLIElement {
    const item = document.createElement('li');
    item.className = 'jp-ysync-author';
    item.dataset.author = entry.key;
    item.dataset.kind = entry.kind;
    const swatch = document.createElement('span');
    swatch.className = 'jp-ysync-author-swatch';
    // A style property, not markup: nothing in a name or colour can inject.
    swatch.style.setProperty('--jp-ysync-author-color', entry.color);
    const name = document.createElement('span');
    name.className = 'jp-ysync-author-name';
    name.textContent = entry.isLocal
      ? this._trans.__('%1 (you)', entry.name)
      : entry.name;
    item.append(swatch, name);
    if (entry.kind === 'kernel' || entry.kind === 'system') {
      const kind = document.createElement('span');
      kind.className = 'jp-ysync-author-kind';
      kind.textContent =
        entry.kind === 'kernel'
          ? this._trans.__('script')
          : this._trans.__('server');
      item.append(kind);
    }
    item.title = this._trans._n(
      '%2: %1 character of the current text',
      '%2: %1 characters of the current text',
      entry.chars,
      name.textContent
    );
    return item;
  }

  /** Place a mark over every range, in its author's colour. */
  private _render(): void {
    if (this._isDisposed || !this._authorship) {
      return;
    }
    const quill = this._editor.quill;
    const origin = quill.container.getBoundingClientRect();
    const marks: HTMLElement[] = [];
    for (const range of this._ranges) {
      const key = this._keyOf(range);
      const color = this._colors.get(key);
      if (color === undefined) {
        continue;
      }
      for (const rect of textRects(quill, range.index, range.length)) {
        const mark = document.createElement('div');
        mark.className = 'jp-ysync-author-mark';
        mark.dataset.author = key;
        mark.style.setProperty('--jp-ysync-author-color', color);
        mark.style.left = `${rect.left - origin.left}px`;
        mark.style.top = `${rect.top - origin.top}px`;
        mark.style.width = `${rect.width}px`;
        mark.style.height = `${rect.height}px`;
        marks.push(mark);
      }
    }
    this._layer.replaceChildren(...marks);
  }

  private _keyOf(range: IAuthorRange): string {
    return authorKey(range.client, this._authorship?.clients.get(range.client));
  }

  private _editor: YEditor;
  private _history: RoomHistory;
  private _trans: TranslationBundle;
  private _layer: HTMLDivElement;
  private _legend: HTMLUListElement;
  private _resize: ResizeObserver;
  private _authorship: IAuthorship | null = null;
  private _ranges: readonly IAuthorRange[] = [];
  private _entries: ILegendEntry[] = [];
  private _colors = new Map<string, string>();
  private _asked = 0;
  private _changes = 0;
  private _refreshTimer = 0;
  private _frame = 0;
  private _isDisposed = false;
}

/** The AuthorsOverlay namespace. */
export namespace AuthorsOverlay {
  export interface IOptions {
    editor: YEditor;
    history: RoomHistory;
    translator?: ITranslator;
  }
}
