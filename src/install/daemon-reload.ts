import { readFileSync } from 'node:fs';
import { setTimeout as sleep } from 'node:timers/promises';

const isAlive = (pid: number): boolean => {
  try {
    process.kill(pid, 0);
    return true;
  } catch (error) {
    return (error as NodeJS.ErrnoException).code === 'EPERM';
  }
};

/** The daemon's pid from its pidfile (dockerd --pidfile, /var/run/docker.pid by default), or a problem description. */
export function daemonPid(pidfile: string): number | string {
  let text: string;
  try {
    text = readFileSync(pidfile, 'utf8').trim();
  } catch (error) {
    return `cannot read ${pidfile}: ${(error as Error).message}`;
  }
  const pid = /^\d+$/.test(text) ? Number(text) : NaN;
  if (!(pid > 1)) return `${pidfile} does not hold a process id`;
  return isAlive(pid) ? pid : `no process ${pid} (from ${pidfile}) is running`;
}

/**
 * SIGHUP makes dockerd re-read daemon.json and re-validate its authorization plugins; a plugin it cannot reach makes
 * it exit. So after the signal we watch the daemon for `watchMs` and report whether it is still there.
 */
export async function reloadDaemon(pid: number, watchMs = 1500): Promise<string | undefined> {
  process.kill(pid, 'SIGHUP');
  for (let waited = 0; waited < watchMs; waited += 100) {
    await sleep(100);
    if (!isAlive(pid)) return `dockerd (pid ${pid}) exited after the reload; see its log`;
  }
  return undefined;
}
