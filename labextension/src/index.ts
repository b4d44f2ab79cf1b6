/**
 * JupyterLab / Notebook 7 plugins: one per capability.
 *
 * - `jupyter-ysync:widget` registers the `Editor` ipywidget.
 * - `jupyter-ysync:panel` adds the `ysync:open-room` command, its palette
 *   and launcher entries, and restores open rooms on reload.
 * - `jupyter-ysync:files` opens Markdown and HTML files as collaborative
 *   rich-text documents ("Open With" > "Rich Text (collaborative)").
 * - `jupyter-ysync:history` adds the "Version history" side panel, and the
 *   "Save version", "History" and "Show authors" commands that the room
 *   panel's and the file document's toolbars hold.
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
import { IDocumentWidget } from '@jupyterlab/docregistry';
import { Contents, IDefaultDrive } from '@jupyterlab/services';
import {
  ITranslator,
  TranslationBundle,
  nullTranslator
} from '@jupyterlab/translation';

import {
  CONTENT_PROVIDER_ID,
  FACTORY_NAME,
  FILE_TYPES,
  FileContentProvider,
  FileDocument,
  FileDocumentFactory,
  FileModelFactory,
  MODEL_NAME
} from './filedoc';
import { activateHistory, addHistoryButtons } from './historycommands';
import { RoomPanel, createRoomWidget, roomIcon } from './panel';
import { InvalidRoomName, ROOM_NAME_RULE, validateRoomName } from './protocol';
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
  optional: [ITranslator],
  activate: (
    app: JupyterFrontEnd,
    registry: IJupyterWidgetRegistry,
    translator: ITranslator | null
  ): void => {
    registry.registerWidget({
      name: MODULE_NAME,
      version: MODULE_VERSION,
      exports: {
        EditorModel,
        EditorView: bindEditorView(app.serviceManager.user, translator)
      }
    });
  }
};

/** Why `name` is no room name, in the user's language. */
function roomNameProblem(name: string, trans: TranslationBundle): string {
  return trans.__(
    'Invalid room name %1: use %2, for example %3 or %4.',
    JSON.stringify(name),
    trans.__(ROOM_NAME_RULE),
    "'notes'",
    "'team:plan'"
  );
}

/**
 * Ask for a room name until the user gives a valid one (without surrounding
 * spaces) or cancels; a refused name is explained, then offered again.
 */
async function askRoomName(trans: TranslationBundle): Promise<string | null> {
  let value = '';
  for (;;) {
    const result = await InputDialog.getText({
      title: trans.__('Open shared rich-text room'),
      label: trans.__('Room name: %1', trans.__(ROOM_NAME_RULE)),
      placeholder: 'notes',
      text: value,
      okLabel: trans.__('Open')
    });
    if (!result.button.accept || result.value === null) {
      return null;
    }
    value = result.value;
    try {
      return validateRoomName(value);
    } catch (error) {
      if (!(error instanceof InvalidRoomName)) {
        throw error;
      }
      await showErrorMessage(
        trans.__('Cannot open room'),
        roomNameProblem(value, trans)
      );
    }
  }
}

