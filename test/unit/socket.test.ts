import { spawnSync } from 'node:child_process';
import { chmodSync, chownSync, mkdirSync, mkdtempSync, rmSync, statSync, symlinkSync, writeFileSync } from 'node:fs';
import { createServer as createHttpServer, type Server } from 'node:http';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { claimSocketPath, listenOnUnixSocket, releaseSocketPath, SocketPathError } from '../../src/protocol/socket';

/** The plugin socket is the daemon's only line to the policy: nobody else may own, reach or replace it. */

const NOBODY = 65534;
let root: string;

beforeEach(() => {
  root = mkdtempSync(join(tmpdir(), 'ia-socket-'));
});

afterEach(() => {
  rmSync(root, { recursive: true, force: true });
});

async function listen(path: string): Promise<Server> {
  const server = createHttpServer();
  await listenOnUnixSocket(server, path);
  return server;
}

const close = (server: Server) => new Promise<void>((resolve) => server.close(() => resolve()));

test('the socket is created with mode 0600, in a directory created if missing, and released on stop', async () => {
  const path = join(root, 'run', 'plugins', 'p.sock');
  const server = await listen(path);
  try {
    expect(statSync(path).isSocket()).toBe(true);
    expect(statSync(path).mode & 0o777).toBe(0o600);
  } finally {
    await close(server);
  }
  releaseSocketPath(path, undefined);
  expect(() => statSync(path)).toThrow();
});

test('the socket is private from the instant it exists, not only once chmod has run; the umask is restored', async () => {
  const path = join(root, 'p.sock');
  const server = createHttpServer();
  let modeWhenListening: number | undefined;
  // Registered before listenOnUnixSocket's own callback: it runs as soon as the socket is bound.
  server.once('listening', () => (modeWhenListening = statSync(path).mode & 0o777));
  const original = process.umask(0o022);
  try {
    await listenOnUnixSocket(server, path);
    expect(process.umask()).toBe(0o022);
    expect(modeWhenListening).toBe(0o600);
  } finally {
    process.umask(original);
    await close(server);
  }
});

test('on stop, a socket that is no longer ours (another inode: a newer plugin bound the path) is left alone', async () => {
  const path = join(root, 'p.sock');
  const server = await listen(path);
  try {
    const { ino } = statSync(path);
    releaseSocketPath(path, ino + 1);
    expect(statSync(path).isSocket()).toBe(true);
    releaseSocketPath(path, ino);
    expect(() => statSync(path)).toThrow();
  } finally {
    await close(server);
  }
});

test('a stale socket left by a crash is replaced', async () => {
  const path = join(root, 'p.sock');
  // A process killed while listening leaves its socket file behind, with nobody accepting on it.
  const crash = spawnSync(process.execPath, ['-e', `require('net').createServer().listen(${JSON.stringify(path)}, () => process.kill(process.pid, 'SIGKILL'))`]);
  expect(crash.signal).toBe('SIGKILL');
  expect(statSync(path).isSocket()).toBe(true);
  const server = await listen(path);
  await close(server);
});

test.each<[string, (path: string) => void | Promise<unknown>, RegExp]>([
  ['a regular file', (path) => writeFileSync(path, 'not mine'), /is not a socket/],
  ['a directory', (path) => mkdirSync(path), /is not a socket/],
  ['a dangling symlink', (path) => symlinkSync('/nonexistent/elsewhere.sock', path), /is not a socket/],
  ['a symlink to a socket', (path) => symlinkSync(join(root, 'real.sock'), path), /is not a socket/],
])('refuses to replace %s at the socket path', async (_name, place, error) => {
  const path = join(root, 'p.sock');
  await place(path);
  await expect(claimSocketPath(path)).rejects.toThrow(error);
  await expect(claimSocketPath(path)).rejects.toBeInstanceOf(SocketPathError);
});

test('refuses a socket another process is serving', async () => {
  const path = join(root, 'p.sock');
  const other = await listen(path);
  try {
    await expect(claimSocketPath(path)).rejects.toThrow(/already serving/);
  } finally {
    await close(other);
  }
});

describe('the directories on the way to the socket', () => {
  test.each([
    ['writable by everyone', 0o777],
    ['writable by everyone, even sticky', 0o1777],
    ['writable by a group that is not root', 0o770],
  ])('refuses a socket directory %s', async (_name, mode) => {
    const dir = join(root, 'shared');
    mkdirSync(dir);
    chmodSync(dir, mode);
    if (mode === 0o770) chownSync(dir, 0, NOBODY);
    await expect(claimSocketPath(join(dir, 'p.sock'))).rejects.toThrow(/writable by other users/);
  });

  test('refuses a socket directory owned by another user', async () => {
    const dir = join(root, 'theirs');
    mkdirSync(dir, { mode: 0o755 });
    chownSync(dir, NOBODY, NOBODY);
    await expect(claimSocketPath(join(dir, 'p.sock'))).rejects.toThrow(/belongs to uid 65534/);
  });

  test('refuses an ancestor that another user owns or can write without the sticky bit', async () => {
    const ancestor = join(root, 'open');
    mkdirSync(join(ancestor, 'mine'), { recursive: true });
    chmodSync(ancestor, 0o777);
    await expect(claimSocketPath(join(ancestor, 'mine', 'p.sock'))).rejects.toThrow(`${ancestor} is writable by other users`);
    chmodSync(ancestor, 0o755);
    chownSync(ancestor, NOBODY, NOBODY);
    await expect(claimSocketPath(join(ancestor, 'mine', 'p.sock'))).rejects.toThrow(/belongs to uid 65534/);
  });

  test('accepts a private directory under a sticky shared one, as mkdtemp makes under /tmp', async () => {
    expect(statSync(tmpdir()).mode & 0o1000).toBe(0o1000);
    const server = await listen(join(root, 'p.sock'));
    await close(server);
  });

  test('judges where a symlinked directory really leads', async () => {
    const open = join(root, 'open');
    mkdirSync(open, { mode: 0o777 });
    chmodSync(open, 0o777);
    symlinkSync(open, join(root, 'link'));
    await expect(claimSocketPath(join(root, 'link', 'p.sock'))).rejects.toThrow(`${open} is writable by other users`);
    const safe = join(root, 'safe');
    mkdirSync(safe, { mode: 0o700 });
    symlinkSync(safe, join(root, 'safe-link'));
    const server = await listen(join(root, 'safe-link', 'p.sock'));
    await close(server);
  });
});
