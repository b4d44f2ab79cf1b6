/**
 * The `Editor` ipywidget's model and view (twin of `jupyter_ysync/widget.py`).
 *
 * The comm carries only the options; the document itself travels over the
 * room websocket, so a busy kernel never delays what the editor shows.
 */

import {
  DOMWidgetModel,
  DOMWidgetView,
  ISerializers
} from '@jupyter-widgets/base';
import { User } from '@jupyterlab/services';
import { ITranslator } from '@jupyterlab/translation';

import { YEditor } from './editor';
import { IUser, currentUser } from './identity';
import { ConnectionStatus } from './status';
import { MODULE_NAME, MODULE_VERSION } from './version';

/** The synced traits, as named on the Python side. */
interface IEditorState {
  room: string;
  height: string;
  read_only: boolean;
  placeholder: string;
  toolbar: boolean;
  user_name: string | null;
  user_color: string | null;
  status: ConnectionStatus;
}

export class EditorModel extends DOMWidgetModel {
  defaults() {
    const state: IEditorState = {
      room: '',
      height: '320px',
      read_only: false,
      placeholder: '',
      toolbar: true,
      user_name: null,
      user_color: null,
      status: 'connecting'
    };
    return {
      ...super.defaults(),
      _model_name: EditorModel.model_name,
      _model_module: EditorModel.model_module,
      _model_module_version: EditorModel.model_module_version,
      _view_name: EditorModel.view_name,
      _view_module: EditorModel.view_module,
      _view_module_version: EditorModel.view_module_version,
      ...state
    };
  }

  static serializers: ISerializers = { ...DOMWidgetModel.serializers };

  static model_name = 'EditorModel';
  static model_module = MODULE_NAME;
  static model_module_version = MODULE_VERSION;
  static view_name = 'EditorView';
  static view_module = MODULE_NAME;
  static view_module_version = MODULE_VERSION;
}

export class EditorView extends DOMWidgetView {
  /**
   * JupyterLab's user manager, for the default name and colour; the plugin
   * binds it with `bindEditorView`. Null outside JupyterLab-based hosts.
   */
  protected get users(): User.IManager | null {
    return null;
  }

  /** JupyterLab's translator, for the editor's labels; null: English. */
  protected get translator(): ITranslator | null {
    return null;
  }

  render(): void {
    super.render();
    this.el.classList.add('jp-ysync-widget');
    this._createEditor();
    this.listenTo(this.model, 'change:room', this._createEditor);
    this.listenTo(this.model, 'change:read_only', () =>
      this._editor?.setReadOnly(this._get('read_only'))
    );
    this.listenTo(this.model, 'change:toolbar', () =>
      this._editor?.setToolbar(this._get('toolbar'))
    );
    this.listenTo(this.model, 'change:height', () =>
      this._editor?.setHeight(this._get('height'))
    );
    this.listenTo(this.model, 'change:placeholder', () =>
      this._editor?.setPlaceholder(this._get('placeholder'))
    );
    this.listenTo(
      this.model,
      'change:user_name change:user_color',
      this._updateUser
    );
  }

  remove(): void {
    this._disposeEditor();
    super.remove();
  }

  private _get<K extends keyof IEditorState>(key: K): IEditorState[K] {
    return this.model.get(key);
  }

  private _createEditor(): void {
    this._disposeEditor();
    this.el.replaceChildren();
    let editor: YEditor;
    try {
      editor = new YEditor({
        room: this._get('room'),
        readOnly: this._get('read_only'),
        placeholder: this._get('placeholder'),
        toolbar: this._get('toolbar'),
        height: this._get('height'),
        user: this._user(),
        translator: this.translator ?? undefined
      });
    } catch (error) {
      const message = document.createElement('div');
      message.className = 'jp-ysync-error';
      message.textContent =
        error instanceof Error ? error.message : String(error);
      this.el.appendChild(message);
      this._reportStatus('disconnected');
      return;
    }
    this._editor = editor;
    this.el.appendChild(editor.node);
    editor.statusChanged.connect((_, status) => this._reportStatus(status));
    this._reportStatus(editor.status);
  }

  private _disposeEditor(): void {
    this._editor?.dispose();
    this._editor = null;
  }

  /** The name and colour chosen in Python; unset ones come from JupyterLab. */
  private _user(): Promise<IUser> {
    const override: { name?: string; color?: string } = {};
    const name = this._get('user_name');
    const color = this._get('user_color');
    if (name) {
      override.name = name;
    }
    if (color) {
      override.color = color;
    }
    return currentUser(this.users, override);
  }

  private async _updateUser(): Promise<void> {
    const editor = this._editor;
    const user = await this._user();
    // The room may have changed while the identity was loading.
    if (editor && editor === this._editor && !editor.isDisposed) {
      editor.setUser(user);
    }
  }

  /** Mirror the connection state into the `status` trait, for Python. */
  private _reportStatus(status: ConnectionStatus): void {
    if (this.model.get('status') !== status) {
      this.model.set('status', status);
      this.model.save_changes();
    }
  }

  private _editor: YEditor | null = null;
}

/**
 * `EditorView` bound to JupyterLab's user manager, so that carets carry the
 * user's JupyterLab name and colour, and to its translator.
 */
export function bindEditorView(
  users: User.IManager | null,
  translator: ITranslator | null = null
): typeof EditorView {
  return class extends EditorView {
    protected get users(): User.IManager | null {
      return users;
    }

    protected get translator(): ITranslator | null {
      return translator;
    }
  };
}
