/**
 * RoomConnection: one peer's connection to a room on the Jupyter server, over
 * y-websocket: its replica, its connection state, why the server closed it,
 * whether the server refused its edits, and who else is in the room.
 *
 * Where the websocket cannot connect (a proxy that refuses or strips the
 * upgrade), the same replica and presence go over HTTP (`HttpProvider`)
 * while the websocket is tried again in the background; it takes over once
 * it opens. `FallbackMachine` (`channel.ts`) decides; `channel` says which
 * one is live.
 *
 * Nothing here knows about the editor: any Yjs binding (Quill today) can be
 * put on `doc` and `awareness`.
 */

import { ServerConnection } from '@jupyterlab/services';
import { ITranslator, nullTranslator } from '@jupyterlab/translation';
import { IDisposable } from '@lumino/disposable';
import { ISignal, Signal } from '@lumino/signaling';
import type { Awareness } from 'y-protocols/awareness';
import * as authProtocol from 'y-protocols/auth';
import { WebsocketProvider, messageAuth, messageSync } from 'y-websocket';
import * as Y from 'yjs';

import { Channel, FallbackAction, FallbackMachine, Transport } from './channel';
import { HttpProvider } from './httpprovider';
import { IUser, anonymousUser } from './identity';
import { IPeer, IPerson, groupPeople, listPeers } from './people';
import {
  ROOMS_ROUTE,
  SyncMessageType,
  syncStep1Message,
  validateRoomName
} from './protocol';
import {
  ConnectionStatus,
  SocketStatus,
  Translation,
  closedMessage,
  connectionStatus
} from './status';

/**
 * A connection to one room.
 *
 * ```ts
 * const connection = new RoomConnection({ room: 'notes', user: { name: 'Ada', color: '#e67e22' } });
 * connection.statusChanged.connect((_, status) => console.log(status));
 * const text = connection.doc.getText(ROOT_TEXT);
 * connection.dispose();
 * ```
 */
export class RoomConnection implements IDisposable {
  constructor(options: RoomConnection.IOptions) {
    this.room = validateRoomName(options.room);
    this.doc = options.doc ?? new Y.Doc();
    this._trans = (options.translator ?? nullTranslator).load('jupyter_ysync');
    const settings = options.serverSettings ?? ServerConnection.makeSettings();
    this._settings = settings;
    this._fallback = new FallbackMachine({ transport: options.transport });
    this.provider = new WebsocketProvider(
      settings.wsUrl + ROOMS_ROUTE,
      this.room,
      this.doc,
      {
        params: settings.token ? { token: settings.token } : {},
        // Every update goes through the server, the room's hub: it enforces
        // read-only access and stores history, which cross-tab
        // BroadcastChannel sync would bypass.
        disableBc: true,
        // Join only once peers can be told who we are (see below).
        connect: false
      }
    );
    // y-websocket only logs the server's permission-denied message (sent
    // once, when a read-only peer tries to write): report it instead.
    this.provider.messageHandlers[messageAuth] = (_encoder, decoder) =>
      authProtocol.readAuthMessage(decoder, this.doc, (_doc, reason) =>
        this._onPermissionDenied(reason)
      );
    // Count the server's sync step 2 answers, for `flush`.
    const applySync = this.provider.messageHandlers[messageSync];
    this.provider.messageHandlers[messageSync] = (
      encoder,
      decoder,
      provider,
      emitSynced,
      messageType
    ) => {
      // The sync message type is one byte (0-2), not consumed here.
      const syncType = decoder.arr[decoder.pos];
      applySync(encoder, decoder, provider, emitSynced, messageType);
      if (syncType === SyncMessageType.SYNC_STEP2) {
        this._onSyncStep2();
      }
    };
    this.provider.on('status', this._onStatus);
    this.provider.on('sync', this._onSync);
    this.provider.on('closed', this._onClosed);
    this.provider.on('connection-close', this._onSocketClose);
    this.provider.awareness.on('change', this._onAwarenessChange);
    // A closing websocket tells the others this peer left; HTTP has to say it.
    window.addEventListener('pagehide', this._onPageHide);

    void Promise.resolve(options.user ?? anonymousUser())
      .catch(() => anonymousUser())
      .then(user => {
        if (!this._isDisposed) {
          this.setUser(user);
          this._run(this._fallback.start());
        }
      });
  }

