import { existsSync, mkdirSync, mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { Agent, createServer, request, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { silentLogger } from '../../src/audit/logger';
import { loadSettings } from '../../src/config/settings';
import { createPluginServer, EMPTY_BODY_REPLY, type AuthZHandler } from '../../src/protocol/server';
import { closeServer, listenOnUnixSocket } from '../../src/protocol/socket';
import type { AuthZReply } from '../../src/protocol/wire';
import { startPlugin } from '../../src/run';

/**
 * A plugin that stops (systemctl restart, an upgrade) must answer every decision in flight: a call whose connection
 * breaks is re-sent by dockerd with an empty body, which can only be denied, so a dropped call is a failed docker
 * command. The daemon's side is played by a keep-alive agent, as Go's transport keeps connections.
 */

interface Reply {
  readonly status: number;
  readonly connection: string | undefined;
  readonly json: unknown;
}

let dir: string;
let socket: string;
let agent: Agent;

beforeEach(() => {
  dir = mkdtempSync(join(tmpdir(), 'ia-stop-'));
  socket = join(dir, 'plugin.sock');
  agent = new Agent({ keepAlive: true });
});

afterEach(() => {
  agent.destroy();
  rmSync(dir, { recursive: true, force: true });
});

function post(path: string, body: string): Promise<Reply> {
  return new Promise((resolve, reject) => {
    const req = request({ socketPath: socket, path, method: 'POST', agent }, (res) => {
      const chunks: Buffer[] = [];
      res.on('data', (chunk: Buffer) => chunks.push(chunk));
      res.on('end', () => resolve({ status: res.statusCode ?? 0, connection: res.headers.connection, json: JSON.parse(Buffer.concat(chunks).toString()) }));
    });
    req.on('error', reject);
    req.end(body);
  });
}

/** A handler whose decisions wait until the test lets them go. */
function heldHandler(): AuthZHandler & { readonly waiting: number; release(reply: AuthZReply): void } {
  const pending: Array<(reply: AuthZReply) => void> = [];
  return {
    get waiting() {
      return pending.length;
    },
    authorizeRequest: () => new Promise((resolve) => pending.push(resolve)),
    release: (reply) => pending.splice(0).forEach((resolve) => resolve(reply)),
  };
}

async function until(condition: () => boolean): Promise<void> {
  while (!condition()) await new Promise((resolve) => setImmediate(resolve));
}

const PULL = JSON.stringify({ RequestMethod: 'POST', RequestUri: '/v1.41/images/create?fromImage=alpine&tag=latest' });
const ALLOWED: AuthZReply = { Allow: true, Msg: '' };

test('decisions in flight when the plugin stops are answered, with Connection: close, before it closes', async () => {
  const handler = heldHandler();
  const server = createPluginServer(handler, silentLogger());
  await listenOnUnixSocket(server, socket);
  // An idle kept-alive connection, as the daemon's pool holds: it must not hold up the stop.
  expect((await post('/Plugin.Activate', '')).status).toBe(200);
  const inFlight = [post('/AuthZPlugin.AuthZReq', PULL), post('/AuthZPlugin.AuthZReq', PULL)];
  await until(() => handler.waiting === 2);

  let closed = false;
  const closing = closeServer(server, 60_000).then(() => (closed = true));
  await expect(post('/Plugin.Activate', '')).rejects.toThrow(/ECONNREFUSED|ENOENT/);
  expect(closed).toBe(false);

  handler.release(ALLOWED);
  for (const reply of await Promise.all(inFlight)) expect(reply).toEqual({ status: 200, connection: 'close', json: ALLOWED });
  await closing;
  expect(closed).toBe(true);
});

test('a call the daemon sends on a kept-alive connection after the stop began is answered, not dropped', async () => {
  const handler = heldHandler();
  const server = createPluginServer(handler, silentLogger());
  await listenOnUnixSocket(server, socket);
  // Two kept-alive connections in the agent's pool, as the daemon's; one of them then waits for a decision.
  await Promise.all([post('/Plugin.Activate', ''), post('/Plugin.Activate', '')]);
  const inFlight = post('/AuthZPlugin.AuthZReq', PULL);
  await until(() => handler.waiting === 1);

  const closing = closeServer(server, 60_000);
  // Sent on the other, idle connection: closing it now would break this call, and dockerd would re-send it empty.
  const sentDuringStop = post('/AuthZPlugin.AuthZRes', '{}');
  expect(await sentDuringStop).toEqual({ status: 200, connection: 'close', json: ALLOWED });
  handler.release(ALLOWED);
  expect(await inFlight).toEqual({ status: 200, connection: 'close', json: ALLOWED });
  await closing;
});

test('a decision still running when the grace period ends is dropped, so a stop always ends', async () => {
  const handler = heldHandler();
  const server = createPluginServer(handler, silentLogger());
  await listenOnUnixSocket(server, socket);
  const stuck = post('/AuthZPlugin.AuthZReq', PULL).then(
    () => 'answered',
    (error: Error) => error.message,
  );
  await until(() => handler.waiting === 1);
  await closeServer(server, 50);
  expect(await stuck).toMatch(/socket hang up|ECONNRESET/);
});

test('an empty AuthZReq (the daemon re-sending a call whose connection broke) is denied, saying to run the command again', async () => {
  const handler = heldHandler();
  const server = createPluginServer(handler, silentLogger());
  await listenOnUnixSocket(server, socket);
  try {
    const reply = await post('/AuthZPlugin.AuthZReq', '');
    expect(reply).toMatchObject({ status: 200, json: EMPTY_BODY_REPLY });
    expect(EMPTY_BODY_REPLY).toEqual({ Allow: false, Msg: expect.stringContaining('Run the command again') });
    expect(handler.waiting).toBe(0);
  } finally {
    await closeServer(server);
  }
});

test('the plugin never closes an idle connection itself: the daemon may be sending on it at that moment', () => {
  expect(createPluginServer(heldHandler(), silentLogger()).keepAliveTimeout).toBe(0);
});

test('the plugin stops with its policy source and audit log open until the decisions in flight are answered and audited', async () => {
  // A policy URL that answers only when the test says: the pull waits for its first fetch while the plugin stops.
  const held: ServerResponse[] = [];
  const policyServer = createServer((_req, res) => held.push(res));
  await new Promise<void>((resolve) => policyServer.listen(0, '127.0.0.1', resolve));
  const policy = JSON.stringify({ organization: 'acme', restricted_images: { enabled: true, allow_official_images: true, allow_verified_publishers: true } });
  const audit = join(dir, 'audit.log');
  mkdirSync(join(dir, 'docker-config'));
  const settings = loadSettings(
    {
      IMAGE_ACCESS_POLICY: `http://127.0.0.1:${(policyServer.address() as AddressInfo).port}/acme.json`,
      IMAGE_ACCESS_ORG: 'acme',
      IMAGE_ACCESS_REQUIRE_SIGNIN: 'off',
      IMAGE_ACCESS_AUDIT_LOG: audit,
      IMAGE_ACCESS_DOCKER_CONFIG: join(dir, 'docker-config'),
      IMAGE_ACCESS_REGISTRY_JSON: '',
    },
    ['--socket', socket],
  );
  const plugin = await startPlugin(settings, silentLogger());
  try {
    const reply = post('/AuthZPlugin.AuthZReq', PULL);
    while (held.length === 0) await new Promise((resolve) => setTimeout(resolve, 10));
    const stopped = plugin.stop();
    await new Promise((resolve) => setTimeout(resolve, 50));
    expect(existsSync(socket)).toBe(false);
    held.splice(0).forEach((res) => res.writeHead(200, { 'Content-Type': 'application/json' }).end(policy));
    expect(await reply).toEqual({ status: 200, connection: 'close', json: ALLOWED });
    await stopped;
    expect(readFileSync(audit, 'utf8')).toContain('"image":"docker.io/library/alpine:latest"');
  } finally {
    policyServer.closeAllConnections();
    await new Promise((resolve) => policyServer.close(resolve));
  }
});
