import { spawn } from 'node:child_process';
import { closeSync, openSync } from 'node:fs';
import { join } from 'node:path';

/** A child process the harness started: stopped by its pid only, with its output captured to files. */
export interface TrackedProcess {
  readonly name: string;
  readonly pid: number;
  /** Files receiving the process's stdout and stderr (read them to check what a plugin logged). */
  readonly stdoutPath: string;
  readonly stderrPath: string;
  /** Resolves with the exit code (or the signal name) once the process has exited. */
  readonly exited: Promise<number | string>;
  isRunning(): boolean;
  /** Sends a signal (e.g. SIGHUP to make dockerd reload its config file); a no-op once the process has exited. */
  kill(signal: NodeJS.Signals): void;
  /** SIGTERM, then SIGKILL once `graceMs` has passed; resolves when the process is gone. Safe to call twice. */
  stop(graceMs?: number): Promise<void>;
}

export interface SpawnOptions {
  readonly env?: NodeJS.ProcessEnv;
  readonly cwd?: string;
  /** Directory for the `<name>.out` / `<name>.err` capture files. */
  readonly logDir: string;
}

const DEFAULT_GRACE_MS = 15_000;

/**
 * Every process runs under `setpriv --pdeathsig SIGKILL` (util-linux; it execs, so the pid is the process's own): if
 * the test process dies or exits without stopping it, the kernel kills it. A process.on('exit') hook cannot do this
 * under jest, whose sandboxed `process` never sees the real exit.
 */
const DIE_WITH_PARENT = ['--pdeathsig', 'SIGKILL', '--'];

export function spawnTracked(name: string, command: string, args: readonly string[], options: SpawnOptions): TrackedProcess {
  const stdoutPath = join(options.logDir, `${name}.out`);
  const stderrPath = join(options.logDir, `${name}.err`);
  // Appending, so a restarted process keeps the earlier run's output in the same files.
  const out = openSync(stdoutPath, 'a');
  const err = openSync(stderrPath, 'a');
  const child = spawn('setpriv', [...DIE_WITH_PARENT, command, ...args], { env: options.env ?? process.env, cwd: options.cwd, stdio: ['ignore', out, err] });
  closeSync(out);
  closeSync(err);
  if (child.pid === undefined) throw new Error(`could not start ${name} (${command})`);
  const pid = child.pid;
  // A process a test forgot to stop must not keep jest alive; the parent-death signal then ends it.
  child.unref();
  let alive = true;
  const exited = new Promise<number | string>((resolve) => {
    child.once('exit', (code, signal) => {
      alive = false;
      resolve(code ?? signal ?? 'unknown');
    });
    child.once('error', () => {
      alive = false;
      resolve('spawn-error');
    });
  });
  const signal = (sig: NodeJS.Signals) => {
    if (!alive) return;
    try {
      process.kill(pid, sig);
    } catch {
      // exited between the check and the kill
    }
  };
  return {
    name,
    pid,
    stdoutPath,
    stderrPath,
    exited,
    isRunning: () => alive,
    kill: signal,
    async stop(graceMs = DEFAULT_GRACE_MS) {
      signal('SIGTERM');
      const timer = setTimeout(() => signal('SIGKILL'), graceMs);
      await exited;
      clearTimeout(timer);
    },
  };
}
