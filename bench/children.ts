import { spawn } from 'node:child_process';
import { closeSync, openSync } from 'node:fs';

/**
 * Runs a short-lived helper process to completion and returns its stdout lines, calling `onLine` as each arrives.
 * Its stderr goes to `stderrPath`. Killed by pid if the bench gives up on it first.
 */
export function runChild(command: string, args: readonly string[], options: { env?: NodeJS.ProcessEnv; stderrPath: string; onLine?: (line: string) => void }): Promise<string[]> {
  const stderr = openSync(options.stderrPath, 'a');
  const child = spawn(command, args, { env: options.env ?? process.env, stdio: ['ignore', 'pipe', stderr] });
  closeSync(stderr);
  const lines: string[] = [];
  let partial = '';
  child.stdout!.setEncoding('utf8');
  child.stdout!.on('data', (text: string) => {
    const parts = (partial + text).split('\n');
    partial = parts.pop() ?? '';
    for (const line of parts) {
      lines.push(line);
      options.onLine?.(line);
    }
  });
  const stopOnExit = () => child.pid !== undefined && child.exitCode === null && process.kill(child.pid, 'SIGKILL');
  process.once('exit', stopOnExit);
  return new Promise((resolve, reject) => {
    child.once('error', reject);
    child.once('close', (code) => {
      process.off('exit', stopOnExit);
      if (code === 0) resolve(lines);
      else reject(new Error(`${command} ${args.join(' ')} exited with ${code}: ${lines.slice(-3).join(' | ')} (stderr in ${options.stderrPath})`));
    });
  });
}

/** The last stdout line, parsed as the JSON result the bench helpers print. */
export function lastJson<T>(lines: readonly string[]): T {
  return JSON.parse(lines[lines.length - 1] ?? 'null') as T;
}