const panelPlugin: JupyterFrontEndPlugin<void> = {
  id: 'jupyter-ysync:panel',
  description: 'Open a shared rich-text room in the main area.',
  autoStart: true,
  optional: [ICommandPalette, ILauncher, ILayoutRestorer, ITranslator],
  activate: (
    app: JupyterFrontEnd,
    palette: ICommandPalette | null,
    launcher: ILauncher | null,
    restorer: ILayoutRestorer | null,
    translator: ITranslator | null
  ): void => {
    const trans = (translator ?? nullTranslator).load('jupyter_ysync');
    const tracker = new WidgetTracker<MainAreaWidget<RoomPanel>>({
      namespace: 'ysync-room'
    });

    app.commands.addCommand(CommandIDs.openRoom, {
      label: args =>
        args.isLauncher
          ? trans.__('Shared rich text')
          : args.room
            ? trans.__('Open Room %1', String(args.room))
            : trans.__('Open Shared Rich-Text Room…'),
      caption: trans.__('Edit a rich-text document together, live'),
      icon: args => (args.isPalette ? undefined : roomIcon),
      describedBy: {
        args: {
          type: 'object',
          properties: {
            room: {
              type: 'string',
              description: trans.__('The room name; asked for when absent.')
            }
          }
        }
      },
      execute: async args => {
        let room: string;
        if (typeof args.room === 'string' && args.room) {
          try {
            room = validateRoomName(args.room);
          } catch (error) {
            await showErrorMessage(
              trans.__('Cannot open room'),
              error instanceof InvalidRoomName
                ? roomNameProblem(args.room, trans)
                : (error as Error)
            );
            return null;
          }
        } else {
          const asked = await askRoomName(trans);
          if (asked === null) {
            return null;
          }
          room = asked;
        }
        const open = tracker.find(widget => widget.content.room === room);
        if (open) {
          app.shell.activateById(open.id);
          return open;
        }
        const widget = createRoomWidget({
          room,
          users: app.serviceManager.user,
          serverSettings: app.serviceManager.serverSettings,
          translator: translator ?? undefined
        });
        addHistoryButtons(widget, app.commands, translator);
        await tracker.add(widget);
        app.shell.add(widget, 'main');
        app.shell.activateById(widget.id);
        return widget;
      }
    });

    palette?.addItem({
      command: CommandIDs.openRoom,
      category: trans.__('Collaboration')
    });
    launcher?.add({
      command: CommandIDs.openRoom,
      // JupyterLab's own "Other" section, in the user's language.
      category: (translator ?? nullTranslator).load('jupyterlab').__('Other'),
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

const filesPlugin: JupyterFrontEndPlugin<void> = {
  id: 'jupyter-ysync:files',
  description:
    'Open Markdown and HTML files as collaborative rich-text documents.',
  autoStart: true,
  optional: [IDefaultDrive, ILayoutRestorer, ITranslator],
  activate: (
    app: JupyterFrontEnd,
    drive: Contents.IDrive | null,
    restorer: ILayoutRestorer | null,
    translator: ITranslator | null
  ): void => {
    const trans = (translator ?? nullTranslator).load('jupyter_ysync');
    const providers = drive?.contentProviderRegistry;
    if (!providers) {
      console.warn(
        'jupyter-ysync: this JupyterLab has no content providers (4.4 or later' +
          ' is needed); Markdown and HTML files cannot open as rooms.'
      );
      return;
    }
    const files = new FileContentProvider({
      serverSettings: app.serviceManager.serverSettings
    });
    providers.register(CONTENT_PROVIDER_ID, files);
    app.docRegistry.addModelFactory(new FileModelFactory());
    const factory = new FileDocumentFactory({
      name: FACTORY_NAME,
      label: trans.__('Rich Text (collaborative)'),
      modelName: MODEL_NAME,
      fileTypes: FILE_TYPES,
      contentProviderId: CONTENT_PROVIDER_ID,
      files,
      users: app.serviceManager.user,
      translator: translator ?? undefined
    });
    app.docRegistry.addWidgetFactory(factory);

    const tracker = new WidgetTracker<FileDocument>({
      namespace: 'ysync-file'
    });
    factory.widgetCreated.connect((_, widget) => {
      const fileType = app.docRegistry.getFileTypesForPath(
        widget.context.path
      )[0];
      if (fileType?.icon) {
        widget.title.icon = fileType.icon;
      }
      addHistoryButtons(widget, app.commands, translator);
      void tracker.add(widget);
      widget.context.pathChanged.connect(() => void tracker.save(widget));
    });
    if (restorer) {
      void restorer.restore(tracker, {
        command: 'docmanager:open',
        args: (widget: IDocumentWidget) => ({
          path: widget.context.path,
          factory: FACTORY_NAME
        }),
        name: (widget: IDocumentWidget) => widget.context.path
      });
    }

    // JupyterLab's HTML viewer registers the `html` file type; without it,
    // .html files would have no type to open with.
    void app.restored.then(() => {
      if (!app.docRegistry.getFileType('html')) {
        app.docRegistry.addFileType({
          name: 'html',
          contentType: 'file',
          fileFormat: 'text',
          displayName: trans.__('HTML File'),
          extensions: ['.html', '.htm'],
          mimeTypes: ['text/html']
        });
      }
    });
  }
};

const historyPlugin: JupyterFrontEndPlugin<void> = {
  id: 'jupyter-ysync:history',
  description:
    "A room's versions (save, preview, diff, restore) and who wrote what.",
  autoStart: true,
  optional: [ICommandPalette, ILayoutRestorer, ITranslator],
  activate: (
    app: JupyterFrontEnd,
    palette: ICommandPalette | null,
    restorer: ILayoutRestorer | null,
    translator: ITranslator | null
  ): void => {
    activateHistory(app, { palette, restorer, translator });
  }
};

export default [widgetPlugin, panelPlugin, filesPlugin, historyPlugin];