  /** The room name. */
  readonly room: string;
  /** This peer's replica of the room. */
  readonly doc: Y.Doc;
  readonly provider: WebsocketProvider;

  /** This peer's and the other peers' presence. */
  get awareness(): Awareness {
    return this.provider.awareness;
  }

  /** The connection state. */
  get status(): ConnectionStatus {
    return this._status;
  }

  /**
   * The channel that carries the room: the websocket, or HTTP while the
   * websocket cannot connect. `statusChanged` is emitted when it changes.
   */
  get channel(): Channel {
    return this._fallback.channel;
  }

  /** The HTTP channel while it is live, else null. */
  get http(): HttpProvider | null {
    return this._http;
  }

  /**
   * Why the server closed the room for good (close codes 4400-4499), e.g.
   * `disconnected: room deleted (4404)`; null while it has not.
   */
  get closedReason(): string | null {
    return this._closedReason;
  }

  /** The close code with which the server closed the room for good, if it did. */
  get closeCode(): number | null {
    return this._closeCode;
  }

  /** Emitted when `status` or `closedReason` changes. */
  get statusChanged(): ISignal<this, ConnectionStatus> {
    return this._statusChanged;
  }

  /** The server's reason, once it refused this peer's edits; null until then. */
  get writeDenied(): string | null {
    return this._writeDenied;
  }

  /** Emitted once, with the reason, when the server refuses this peer's edits. */
  get writeDeniedChanged(): ISignal<this, string> {
    return this._writeDeniedChanged;
  }

  /** Every peer (connection) in the room, this one first. */
  get peers(): IPeer[] {
    return listPeers(this.provider.awareness.getStates(), this.doc.clientID);
  }

  /** Everyone in the room, one entry per person or kernel, you first. */
  get people(): IPerson[] {
    return groupPeople(this.peers);
  }

  /** Emitted when peers join, leave or change their presence. */
  get peersChanged(): ISignal<this, RoomConnection.IPeersChange> {
    return this._peersChanged;
  }

  get isDisposed(): boolean {
    return this._isDisposed;
  }

  /** Change the name and colour other peers see. */
  setUser(user: IUser): void {
    this.provider.awareness.setLocalStateField('user', { ...user });
  }

  /**
   * Resolve once the server has applied every update this peer sent so far:
   * a sync step 1 sent now is answered (sync step 2) only after them, as the
   * server handles each connection's messages in order. Waits for the first
   * sync when the connection is (re)connecting.
   *
   * ```ts
   * await connection.flush(); // the room now holds this peer's edits
   * ```
   *
   * @param timeout How long to wait in all, in ms.
   * @throws Error when the room is not synced within `timeout`, or closes.
   */
  async flush(timeout = 10000): Promise<void> {
    const deadline = Date.now() + timeout;
    const failure = (): Error =>
      new Error(
        this._trans.__(
          'Not connected to room %1: your latest edits have not reached the server yet.',
          this.room
        )
      );
    while (this._status !== 'synced') {
      if (this._closedReason !== null || this._isDisposed) {
        throw new Error(this._closedReason ?? failure().message);
      }
      const left = deadline - Date.now();
      if (left <= 0) {
        throw failure();
      }
      await new Promise<void>(resolve => {
        const done = (): void => {
          window.clearTimeout(timer);
          this._statusChanged.disconnect(done);
          resolve();
        };
        const timer = window.setTimeout(done, left);
        this._statusChanged.connect(done);
      });
    }
    if (this._http !== null && this.channel === 'http') {
      // Each POST is answered once the update is stored.
      await this._http.flush(Math.max(deadline - Date.now(), 0));
      return;
    }
    const ws = this.provider.ws;
    if (ws === null) {
      throw failure();
    }
    const answered = new Promise<void>((resolve, reject) => {
      const timer = window.setTimeout(
        () => {
          this._flushes.delete(waiter);
          reject(failure());
        },
        Math.max(deadline - Date.now(), 0)
      );
      const waiter = (error?: Error): void => {
        window.clearTimeout(timer);
        if (error) {
          reject(error);
        } else {
          resolve();
        }
      };
      this._flushes.add(waiter);
    });
    ws.send(syncStep1Message(Y.encodeStateVector(this.doc)));
    await answered;
  }

