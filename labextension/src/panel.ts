/**
 * A main-area panel on one room: the shared editor plus who is in the room.
 */

import { MainAreaWidget } from '@jupyterlab/apputils';
import { ServerConnection, User } from '@jupyterlab/services';
import {
  ITranslator,
  TranslationBundle,
  nullTranslator
} from '@jupyterlab/translation';
import { LabIcon } from '@jupyterlab/ui-components';
import { Widget } from '@lumino/widgets';

import { YEditor } from './editor';
import { currentUser } from './identity';
import { IPerson } from './people';

/** Two overlapping speech bubbles: a shared document. */
export const roomIcon = new LabIcon({
  name: 'jupyter-ysync:room',
  svgstr:
    '<svg xmlns="http://www.w3.org/2000/svg" width="16" height="16" viewBox="0 0 24 24">' +
    '<g class="jp-icon3" fill="#616161">' +
    '<path d="M4 3h11a2 2 0 0 1 2 2v7a2 2 0 0 1-2 2H9l-4 3v-3H4a2 2 0 0 1-2-2V5a2 2 0 0 1 2-2zm1 4v1.5h9V7H5zm0 3v1.5h6V10H5z"/>' +
    '<path d="M19 8h1a2 2 0 0 1 2 2v7a2 2 0 0 1-2 2h-1v3l-4-3h-4a2 2 0 0 1-2-2v-1h6a4 4 0 0 0 4-4V8z"/>' +
    '</g></svg>'
});

/**
 * The panel's content: a people bar (class `jp-ysync-people`) over a YEditor
 * that fills the rest. The bar lists people, not connections: someone with
 * this panel and a notebook widget open on the room is listed once, and
 * kernels are marked as such.
 */
export class RoomPanel extends Widget {
  constructor(options: RoomPanel.IOptions) {
    super();
    this.addClass('jp-ysync-panel');
    this._trans = (options.translator ?? nullTranslator).load('jupyter_ysync');
    this.editor = new YEditor({
      room: options.room,
      user: currentUser(options.users ?? null),
      serverSettings: options.serverSettings,
      translator: options.translator,
      label: options.label
    });
    this._people = document.createElement('ul');
    this._people.className = 'jp-ysync-people';
    this._people.setAttribute(
      'aria-label',
      this._trans.__('People in the room')
    );
    this.node.append(this._people, this.editor.node);
    this.editor.peersChanged.connect(this._renderPeople, this);
    this._renderPeople();
  }

  /** The hosted editor. */
  readonly editor: YEditor;

  /** The room name. */
  get room(): string {
    return this.editor.room;
  }

  dispose(): void {
    if (this.isDisposed) {
      return;
    }
    this.editor.dispose();
    super.dispose();
  }

  protected onActivateRequest(): void {
    this.editor.focus();
  }

  /**
   * One entry of the people bar: a dot in the person's colour, their name
   * (`Ada Lovelace (you)` for the local person) and, for a kernel, a
   * `kernel` tag.
   */
  private _renderPerson(person: IPerson): HTMLLIElement {
    const isKernel = person.kind === 'kernel';
    const item = document.createElement('li');
    item.className = 'jp-ysync-person';
    item.classList.toggle('jp-mod-kernel', isKernel);
    // How many peers (widgets, panels) the person has open on the room.
    item.dataset.peers = String(person.clientIds.length);
    const dot = document.createElement('span');
    dot.className = 'jp-ysync-person-dot';
    // A style property, not markup: a peer's colour cannot inject anything.
    dot.style.backgroundColor = person.color;
    const name = document.createElement('span');
    name.className = 'jp-ysync-person-name';
    name.textContent = person.isLocal
      ? this._trans.__('%1 (you)', person.name)
      : person.name;
    item.append(dot, name);
    item.title = name.textContent;
    if (isKernel) {
      const kind = document.createElement('span');
      kind.className = 'jp-ysync-person-kind';
      kind.textContent = this._trans.__('kernel');
      item.append(kind);
      item.title = this._trans.__('%1 (kernel)', person.name);
    }
    return item;
  }

  private _renderPeople(): void {
    this._people.replaceChildren(
      ...this.editor.people.map(person => this._renderPerson(person))
    );
  }

  private _trans: TranslationBundle;
  private _people: HTMLUListElement;
}

/** The RoomPanel namespace. */
export namespace RoomPanel {
  export interface IOptions {
    room: string;
    /** JupyterLab's user manager, for the local name and colour. */
    users?: User.IManager | null;
    serverSettings?: ServerConnection.ISettings;
    /** For the panel's labels. Default: none (English). */
    translator?: ITranslator;
    /** What the status line calls the room, e.g. a file's path. Default: the room name. */
    label?: string;
  }
}

/** A closable main-area tab around a RoomPanel. */
export function createRoomWidget(
  options: RoomPanel.IOptions
): MainAreaWidget<RoomPanel> {
  const trans = (options.translator ?? nullTranslator).load('jupyter_ysync');
  const content = new RoomPanel(options);
  const widget = new MainAreaWidget({ content });
  widget.id = `jp-ysync-room-${content.room}`;
  widget.addClass('jp-ysync-room');
  widget.title.label = content.room;
  widget.title.caption = trans.__('Shared rich text: %1', content.room);
  widget.title.icon = roomIcon;
  widget.title.closable = true;
  return widget;
}
