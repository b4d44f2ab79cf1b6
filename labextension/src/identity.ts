/**
 * Who the local user is in a room: a name and a colour for remote carets and
 * the people list, taken from JupyterLab's identity unless overridden.
 */

import { User } from '@jupyterlab/services';

/**
 * The awareness field `user` (the y-quill / quill-cursors convention), plus
 * the `username` that tells one person's peers apart from another's.
 */
export interface IUser {
  readonly name: string;
  readonly color: string;
  /** JupyterLab's username; one person's widgets and panels share it. */
  readonly username?: string;
}

/** Colours for peers whose identity is unknown. */
const FALLBACK_COLORS = [
  '#e67e22',
  '#2980b9',
  '#27ae60',
  '#8e44ad',
  '#c0392b',
  '#16a085'
];

/** This page's anonymous user, chosen on first use. */
let pageAnonymous: IUser | null = null;

/**
 * A name and colour for a user JupyterLab cannot tell us about: the same for
 * every editor of this page, so that they count as one person.
 */
export function anonymousUser(): IUser {
  if (pageAnonymous === null) {
    const color =
      FALLBACK_COLORS[Math.floor(Math.random() * FALLBACK_COLORS.length)];
    const username = `anonymous-${Math.random().toString(36).slice(2, 10)}`;
    pageAnonymous = { name: 'Anonymous', color, username };
  }
  return pageAnonymous;
}

/**
 * Resolve any CSS colour, including `var(--jp-collaborator-color1)`, to
 * `#rrggbb`, because awareness states travel to peers (other browsers, Python)
 * that do not have JupyterLab's CSS variables.
 */
export function resolveColor(value: string): string {
  const probe = document.createElement('span');
  probe.style.display = 'none';
  probe.style.color = value;
  document.body.appendChild(probe);
  const computed = getComputedStyle(probe).color;
  probe.remove();
  const rgb = computed.match(/\d+(\.\d+)?/g);
  if (!probe.style.color || !rgb || rgb.length < 3) {
    return value;
  }
  return (
    '#' +
    rgb
      .slice(0, 3)
      .map(c => Math.round(Number(c)).toString(16).padStart(2, '0'))
      .join('')
  );
}

/**
 * The local user: explicit overrides first, then JupyterLab's identity, then
 * an anonymous fallback.
 *
 * @param users JupyterLab's user manager, if the host application has one.
 * @param override name and/or colour chosen by the caller (e.g. the widget).
 */
export async function currentUser(
  users: User.IManager | null,
  override: Partial<IUser> = {}
): Promise<IUser> {
  const fallback = anonymousUser();
  let identity: User.IIdentity | null = null;
  if (users && !(override.name && override.color)) {
    try {
      await users.ready;
      identity = users.identity;
    } catch (reason) {
      console.warn(
        'jupyter-ysync: no JupyterLab identity, using a fallback',
        reason
      );
    }
  }
  const name =
    override.name || identity?.display_name || identity?.name || fallback.name;
  const color = resolveColor(
    override.color || identity?.color || fallback.color
  );
  // A name chosen by the caller is another identity: only JupyterLab's own
  // is grouped with this person's other editors.
  const username = override.name
    ? undefined
    : identity?.username || fallback.username;
  return username ? { name, color, username } : { name, color };
}
