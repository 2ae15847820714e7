import { chmodSync, lstatSync, mkdirSync, unlinkSync, type Stats } from 'node:fs';
import { connect, type Server } from 'node:net';
import { dirname } from 'node:path';

export class SocketPathError extends Error {}

function lstatOrUndefined(path: string): Stats | undefined {
  try {
    return lstatSync(path);
  } catch (error) {
    if ((error as NodeJS.ErrnoException).code === 'ENOENT') return undefined;
    throw error;
  }
}

/** Whether something accepts connections on the socket; a stale socket left by a crash refuses them. */
function isServed(path: string): Promise<boolean> {
  return new Promise((resolve) => {
    const probe = connect(path);
    probe.setTimeout(1000, () => (probe.destroy(), resolve(true)));
    probe.once('connect', () => (probe.destroy(), resolve(true)));
    probe.once('error', () => resolve(false));
  });
}

/**
 * Makes `path` free for a new socket: a stale socket is removed, but anything else (a live plugin, a file, a link,
 * a directory) is refused rather than destroyed, because the path may not be ours.
 */
export async function claimSocketPath(path: string): Promise<void> {
  mkdirSync(dirname(path), { recursive: true, mode: 0o755 });
  const stats = lstatOrUndefined(path);
  if (stats === undefined) return;
  if (!stats.isSocket()) throw new SocketPathError(`${path} exists and is not a socket; refusing to replace it`);
  if (await isServed(path)) throw new SocketPathError(`another process is already serving ${path}`);
  unlinkSync(path);
}

/** Listens with mode 0600 from the first instant (umask), so no other local user can ever reach the socket. */
export async function listenOnUnixSocket(server: Server, path: string): Promise<void> {
  await claimSocketPath(path);
  const previousUmask = process.umask(0o177);
  try {
    await new Promise<void>((resolve, reject) => {
      server.once('error', reject);
      server.listen(path, () => {
        server.off('error', reject);
        resolve();
      });
    });
  } finally {
    process.umask(previousUmask);
  }
  chmodSync(path, 0o600);
}

/** Removes the socket on shutdown, but only if it is still the one we created. */
export function releaseSocketPath(path: string, ino: number | undefined): void {
  const stats = lstatOrUndefined(path);
  if (stats?.isSocket() && (ino === undefined || stats.ino === ino)) unlinkSync(path);
}
