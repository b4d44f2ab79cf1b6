/**
 * The history commands: "Save version", "Version history" and "Show
 * authors", on the room panel or file document they are given (else the
 * current one), their toolbar buttons, and the side panel that follows the
 * current main-area widget.
 */

import { ILayoutRestorer, JupyterFrontEnd } from '@jupyterlab/application';
import { ICommandPalette, MainAreaWidget } from '@jupyterlab/apputils';
import { ITranslator, nullTranslator } from '@jupyterlab/translation';
import { CommandToolbarButton, Toolbar } from '@jupyterlab/ui-components';
import type { CommandRegistry } from '@lumino/commands';
import { Widget } from '@lumino/widgets';

import { AuthorsOverlay } from './authorsview';
import { YEditor } from './editor';
import { FileDocument } from './filedoc';
import {
  HistoryPanel,
  IRoomView,
  authorsIcon,
  historyIcon,
  saveVersionIcon
} from './historypanel';
import { RoomPanel } from './panel';
import { RoomHistory } from './roomhistory';

/** Command ids. */
export namespace HistoryCommandIDs {
  /** Record the room as a named version. Args: `{widgetId?: string}`. */
  export const saveVersion = 'ysync:save-version';
  /** Show the "Version history" side panel. */
  export const showHistory = 'ysync:show-history';
  /** Tint the editor's text by author. Args: `{widgetId?: string}`. */
  export const toggleAuthors = 'ysync:toggle-authors';
}

/**
 * The room editor of a main-area widget: a room panel's, or a file
 * document's once its room is open; null for any other widget.
 */
export function roomViewOf(widget: Widget | null): IRoomView | null {
  if (widget instanceof FileDocument) {
    const editor = widget.content.panel?.editor;
    return editor && !editor.isDisposed
      ? { editor, label: widget.context.path }
      : null;
  }
  if (widget instanceof MainAreaWidget && widget.content instanceof RoomPanel) {
    const editor = widget.content.editor;
    return editor.isDisposed ? null : { editor, label: widget.content.room };
  }
  return null;
}

/**
 * Add "Save version", "Version history" and "Show authors" to the toolbar of
 * a room panel or a file document; they act on that widget.
 */
export function addHistoryButtons(
  widget: MainAreaWidget,
  commands: CommandRegistry,
  translator?: ITranslator | null
): void {
  const trans = (translator ?? nullTranslator).load('jupyter_ysync');
  const args = { widgetId: widget.id };
  const toolbar: Toolbar = widget.toolbar;
  toolbar.addItem(
    'ysync-save-version',
    new CommandToolbarButton({
      commands,
      id: HistoryCommandIDs.saveVersion,
      args,
      label: trans.__('Save version')
    })
  );
  toolbar.addItem(
    'ysync-history',
    new CommandToolbarButton({
      commands,
      id: HistoryCommandIDs.showHistory,
      args,
      label: trans.__('History')
    })
  );
  toolbar.addItem(
    'ysync-authors',
    new CommandToolbarButton({
      commands,
      id: HistoryCommandIDs.toggleAuthors,
      args,
      label: trans.__('Authors')
    })
  );
  if (widget instanceof FileDocument) {
    // The buttons are enabled once the file's room is open.
    void widget.content.ready.then(notifyHistoryCommands(commands), () => {
      // The document says why it cannot open.
    });
  }
}

/** Tell the buttons and menus of the history commands to look again. */
function notifyHistoryCommands(commands: CommandRegistry): () => void {
  return () => {
    commands.notifyCommandChanged(HistoryCommandIDs.saveVersion);
    commands.notifyCommandChanged(HistoryCommandIDs.showHistory);
    commands.notifyCommandChanged(HistoryCommandIDs.toggleAuthors);
  };
}

/**
 * Add the history panel (right side) and its commands to `app`; returns the
 * panel.
 */
