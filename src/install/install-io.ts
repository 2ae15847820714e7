import type { PluginInspector } from './plugin-socket';

/** What the install commands get from the process: where their report goes, and the time for backup names. */
export interface InstallIo {
  readonly out: (line: string) => void;
  readonly now: () => Date;
  /** Asks dockerd about a managed plugin when no --socket is given (default: the docker CLI). */
  readonly inspectPlugin?: PluginInspector;
  /** For the settings shared with the plugin (IMAGE_ACCESS_GATEWAY, IMAGE_ACCESS_STATE_DIR); none when absent. */
  readonly env?: Readonly<Record<string, string | undefined>>;
}

/** A refusal or failure the admin can act on; the message says what and why. */
export class InstallError extends Error {}
