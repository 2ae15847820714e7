/**
 * Pure edits of the Docker daemon's daemon.json `authorization-plugins` list. No file I/O here: the caller reads the
 * text (undefined when the file is absent) and writes what comes back.
 */

export const AUTHZ_KEY = 'authorization-plugins';

/** daemon.json as parsed: every key kept as it was, with the authorization plugin chain pulled out for editing. */
export interface DaemonConfig {
  readonly document: Readonly<Record<string, unknown>>;
  /** The spelling this file uses for `authorization-plugins`. */
  readonly key: string;
  readonly plugins: readonly string[];
}

export type ParsedDaemonConfig = { ok: true; config: DaemonConfig } | { ok: false; error: string };

export interface ConfigEdit {
  readonly config: DaemonConfig;
  /** False when the file already said what we wanted: nothing to write, nothing to reload. */
  readonly changed: boolean;
}

export const isRecord = (value: unknown): value is Record<string, unknown> =>
  typeof value === 'object' && value !== null && !Array.isArray(value);

const isStringList = (value: unknown): value is string[] =>
  Array.isArray(value) && value.every((item) => typeof item === 'string');

/** Parses daemon.json text; `undefined` (no file) is an empty configuration. What dockerd would reject is an error. */
export function parseDaemonConfig(text: string | undefined): ParsedDaemonConfig {
  if (text === undefined || text.trim() === '') return { ok: true, config: { document: {}, key: AUTHZ_KEY, plugins: [] } };
  let document: unknown;
  try {
    document = JSON.parse(text);
  } catch (error) {
    return { ok: false, error: `it is not valid JSON (${(error as Error).message})` };
  }
  if (!isRecord(document)) return { ok: false, error: 'it is not a JSON object' };
  // dockerd decodes daemon.json with Go's encoding/json, which matches keys case-insensitively. Two spellings at once
  // would leave it to key order which list the daemon uses, so we refuse rather than guess.
  const keys = Object.keys(document).filter((key) => key.toLowerCase() === AUTHZ_KEY);
  if (keys.length > 1) return { ok: false, error: `it spells "${AUTHZ_KEY}" more than once (${keys.join(', ')})` };
  const key = keys[0] ?? AUTHZ_KEY;
  const plugins = document[key] ?? [];
  if (!isStringList(plugins)) return { ok: false, error: `"${key}" must be a list of plugin names` };
  return { ok: true, config: { document, key, plugins } };
}

const MIRRORS_KEY = 'registry-mirrors';

/** The daemon's Docker Hub mirrors, as URLs; Go reads keys in any case and the last spelling wins, so do we. */
export function daemonRegistryMirrors(config: DaemonConfig): readonly string[] | Error {
  const key = Object.keys(config.document).filter((name) => name.toLowerCase() === MIRRORS_KEY).pop();
  const mirrors = key === undefined ? [] : config.document[key];
  return isStringList(mirrors) ? mirrors : new Error(`"${key}" must be a list of URLs`);
}

/** Appends `name` to the chain (the daemon asks plugins in list order); already there means unchanged. */
export function addAuthorizationPlugin(config: DaemonConfig, name: string): ConfigEdit {
  if (config.plugins.includes(name)) return { config, changed: false };
  return { config: { ...config, plugins: [...config.plugins, name] }, changed: true };
}

/** Removes `name` from the chain; already absent means unchanged. */
export function removeAuthorizationPlugin(config: DaemonConfig, name: string): ConfigEdit {
  if (!config.plugins.includes(name)) return { config, changed: false };
  return { config: { ...config, plugins: config.plugins.filter((plugin) => plugin !== name) }, changed: true };
}

/** The file's text: other keys untouched and in order; an emptied chain drops its key rather than leaving `[]`. */
export function renderDaemonConfig(config: DaemonConfig): string {
  const { [config.key]: _previous, ...others } = config.document;
  return renderDaemonJson(config.plugins.length === 0 ? others : { ...config.document, [config.key]: config.plugins });
}

export function renderDaemonJson(document: Readonly<Record<string, unknown>>): string {
  return `${JSON.stringify(document, null, 2)}\n`;
}
