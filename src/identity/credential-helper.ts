import { z } from 'zod';
import { parseJson } from './decode';

/** The Username a credential helper returns when its Secret is an identity token (docker/cli credentials package). */
const TOKEN_USERNAME = '<token>';
/** What docker-credential-helpers print (exit 1) when they hold nothing for the server. */
const NOT_FOUND = 'credentials not found in native keychain';
/** A `get` reply is one small JSON object; more is not a credential helper talking. */
const MAX_OUTPUT_BYTES = 64 * 1024;
/** `desktop`, `pass`, `secretservice`, `ecr-login`: a name that cannot turn into a path. */
const HELPER_NAME = /^[A-Za-z0-9][A-Za-z0-9._-]*$/;

const helperReplySchema = z.object({ ServerURL: z.string().optional(), Username: z.string(), Secret: z.string() });

export type HelperResult =
  | { readonly kind: 'found'; readonly username: string | undefined; readonly secret: string; readonly identityToken: boolean }
  | { readonly kind: 'not-found' }
  | { readonly kind: 'failed'; readonly problem: string };

export interface HelperOptions {
  readonly timeoutMs: number;
  /** PATH searched for `docker-credential-<name>`. */
  readonly searchPath: string | undefined;
}

export const isHelperName = (name: string): boolean => HELPER_NAME.test(name);

/** Reads a helper's `get` reply. Problems never quote the output: it holds the secret. */
export function interpretHelperReply(exitCode: number | null, output: string): HelperResult {
  if (exitCode !== 0) {
    if (output.includes(NOT_FOUND)) return { kind: 'not-found' };
    return { kind: 'failed', problem: exitCode === null ? 'killed by a signal' : `exited with code ${exitCode}` };
  }
  const reply = helperReplySchema.safeParse(parseJson(output));
  if (!reply.success) return { kind: 'failed', problem: 'replied with something other than {ServerURL, Username, Secret}' };
  const { Username: username, Secret: secret } = reply.data;
  if (secret === '') return { kind: 'not-found' };
  if (username === TOKEN_USERNAME) return { kind: 'found', username: undefined, secret, identityToken: true };
  return { kind: 'found', username: username === '' ? undefined : username, secret, identityToken: false };
}

/**
 * `docker-credential-<name> get` with the server URL on stdin, as the Docker CLI runs it: no shell, a fresh process
 * group so a timeout kills whatever the helper started, and a deadline so a helper waiting for a keyring unlock
 * cannot stall a pull. Never rejects.
 */
export function runCredentialHelper(name: string, serverUrl: string, options: HelperOptions): Promise<HelperResult> {
  if (!isHelperName(name)) return Promise.resolve({ kind: 'failed', problem: 'invalid credential helper name' });
  const command = `docker-credential-${name}`;
  return new Promise((resolve) => {
    const env = options.searchPath === undefined ? process.env : { ...process.env, PATH: options.searchPath };
    // Required on the first helper call, not before the plugin listens.
    const child = (require('node:child_process') as typeof import('node:child_process')).spawn(command, ['get'], { env, stdio: ['pipe', 'pipe', 'ignore'], detached: true });
    const chunks: Buffer[] = [];
    let size = 0;
    let settled = false;
    const killGroup = () => {
      if (child.pid === undefined) return;
      try {
        process.kill(-child.pid, 'SIGKILL');
      } catch {
        // already gone
      }
    };
    const finish = (result: HelperResult) => {
      if (settled) return;
      settled = true;
      clearTimeout(timer);
      resolve(result);
    };
    const timer = setTimeout(() => {
      killGroup();
      finish({ kind: 'failed', problem: `${command} did not answer within ${options.timeoutMs} ms` });
    }, options.timeoutMs);
    child.on('error', (error: NodeJS.ErrnoException) => {
      finish({ kind: 'failed', problem: error.code === 'ENOENT' ? `${command} not found on PATH` : `cannot run ${command} (${error.code ?? 'error'})` });
    });
    child.stdout.on('data', (chunk: Buffer) => {
      size += chunk.length;
      if (size <= MAX_OUTPUT_BYTES) chunks.push(chunk);
      else {
        killGroup();
        finish({ kind: 'failed', problem: `${command} wrote more than ${MAX_OUTPUT_BYTES} bytes` });
      }
    });
    child.on('close', (code) => {
      const result = interpretHelperReply(code, Buffer.concat(chunks).toString('utf8'));
      finish(result.kind === 'failed' ? { kind: 'failed', problem: `${command} ${result.problem}` } : result);
    });
    // A helper that exits without reading stdin must not turn into an EPIPE crash.
    child.stdin.on('error', () => undefined);
    child.stdin.end(serverUrl);
  });
}
