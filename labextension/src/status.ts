/**
 * A room connection's state, and the status line an editor shows under the
 * text: `notes · synced · 2 people · 1 kernel · read-only`, or
 * `notes · synced · HTTP (websocket blocked) · 1 person` while the room goes
 * over HTTP. Pure functions, no DOM.
 */

import type { TranslationBundle } from '@jupyterlab/translation';

import type { Channel } from './channel';
import type { IHeadcount } from './people';

/** The connection state, as shown in the status line and the widget's `status` trait. */
export type ConnectionStatus =
  'connecting' | 'connected' | 'synced' | 'disconnected';

/** The websocket states y-websocket reports in its `status` event. */
export type SocketStatus = 'connecting' | 'connected' | 'disconnected';

/** The part of a `TranslationBundle` the status line uses. */
export type Translation = Pick<TranslationBundle, '__' | '_n'>;

/**
 * The connection state from the socket's state and whether the first sync
 * (the server's answer to sync step 1) arrived on this connection.
 */
export function connectionStatus(
  socket: SocketStatus,
  synced: boolean
): ConnectionStatus {
  if (socket === 'connected') {
    return synced ? 'synced' : 'connected';
  }
  return socket;
}

/**
 * Why the server closed the room for good, e.g.
 * `disconnected: room deleted (4404)`.
 */
export function closedMessage(
  code: number,
  reason: string,
  trans: Translation
): string {
  return trans.__(
    'disconnected: %1 (%2)',
    reason || trans.__('closed by the server'),
    code
  );
}

/** A connection state in words. */
export function statusLabel(
  status: ConnectionStatus,
  trans: Translation
): string {
  switch (status) {
    case 'connecting':
      return trans.__('connecting');
    case 'connected':
      return trans.__('connected');
    case 'synced':
      return trans.__('synced');
    case 'disconnected':
      return trans.__('disconnected');
  }
}

/** The channel in words: `websocket`, or `HTTP (websocket blocked)`. */
export function channelLabel(channel: Channel, trans: Translation): string {
  return channel === 'http'
    ? trans.__('HTTP (websocket blocked)')
    : trans.__('websocket');
}

/** What the status line shows. */
export interface IStatusLine {
  /** What the editor shows: the room name, or a file's path. */
  room: string;
  status: ConnectionStatus;
  /** Why the server refused the room for good (see `closedMessage`), if it did. */
  closed: string | null;
  /** More about the room, after its state, e.g. a file's `saved`. */
  detail?: string | null;
  headcount: IHeadcount;
  readOnly: boolean;
  /**
   * The live channel. Only HTTP is shown in the line (after the state): the
   * websocket is the usual one. Default: the websocket.
   */
  channel?: Channel;
}

/**
 * The status line: room, state (or why the room was closed), the detail if
 * any, people, kernels when there are any, and whether this peer may only
 * read.
 */
export function statusLine(line: IStatusLine, trans: Translation): string {
  const { people, kernels } = line.headcount;
  const parts = [line.room, line.closed ?? statusLabel(line.status, trans)];
  if (line.channel === 'http' && line.closed === null) {
    parts.push(channelLabel(line.channel, trans));
  }
  if (line.detail) {
    parts.push(line.detail);
  }
  parts.push(trans._n('%1 person', '%1 people', people));
  if (kernels > 0) {
    parts.push(trans._n('%1 kernel', '%1 kernels', kernels));
  }
  if (line.readOnly) {
    parts.push(trans.__('read-only'));
  }
  return parts.join(' · ');
}