  dispose(): void {
    if (this._isDisposed) {
      return;
    }
    this._isDisposed = true;
    this._failFlushes(new Error('disposed'));
    this.provider.awareness.off('change', this._onAwarenessChange);
    this.provider.off('status', this._onStatus);
    this.provider.off('sync', this._onSync);
    this.provider.off('closed', this._onClosed);
    this.provider.off('connection-close', this._onSocketClose);
    window.clearTimeout(this._probeTimer);
    window.removeEventListener('pagehide', this._onPageHide);
    this._fallback.close();
    // Tells the other peers we left (awareness removal) and stops the requests.
    this._stopHttp(true);
    // Tells the other peers we left (awareness removal) and closes the socket.
    this.provider.destroy();
    this.doc.destroy();
    Signal.clearData(this);
  }

  private _setStatus(status: ConnectionStatus, force = false): void {
    if (force || status !== this._status) {
      this._status = status;
      this._statusChanged.emit(status);
    }
  }

  /** The server dropped our edits: this peer may only read the room. */
  private _onPermissionDenied = (reason: string): void => {
    if (this._writeDenied !== null) {
      return;
    }
    this._writeDenied =
      reason || this._trans.__('read-only: your changes are not saved');
    this._writeDeniedChanged.emit(this._writeDenied);
  };

  /**
   * The server answered a sync step 1. Once synced, y-websocket sends none of
   * its own (no resync interval), so each answer is a flush's: they come back
   * in order.
   */
  private _onSyncStep2(): void {
    const [first] = this._flushes;
    if (first !== undefined && this.provider.synced) {
      this._flushes.delete(first);
      first();
    }
  }

  private _failFlushes(error: Error): void {
    const waiters = [...this._flushes];
    this._flushes.clear();
    waiters.forEach(waiter => waiter(error));
  }

  private _onStatus = ({ status }: { status: SocketStatus }): void => {
    if (status === 'connecting') {
      this._socketOpened = false;
    } else if (status === 'connected') {
      this._socketOpened = true;
      this._run(this._fallback.websocketOpened());
    }
    if (this.channel !== 'websocket') {
      return; // a probe: HTTP stays the channel until it opens
    }
    if (status !== 'connected') {
      // A step 1 sent on a closed socket is never answered.
      this._failFlushes(
        new Error(
          this._trans.__(
            'The connection to room %1 was lost before the server answered.',
            this.room
          )
        )
      );
    }
    if (status === 'connected') {
      // `sync` follows once the server answered sync step 1.
      const closed = this._closedReason !== null;
      this._closedReason = null;
      this._closeCode = null;
      this._setStatus(connectionStatus(status, this.provider.synced), closed);
    } else if (status === 'connecting' || status === 'disconnected') {
      this._setStatus(connectionStatus(status, false));
    }
  };

  private _onSync = (synced: boolean): void => {
    if (this.provider.wsconnected && this.channel === 'websocket') {
      this._setStatus(connectionStatus('connected', synced));
    }
  };

  /** The server refused the room for good (close codes 4400-4499). */
  private _onClosed = ({
    code,
    reason
  }: {
    code: number;
    reason: string;
  }): void => {
    this._closeCode = code;
    this._closedReason = closedMessage(code, reason, this._trans);
    this._run(this._fallback.close());
    this._setStatus('disconnected', true);
  };

  /**
   * The websocket closed: before it opened, the handshake failed (refused,
   * or stripped by a proxy); null when closed here (`disconnect`).
   */
  private _onSocketClose = (event: CloseEvent | null): void => {
    if (event === null) {
      return;
    }
    const opened = this._socketOpened;
    this._socketOpened = false;
    this._run(
      opened ? this._fallback.websocketLost() : this._fallback.websocketFailed()
    );
  };

