/**
 * Who the local user is in a room: a name and a colour for remote carets and
 * the people list, taken from JupyterLab's identity unless overridden.
 */

import { User } from '@jupyterlab/services';

/** The awareness field `user` (the y-quill / quill-cursors convention). */
export interface IUser {
  readonly name: string;
  readonly color: string;
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

/** A name and colour for a user JupyterLab cannot tell us about. */
export function anonymousUser(): IUser {
  const color =
    FALLBACK_COLORS[Math.floor(Math.random() * FALLBACK_COLORS.length)];
  return { name: 'Anonymous', color };
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
  return { name, color };
}
