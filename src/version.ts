/** The package version, for `--version` and the admin listener's `/status`. */
export const VERSION: string = (require('../package.json') as { version: string }).version;
