import { chmodSync, lstatSync, mkdirSync, realpathSync, statSync, unlinkSync, type Stats } from 'node:fs';
import type { Server as HttpServer, IncomingMessage, ServerResponse } from 'node:http';
import { connect, Server as NetServer, type Server, type Socket } from 'node:net';
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

/**
 * A connection whose calls server.ts answers itself, on the socket, instead of through node:http (raw-calls.ts): what
 * a stop must know of it. It is tracked until it closes or is handed to node:http, which then tracks it.
 */
export interface OwnConnection {
  readonly socket: Socket;
  /** Whether it waits for its next call with nothing of one read: a stop may close it once the daemon is quiet. */
  readonly idle: boolean;
  /** Whether a call read on it is being answered: a stop waits for the answer. */
  readonly answering: boolean;
}

/** What a stopping server waits on: the replies it is working on, and when the daemon last sent a call. */
export interface Traffic {
  readonly replies: Set<ServerResponse>;
  readonly own: Set<OwnConnection>;
  lastRequestAt: number;
}

const traffic = new WeakMap<HttpServer, Traffic>();

/**
 * Keeps track of the replies `server` is working on and of when its last request came, so that closeServer can wait
 * for them. Call once, at creation, for a server whose requests must not be dropped by a shutdown (the plugin's).
 * Connections it answers outside node:http go in the returned `own`; the server's closeIdleConnections and
 * closeAllConnections then close those too, so that http's close() and closeServer treat both kinds alike.
 */
export function trackReplies(server: HttpServer): Traffic {
  const seen: Traffic = { replies: new Set(), own: new Set(), lastRequestAt: 0 };
  traffic.set(server, seen);
  server.on('request', (_request: IncomingMessage, reply: ServerResponse) => {
    seen.lastRequestAt = Date.now();
    if (!server.listening) reply.shouldKeepAlive = false;
    seen.replies.add(reply);
    reply.once('close', () => seen.replies.delete(reply));
  });
  const { closeIdleConnections, closeAllConnections } = server;
  server.closeIdleConnections = function closeIdle(this: HttpServer) {
    closeIdleConnections.call(this);
    for (const connection of seen.own) if (connection.idle) connection.socket.destroy();
  };
  server.closeAllConnections = function closeAll(this: HttpServer) {
    closeAllConnections.call(this);
    for (const connection of seen.own) connection.socket.destroy();
  };
  return seen;
}

function answeringOwn(seen: Traffic): boolean {
  for (const connection of seen.own) if (connection.answering) return true;
  return false;
}

/** How long a stopping server must have had no call before it closes the daemon's idle connections. */
const QUIET_BEFORE_CLOSING_IDLE_MS = 250;

/**
 * Stops accepting and resolves once every connection is closed, for up to `graceMs`; whatever is left then is dropped.
 * Dropping a call is what must not happen: moby's plugin client re-sends a call whose connection broke from its
 * already-drained buffer, i.e. with an EMPTY body (pkg/plugins/client.go), which nobody can judge (server.ts). So a
 * call in flight is answered first, and so is one the daemon sends meanwhile on a connection it kept alive, each with
 * `Connection: close` (the daemon's next call opens a new connection, to the next process). The idle connections
 * left are closed only once no call has come for a moment: closing one the daemon is writing on loses that call, and
 * under load the daemon writes on them all the time (Node's own close() closes them at once: it lost a call in about
 * one restart under load out of two, test/e2e/restart.test.ts).
 */
export function closeServer(server: HttpServer, graceMs = 0): Promise<void> {
  const seen = traffic.get(server);
  if (seen === undefined) {
    const closed = new Promise<void>((resolve) => server.close(() => resolve()));
    server.closeAllConnections();
    return closed;
  }
  // net's close, not http's: it stops accepting and leaves the open connections be.
  const closed = new Promise<void>((resolve) => NetServer.prototype.close.call(server, () => resolve()));
  for (const reply of seen.replies) if (!reply.headersSent) reply.shouldKeepAlive = false;
  const closeIdleWhenQuiet = () => {
    const quietFor = Date.now() - seen.lastRequestAt;
    if (seen.replies.size === 0 && !answeringOwn(seen) && quietFor >= QUIET_BEFORE_CLOSING_IDLE_MS) server.closeIdleConnections();
  };
  closeIdleWhenQuiet();
  const watch = setInterval(closeIdleWhenQuiet, QUIET_BEFORE_CLOSING_IDLE_MS / 5);
  const deadline = setTimeout(() => server.closeAllConnections(), graceMs);
  return closed.finally(() => {
    clearInterval(watch);
    clearTimeout(deadline);
  });
}

/** Removes the socket on shutdown, but only if it is still the one we created. */
export function releaseSocketPath(path: string, ino: number | undefined): void {
  const stats = lstatOrUndefined(path);
  if (stats?.isSocket() && (ino === undefined || stats.ino === ino)) unlinkSync(path);
}
