/** What the one-shot commands (`check`, `status`) get from the process, so tests can run them in-process. */
export interface CommandIo {
  readonly env: Readonly<Record<string, string | undefined>>;
  readonly out: (text: string) => void;
  readonly err: (text: string) => void;
  readonly clock: () => number;
}

export const EXIT_OK = 0;
/** `check`: the image would be denied; `status`: the plugin has no policy in force. */
export const EXIT_NOT_OK = 1;
export const EXIT_ERROR = 2;

/** Runs a command so that any failure (bad settings, an unreadable policy file, ...) is a message and exit 2. */
export async function guarded(name: string, io: CommandIo, command: () => Promise<number>): Promise<number> {
  try {
    return await command();
  } catch (error) {
    io.err(`image-access ${name}: ${error instanceof Error ? error.message : String(error)}\n`);
    return EXIT_ERROR;
  }
}
