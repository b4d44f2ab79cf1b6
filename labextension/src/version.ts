/**
 * The widget module's name and version, read from package.json so that they
 * have one source of truth (the Python side reads the same file).
 */

// package.json lies outside `rootDir`, so it cannot be imported as a module;
// the bundler resolves this `require` at build time.
declare const require: (path: string) => { name: string; version: string };

const data = require('../package.json');

/** The npm package name, also the ipywidgets module name. */
export const MODULE_NAME: string = data.name;

/** The npm package version, also the ipywidgets module version. */
export const MODULE_VERSION: string = data.version;
