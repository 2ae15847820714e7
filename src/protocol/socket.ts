import { chmodSync, lstatSync, mkdirSync, realpathSync, statSync, unlinkSync, type Stats } from 'node:fs';
import type { Server as HttpServer, IncomingMessage, ServerResponse } from 'node:http';
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

const WRITABLE_BY_OTHERS = 0o002;
const WRITABLE_BY_GROUP = 0o020;
const STICKY = 0o1000;

/**
 * Whoever can write to a directory on the way to the socket can swap the socket for their own and answer the daemon
 * with "allow". So the socket's directory must be writable by its owner only, and every directory above it must be
 * owned by root or by us and, if writable by others, sticky (as /tmp is), so that nobody can rename what is ours.
 */
export function assertSafeSocketDirectory(directory: string): void {
  const uid = process.getuid?.() ?? 0;
  let current = realpathSync(directory);
  for (let isParent = true; ; isParent = false) {
    const stats = statSync(current);
    const writableByOthers = (stats.mode & WRITABLE_BY_OTHERS) !== 0 || ((stats.mode & WRITABLE_BY_GROUP) !== 0 && stats.gid !== 0);
    if (stats.uid !== 0 && stats.uid !== uid) {
      throw new SocketPathError(`${current} belongs to uid ${stats.uid}, who could replace the plugin socket; refusing to serve under it`);
    }
    if (writableByOthers && (isParent || (stats.mode & STICKY) === 0)) {
      throw new SocketPathError(`${current} is writable by other users, who could replace the plugin socket; refusing to serve under it`);
    }
    const above = dirname(current);
    if (above === current) return;
    current = above;
  }
}

/**
 * Makes `path` free for a new socket in a safe directory: a stale socket is removed, but anything else (a live
 * plugin, a file, a link, a directory) is refused rather than destroyed, because the path may not be ours.
 */
export async function claimSocketPath(path: string): Promise<void> {
  mkdirSync(dirname(path), { recursive: true, mode: 0o755 });
  assertSafeSocketDirectory(dirname(path));
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

const openReplies = new WeakMap<HttpServer, Set<ServerResponse>>();

/**
 * Keeps track of the replies `server` is working on, so that closeServer can wait for them. Call once, at creation,
 * for a server whose requests must not be dropped by a shutdown (the plugin's).
 */
export function trackReplies(server: HttpServer): void {
  const replies = new Set<ServerResponse>();
  openReplies.set(server, replies);
  server.on('request', (_request: IncomingMessage, reply: ServerResponse) => {
    if (!server.listening) reply.shouldKeepAlive = false;
    replies.add(reply);
    reply.once('close', () => {
      replies.delete(reply);
      if (!server.listening && replies.size === 0) server.closeIdleConnections();
    });
  });
}

/**
 * Stops accepting and resolves once every connection is closed. Idle kept-alive connections (the daemon keeps them
 * open) are closed at once; a request in flight is answered first, with `Connection: close` so the daemon's next call
 * opens a new connection (to the next process), for up to `graceMs`; whatever is left then is dropped. Dropping a
 * request in flight is what must not happen: moby's plugin client re-sends a call whose connection broke from its
 * already-drained buffer, i.e. with an EMPTY body (pkg/plugins/client.go), which nobody can judge (server.ts).
 */
export function closeServer(server: HttpServer, graceMs = 0): Promise<void> {
  const closed = new Promise<void>((resolve) => server.close(() => resolve()));
  const replies = openReplies.get(server);
  for (const reply of replies ?? []) if (!reply.headersSent) reply.shouldKeepAlive = false;
  if (replies === undefined || replies.size === 0) {
    server.closeAllConnections();
    return closed;
  }
  const deadline = setTimeout(() => server.closeAllConnections(), graceMs);
  return closed.finally(() => clearTimeout(deadline));
}

/** Removes the socket on shutdown, but only if it is still the one we created. */
export function releaseSocketPath(path: string, ino: number | undefined): void {
  const stats = lstatOrUndefined(path);
  if (stats?.isSocket() && (ino === undefined || stats.ino === ino)) unlinkSync(path);
}