export function activateHistory(
  app: JupyterFrontEnd,
  options: {
    palette?: ICommandPalette | null;
    restorer?: ILayoutRestorer | null;
    translator?: ITranslator | null;
  } = {}
): HistoryPanel {
  const { palette, restorer } = options;
  const translator = options.translator ?? null;
  const trans = (translator ?? nullTranslator).load('jupyter_ysync');
  const serverSettings = app.serviceManager.serverSettings;
  const panel = new HistoryPanel({
    serverSettings,
    translator: translator ?? undefined
  });
  const overlays = new Map<YEditor, AuthorsOverlay>();

  /** The room of the widget a command was given, else of the current one. */
  const roomOf = (args: { widgetId?: unknown }): IRoomView | null => {
    let widget: Widget | null = app.shell.currentWidget;
    if (typeof args.widgetId === 'string') {
      for (const candidate of app.shell.widgets('main')) {
        if (candidate.id === args.widgetId) {
          widget = candidate;
          break;
        }
      }
    }
    return roomViewOf(widget);
  };

  const follow = (): void => {
    const widget = app.shell.currentWidget;
    const room = roomViewOf(widget);
    panel.setRoom(room);
    if (!room && widget instanceof FileDocument) {
      // Its room opens after the tab: show it once it is there.
      void widget.content.ready.then(() => {
        if (app.shell.currentWidget === widget) {
          panel.setRoom(roomViewOf(widget));
        }
      });
    }
    // Editors closed since: their overlays go with them.
    for (const [editor, overlay] of overlays) {
      if (editor.isDisposed) {
        overlay.dispose();
        overlays.delete(editor);
      }
    }
    notifyHistoryCommands(app.commands)();
  };

  app.commands.addCommand(HistoryCommandIDs.saveVersion, {
    label: trans.__('Save Version…'),
    caption: trans.__('Record the document as it is now, under a name'),
    icon: saveVersionIcon,
    isEnabled: args => roomOf(args) !== null,
    execute: async args => {
      const room = roomOf(args);
      if (!room) {
        return null;
      }
      panel.setRoom(room);
      return panel.saveVersion();
    }
  });

  app.commands.addCommand(HistoryCommandIDs.showHistory, {
    label: trans.__('Version History'),
    caption: trans.__('Versions of this document: preview, changes, restore'),
    icon: historyIcon,
    execute: args => {
      const room = roomOf(args);
      if (room) {
        panel.setRoom(room);
      }
      app.shell.activateById(panel.id);
    }
  });

  app.commands.addCommand(HistoryCommandIDs.toggleAuthors, {
    label: trans.__('Show Authors'),
    caption: trans.__('Tint the text by who wrote it'),
    icon: authorsIcon,
    isEnabled: args => roomOf(args) !== null,
    isToggled: args => {
      const room = roomOf(args);
      return room !== null && overlays.has(room.editor);
    },
    execute: args => {
      const room = roomOf(args);
      if (!room) {
        return;
      }
      const editor = room.editor;
      const overlay = overlays.get(editor);
      if (overlay) {
        overlay.dispose();
        overlays.delete(editor);
      } else {
        overlays.set(
          editor,
          new AuthorsOverlay({
            editor,
            history: new RoomHistory({ room: editor.room, serverSettings }),
            translator: translator ?? undefined
          })
        );
      }
      app.commands.notifyCommandChanged(HistoryCommandIDs.toggleAuthors);
    }
  });

  for (const command of [
    HistoryCommandIDs.saveVersion,
    HistoryCommandIDs.showHistory,
    HistoryCommandIDs.toggleAuthors
  ]) {
    palette?.addItem({ command, category: trans.__('Collaboration') });
  }
  app.shell.add(panel, 'right', { rank: 600 });
  // Reopened on reload if it was open.
  restorer?.add(panel, 'ysync-history');
  app.shell.currentChanged?.connect(follow);
  void app.restored.then(follow);
  return panel;
}
