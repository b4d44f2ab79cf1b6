import { Translation } from '../status';

/** Fill `%1`, `%2`... with `args`, as JupyterLab's translation bundles do. */
export function format(message: string, args: unknown[]): string {
  return message.replace(/%(\d+)/g, (_, index) =>
    String(args[Number(index) - 1])
  );
}

/** A language bundle that returns its input (as JupyterLab's nullTranslator does). */
export const english: Translation = {
  __: (message: string, ...args: unknown[]) => format(message, args),
  _n: (singular: string, plural: string, n: number, ...args: unknown[]) =>
    format(n === 1 ? singular : plural, [n, ...args])
};
