/**
 * JupyterLab / Notebook 7 plugins: one per capability.
 *
 * - `jupyter-ysync:widget` registers the `Editor` ipywidget.
 * - `jupyter-ysync:panel` adds the `ysync:open-room` command, its palette
 *   and launcher entries, and restores open rooms on reload.
 */

import { IJupyterWidgetRegistry } from '@jupyter-widgets/base';
import {
  ILayoutRestorer,
  JupyterFrontEnd,
  JupyterFrontEndPlugin
} from '@jupyterlab/application';
import {
  ICommandPalette,
  InputDialog,
  MainAreaWidget,
  WidgetTracker,
  showErrorMessage
} from '@jupyterlab/apputils';
import { ILauncher } from '@jupyterlab/launcher';

import { validateRoomName } from './editor';
import { RoomPanel, createRoomWidget, roomIcon } from './panel';
import { MODULE_NAME, MODULE_VERSION } from './version';
import { EditorModel, bindEditorView } from './widget';

/** Command ids. */
export namespace CommandIDs {
  /** Open a room in the main area. Args: `{room?: string}`; asks when absent. */
  export const openRoom = 'ysync:open-room';
}

const widgetPlugin: JupyterFrontEndPlugin<void> = {
  id: 'jupyter-ysync:widget',
  description:
    'The Editor ipywidget: a shared rich-text editor in notebook outputs.',
  autoStart: true,
  requires: [IJupyterWidgetRegistry],
  activate: (app: JupyterFrontEnd, registry: IJupyterWidgetRegistry): void => {
    registry.registerWidget({
      name: MODULE_NAME,
      version: MODULE_VERSION,
      exports: {
        EditorModel,
        EditorView: bindEditorView(app.serviceManager.user)
      }
    });
  }
};

const panelPlugin: JupyterFrontEndPlugin<void> = {
  id: 'jupyter-ysync:panel',
  description: 'Open a shared rich-text room in the main area.',
  autoStart: true,
  optional: [ICommandPalette, ILauncher, ILayoutRestorer],
  activate: (
    app: JupyterFrontEnd,
    palette: ICommandPalette | null,
    launcher: ILauncher | null,
    restorer: ILayoutRestorer | null
  ): void => {
    const tracker = new WidgetTracker<MainAreaWidget<RoomPanel>>({
      namespace: 'ysync-room'
    });

    app.commands.addCommand(CommandIDs.openRoom, {
      label: args =>
        args.isLauncher
          ? 'Shared rich text'
          : args.room
            ? `Open Room ${String(args.room)}`
            : 'Open Shared Rich-Text Room…',
      caption: 'Edit a rich-text document together, live',
      icon: args => (args.isPalette ? undefined : roomIcon),
      describedBy: {
        args: {
          type: 'object',
          properties: {
            room: {
              type: 'string',
              description: 'The room name; asked for when absent.'
            }
          }
        }
      },
      execute: async args => {
        let room = typeof args.room === 'string' ? args.room : '';
        if (!room) {
          const result = await InputDialog.getText({
            title: 'Open shared rich-text room',
            label: 'Room name',
            placeholder: 'notes',
            pattern: '(?!\\.+$)[A-Za-z0-9._~:\\-]{1,128}',
            required: true
          });
          if (!result.button.accept || !result.value) {
            return null;
          }
          room = result.value;
        }
        try {
          validateRoomName(room);
        } catch (error) {
          await showErrorMessage('Cannot open room', error as Error);
          return null;
        }
        const open = tracker.find(widget => widget.content.room === room);
        if (open) {
          app.shell.activateById(open.id);
          return open;
        }
        const widget = createRoomWidget({
          room,
          users: app.serviceManager.user,
          serverSettings: app.serviceManager.serverSettings
        });
        await tracker.add(widget);
        app.shell.add(widget, 'main');
        app.shell.activateById(widget.id);
        return widget;
      }
    });

    palette?.addItem({
      command: CommandIDs.openRoom,
      category: 'Collaboration'
    });
    launcher?.add({
      command: CommandIDs.openRoom,
      category: 'Other',
      rank: 10,
      args: { isLauncher: true }
    });
    if (restorer) {
      void restorer.restore(tracker, {
        command: CommandIDs.openRoom,
        args: widget => ({ room: widget.content.room }),
        name: widget => widget.content.room
      });
    }
  }
};

export default [widgetPlugin, panelPlugin];
