import { spawn } from 'node:child_process';
import { join } from 'node:path';

export interface DockerResult {
  /** Exit code; -1 when the command was killed for running past its timeout. */
  readonly code: number;
  readonly stdout: string;
  readonly stderr: string;
  readonly durationMs: number;
}

export interface DockerOptions {
  /** Extra environment for the CLI (DOCKER_HOST and DOCKER_CONFIG are set by the harness). */
  readonly env?: NodeJS.ProcessEnv;
  /** Written to the CLI's stdin (e.g. `docker login --password-stdin`). */
  readonly input?: string;
  readonly timeoutMs?: number;
}

const DEFAULT_TIMEOUT_MS = 120_000;

/**
 * The harness CLI's DOCKER_CONFIG directory inside a harness dir. The plugin reads the same one by default, as the
 * real plugin reads root's ~/.docker: `docker login` through the harness signs the machine in.
 */
export const cliConfigDir = (dir: string): string => join(dir, 'cli');

/** The environment of the test process without anything that could point the CLI at another daemon. */
function cleanEnv(): NodeJS.ProcessEnv {
  const env: NodeJS.ProcessEnv = {};
  for (const [key, value] of Object.entries(process.env)) if (!key.startsWith('DOCKER_')) env[key] = value;
  return env;
}

/** Runs the real `docker` CLI against one daemon socket, with its own config directory. Never throws on failure. */
export function runDocker(socket: string, configDir: string, args: readonly string[], options: DockerOptions = {}): Promise<DockerResult> {
  const started = Date.now();
  const env = { ...cleanEnv(), DOCKER_HOST: `unix://${socket}`, DOCKER_CONFIG: configDir, DOCKER_CLI_HINTS: 'false', ...options.env };
  return new Promise((resolve) => {
    const child = spawn('docker', args, { env, stdio: ['pipe', 'pipe', 'pipe'] });
    const stdout: Buffer[] = [];
    const stderr: Buffer[] = [];
    child.stdout.on('data', (chunk: Buffer) => stdout.push(chunk));
    child.stderr.on('data', (chunk: Buffer) => stderr.push(chunk));
    let timedOut = false;
    const timer = setTimeout(() => {
      timedOut = true;
      child.kill('SIGKILL');
    }, options.timeoutMs ?? DEFAULT_TIMEOUT_MS);
    const finish = (code: number, note = '') => {
      clearTimeout(timer);
      resolve({
        code: timedOut ? -1 : code,
        stdout: Buffer.concat(stdout).toString('utf8'),
        stderr: Buffer.concat(stderr).toString('utf8') + (timedOut ? `\n[harness: docker ${args.join(' ')} timed out]` : '') + note,
        durationMs: Date.now() - started,
      });
    };
    child.once('error', (error) => finish(127, `\n[harness: ${error.message}]`));
    child.once('close', (code) => finish(code ?? -1));
    child.stdin.on('error', () => undefined);
    child.stdin.end(options.input ?? '');
  });
}
