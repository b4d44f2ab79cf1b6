/**
 * RoomHistory: the requests of a room's history (its versions, a version's
 * content, who wrote the current text) to the jupyter_ysync server, under
 * Jupyter's authentication. The contract and the parsing are in
 * `versions.ts` and `authors.ts`.
 */

import { ServerConnection } from '@jupyterlab/services';
import type Delta from 'quill-delta';

import { IAuthorship, parseAuthorship } from './authors';
import {
  IVersion,
  parseVersion,
  parseVersionContent,
  parseVersions,
  roomUrl,
  versionContentUrl
} from './versions';

/**
 * One room's history on the server.
 *
 * ```ts
 * const history = new RoomHistory({ room: 'notes' });
 * await history.save('sent to review');
 * const [latest] = await history.versions();
 * const delta = await history.content(latest.id);
 * ```
 */
export class RoomHistory {
  constructor(options: RoomHistory.IOptions) {
    this.room = options.room;
    this.serverSettings =
      options.serverSettings ?? ServerConnection.makeSettings();
  }

  readonly room: string;
  readonly serverSettings: ServerConnection.ISettings;

  /** The room's versions, newest first. */
  async versions(): Promise<IVersion[]> {
    return parseVersions(await this._request('versions', { method: 'GET' }));
  }

  /** Record the room as it is now, as a version named `name`. */
  async save(name: string): Promise<IVersion> {
    return parseVersion(
      await this._request('versions', {
        method: 'POST',
        body: JSON.stringify({ name })
      })
    );
  }

  /** The text of version `id`, as a Quill document. */
  async content(id: number): Promise<Delta> {
    return parseVersionContent(
      await this._fetch(
        versionContentUrl(this.serverSettings.baseUrl, this.room, id),
        { method: 'GET' }
      )
    );
  }

  /** Who wrote which ranges of the current text. */
  async authors(): Promise<IAuthorship> {
    return parseAuthorship(await this._request('authors', { method: 'GET' }));
  }

  private _request(route: string, init: RequestInit): Promise<unknown> {
    return this._fetch(
      roomUrl(this.serverSettings.baseUrl, this.room, route),
      init
    );
  }

  private async _fetch(url: string, init: RequestInit): Promise<unknown> {
    const response = await ServerConnection.makeRequest(
      url,
      init,
      this.serverSettings
    );
    if (!response.ok) {
      // Its `message` is the server's (e.g. "no version 7 in room 'notes'").
      throw await ServerConnection.ResponseError.create(response);
    }
    return response.json();
  }
}

/** The RoomHistory namespace. */
export namespace RoomHistory {
  export interface IOptions {
    room: string;
    /** Where the Jupyter server is. Default `ServerConnection.makeSettings()`. */
    serverSettings?: ServerConnection.ISettings;
  }
}