  /** Carry out what the fallback decided. */
  private _run(actions: FallbackAction[]): void {
    for (const action of actions) {
      switch (action.kind) {
        case 'connect-websocket':
          this.provider.connect();
          break;
        case 'disconnect-websocket':
          this.provider.disconnect();
          break;
        case 'start-http':
          this._startHttp();
          break;
        case 'stop-http':
          this._stopHttp(false);
          if (this.provider.wsconnected) {
            // The websocket took over: show its state.
            this._setStatus(
              connectionStatus('connected', this.provider.synced),
              true
            );
          }
          break;
        case 'schedule-probe':
          window.clearTimeout(this._probeTimer);
          this._probeTimer = window.setTimeout(
            () => this._run(this._fallback.probeDue()),
            action.delay
          );
          break;
        case 'cancel-probe':
          window.clearTimeout(this._probeTimer);
          break;
      }
    }
  }

  private _startHttp(): void {
    if (this._http !== null || this._isDisposed) {
      return;
    }
    const settings = this._settings;
    this._http = new HttpProvider({
      url: `${settings.baseUrl}${ROOMS_ROUTE}/${this.room}`,
      doc: this.doc,
      awareness: this.provider.awareness,
      request: (url, init) => ServerConnection.makeRequest(url, init, settings),
      connect: false
    });
    this._http.on('status', this._onHttpStatus);
    this._http.on('sync', this._onHttpStatus);
    this._http.on('closed', this._onClosed);
    this._http.on('permission-denied', this._onPermissionDenied);
    this._setStatus('connecting', true);
    this._http.connect();
  }

  /**
   * Stop the HTTP channel; with `goodbye`, tell the others this peer left
   * (not when the websocket takes over: it carries the same state).
   */
  private _stopHttp(goodbye: boolean): void {
    const http = this._http;
    if (http === null) {
      return;
    }
    this._http = null;
    http.off('status', this._onHttpStatus);
    http.off('sync', this._onHttpStatus);
    http.off('closed', this._onClosed);
    http.off('permission-denied', this._onPermissionDenied);
    http.destroy({ goodbye });
  }

  private _onPageHide = (): void => {
    this._http?.goodbye();
  };

  private _onHttpStatus = (): void => {
    const http = this._http;
    if (http === null || this.channel !== 'http') {
      return;
    }
    if (http.status !== 'connected') {
      this._failFlushes(
        new Error(
          this._trans.__(
            'The connection to room %1 was lost before the server answered.',
            this.room
          )
        )
      );
    } else if (this._closedReason !== null) {
      this._closedReason = null;
      this._closeCode = null;
    }
    this._setStatus(connectionStatus(http.status, http.synced));
  };

  private _onAwarenessChange = (change: RoomConnection.IPeersChange): void => {
    this._peersChanged.emit(change);
  };

  private _trans: Translation;
  private _settings: ServerConnection.ISettings;
  private _fallback: FallbackMachine;
  private _http: HttpProvider | null = null;
  private _probeTimer = 0;
  /** Whether the current websocket opened (else its close is a failed handshake). */
  private _socketOpened = false;
  private _status: ConnectionStatus = 'connecting';
  private _closedReason: string | null = null;
  private _closeCode: number | null = null;
  /** Flushes waiting for the server's answer, oldest first. */
  private _flushes = new Set<(error?: Error) => void>();
  private _writeDenied: string | null = null;
  private _isDisposed = false;
  private _statusChanged = new Signal<this, ConnectionStatus>(this);
  private _writeDeniedChanged = new Signal<this, string>(this);
  private _peersChanged = new Signal<this, RoomConnection.IPeersChange>(this);
}

/** The RoomConnection namespace. */
export namespace RoomConnection {
  export interface IOptions {
    /** The room name (see `validateRoomName`). */
    room: string;
    /** The replica to sync. Default: a new `Y.Doc`. */
    doc?: Y.Doc;
    /**
     * Name and colour others see, e.g. `currentUser(users)`; the connection
     * opens once a promise resolves. Default: anonymous.
     */
    user?: IUser | Promise<IUser>;
    /** Where the Jupyter server is. Default `ServerConnection.makeSettings()`. */
    serverSettings?: ServerConnection.ISettings;
    /** For the messages the connection reports. Default: none (English). */
    translator?: ITranslator;
    /**
     * `auto` (default): the websocket, falling back to HTTP while it cannot
     * connect; `websocket` or `http`: that channel only.
     */
    transport?: Transport;
  }

  /** Which peers (client ids) joined, changed their presence or left. */
  export interface IPeersChange {
    added: number[];
    updated: number[];
    removed: number[];
  }
}
