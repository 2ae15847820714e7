import { mkdtempSync, rmSync, statSync } from 'node:fs';
import { request, type Server } from 'node:http';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { silentLogger } from '../../src/audit/logger';
import { loadSettings } from '../../src/config/settings';
import { createPluginServer, MAX_BODY_BYTES } from '../../src/protocol/server';
import { listenOnUnixSocket } from '../../src/protocol/socket';
import { startPlugin, type RunningPlugin } from '../../src/run';
import { rawHttpRequest } from '../harness/raw-http';
import { captureLog } from '../hub/log-capture';

function post(socketPath: string, path: string, body: string): Promise<{ status: number; json: unknown }> {
  return new Promise((resolve, reject) => {
    const req = request({ socketPath, path, method: 'POST' }, (res) => {
      const chunks: Buffer[] = [];
      res.on('data', (chunk: Buffer) => chunks.push(chunk));
      res.on('end', () => resolve({ status: res.statusCode ?? 0, json: JSON.parse(Buffer.concat(chunks).toString()) }));
    });
    req.on('error', reject);
    req.end(body);
  });
}

const pull = (image: string) =>
  JSON.stringify({ RequestMethod: 'POST', RequestUri: `/v1.41/images/create?fromImage=${encodeURIComponent(image)}` });

describe('plugin server over its unix socket', () => {
  let dir: string;
  let socket: string;
  let plugin: RunningPlugin;

  beforeAll(async () => {
    dir = mkdtempSync(join(tmpdir(), 'ia-server-'));
    socket = join(dir, 'plugin.sock');
    plugin = await startPlugin(loadSettings({}, ['--socket', socket]), silentLogger());
  });

  afterAll(async () => {
    await plugin.stop();
    rmSync(dir, { recursive: true, force: true });
  });

  test('the socket is private to its owner', () => {
    expect(statSync(socket).mode & 0o777).toBe(0o600);
  });

  test('activates as an authz plugin', async () => {
    expect(await post(socket, '/Plugin.Activate', '')).toEqual({ status: 200, json: { Implements: ['authz'] } });
  });

  test('denies a community image with the explanatory message', async () => {
    const reply = await post(socket, '/AuthZPlugin.AuthZReq', pull('someone/app:1.0'));
    expect(reply.status).toBe(200);
    expect(reply.json).toEqual({ Allow: false, Msg: expect.stringContaining('docker.io/someone/app:1.0 is a community image') });
  });

  test('allows an official image and every non-image request', async () => {
    expect((await post(socket, '/AuthZPlugin.AuthZReq', pull('alpine'))).json).toEqual({ Allow: true, Msg: '' });
    const ping = JSON.stringify({ RequestMethod: 'HEAD', RequestUri: '/_ping' });
    expect((await post(socket, '/AuthZPlugin.AuthZReq', ping)).json).toEqual({ Allow: true, Msg: '' });
  });

  test('a call that brings no image is answered in the turn its body arrived in; one whose last RequestUri is a pull is still judged', async () => {
    // The passthrough answer skips only the waiting (no promise, no timer), never the reading: the whole body is parsed
    // with Go's key rules first, so a request the engine will route as a pull is never taken for `docker ps`.
    const core = createPluginServer(
      {
        authorizeRequest: (_request, recognized) => (recognized?.kind === 'passthrough' ? { Allow: true, Msg: 'at once' } : Promise.resolve({ Allow: false, Msg: 'judged' })),
      },
      silentLogger(),
    );
    const own = join(dir, 'at-once.sock');
    await listenOnUnixSocket(core, own);
    try {
      const ps = JSON.stringify({ RequestMethod: 'GET', RequestUri: '/v1.41/containers/json' });
      expect((await post(own, '/AuthZPlugin.AuthZReq', ps)).json).toEqual({ Allow: true, Msg: 'at once' });
      const lastWins = '{"RequestMethod":"GET","RequestUri":"/v1.41/containers/json","requestmethod":"POST","requesturi":"/images/create?fromImage=someone%2Fapp"}';
      expect((await post(own, '/AuthZPlugin.AuthZReq', lastWins)).json).toEqual({ Allow: false, Msg: 'judged' });
      expect((await post(socket, '/AuthZPlugin.AuthZReq', lastWins)).json).toEqual({ Allow: false, Msg: expect.stringContaining('someone/app') });
    } finally {
      core.closeAllConnections();
      await new Promise<void>((resolve) => core.close(() => resolve()));
    }
  });

  test('the response phase is always allowed', async () => {
    expect((await post(socket, '/AuthZPlugin.AuthZRes', pull('someone/app'))).json).toEqual({ Allow: true, Msg: '' });
    expect((await post(socket, '/AuthZPlugin.AuthZRes', '{garbage')).json).toEqual({ Allow: true, Msg: '' });
  });

  test('malformed and oversized requests get a 200 denial that says why', async () => {
    expect((await post(socket, '/AuthZPlugin.AuthZReq', '{garbage')).json).toEqual({
      Allow: false,
      Msg: 'image-access: malformed authorization request (body is not JSON)',
    });
    const huge = JSON.stringify({ RequestBody: 'A'.repeat(MAX_BODY_BYTES) });
    expect(await post(socket, '/AuthZPlugin.AuthZReq', huge)).toEqual({
      status: 200,
      json: { Allow: false, Msg: expect.stringContaining('request larger than') },
    });
  });

  test('through express (a query string), an oversized body still gets each endpoint its own verdict', async () => {
    const huge = JSON.stringify({ RequestBody: 'A'.repeat(MAX_BODY_BYTES) });
    expect(await post(socket, '/AuthZPlugin.AuthZRes?x=1', huge)).toStrictEqual({ status: 200, json: { Allow: true, Msg: '' } });
    expect(await post(socket, '/Plugin.Activate?x=1', huge)).toStrictEqual({ status: 200, json: { Implements: ['authz'] } });
    expect(await post(socket, '/AuthZPlugin.AuthZReq?x=1', huge)).toStrictEqual({
      status: 200,
      json: { Allow: false, Msg: `image-access: request larger than ${MAX_BODY_BYTES} bytes` },
    });
  });

  /** As dockerd marshals its AuthZRequest: fields in struct order, headers JSON-escaped (`<` is six bytes). */
  const daemonRequest = (method: string, uri: string, body: Buffer, headers: Record<string, string>) =>
    `{"User":"","UserAuthNMethod":"","RequestMethod":"${method}","RequestUri":${JSON.stringify(uri)},"RequestBody":"${body.toString('base64')}",` +
    `"RequestHeaders":${JSON.stringify(headers).replace(/</g, '\\u003c')},"RequestPeerCertificates":null,"ResponseStatusCode":0}`;

  test('the largest request dockerd 26.1 sends gets its verdict: a 3.9 MB containers/create with a 1 MB header of "<"', async () => {
    const body = Buffer.alloc(3_900_000, '{');
    const request = daemonRequest('POST', '/v1.45/containers/create', body, { 'Content-Type': 'application/json', 'X-Big': '<'.repeat(1_000_000) });
    expect(request.length).toBeGreaterThan(8 * 1024 * 1024);
    expect(request.length).toBeLessThan(MAX_BODY_BYTES);
    expect(await post(socket, '/AuthZPlugin.AuthZReq', request)).toEqual({ status: 200, json: { Allow: true, Msg: '' } });
  });

  test('past the limit, a route that brings no image is decided from its method and URI; an image route is refused', async () => {
    const body = Buffer.alloc(Math.ceil((MAX_BODY_BYTES * 3) / 4), ' ');
    const create = daemonRequest('POST', '/v1.45/containers/create', body, { 'Content-Type': 'application/json' });
    expect(create.length).toBeGreaterThan(MAX_BODY_BYTES);
    expect(await post(socket, '/AuthZPlugin.AuthZReq', create)).toEqual({ status: 200, json: { Allow: true, Msg: '' } });
    const service = daemonRequest('POST', '/v1.45/services/create', body, { 'Content-Type': 'application/json' });
    expect(await post(socket, '/AuthZPlugin.AuthZReq', service)).toEqual({ status: 200, json: { Allow: false, Msg: expect.stringContaining('request larger than') } });
  });

  test('a large image route is read whole and judged: a 1 MiB service spec naming a community image is denied', async () => {
    const env = Array.from({ length: 20_000 }, (_, i) => `VAR_${i}=${'x'.repeat(40)}`);
    const spec = Buffer.from(JSON.stringify({ Name: 'web', TaskTemplate: { ContainerSpec: { Image: 'someone/app:1.0', Env: env } } }));
    expect(spec.length).toBeGreaterThan(1024 * 1024);
    const request = daemonRequest('POST', '/v1.45/services/create', spec, { 'Content-Type': 'application/json' });
    expect((await post(socket, '/AuthZPlugin.AuthZReq', request)).json).toEqual({ Allow: false, Msg: expect.stringContaining('docker.io/someone/app:1.0 is a community image') });
  });

  test('a large body whose head is not as dockerd writes it (another order, a repeated key) is read whole', async () => {
    const padding = 'A'.repeat(600_000);
    const reordered = `{"RequestBody":"${padding}","RequestMethod":"POST","RequestUri":"/v1.41/images/create?fromImage=someone%2Fapp%3A1.0"}`;
    expect((await post(socket, '/AuthZPlugin.AuthZReq', reordered)).json).toEqual({ Allow: false, Msg: expect.stringContaining('community image') });
    const repeated = `{"RequestMethod":"GET","RequestMethod":"POST","RequestUri":"/v1.41/images/create?fromImage=someone%2Fapp%3A1.0","RequestBody":"${padding}"}`;
    expect((await post(socket, '/AuthZPlugin.AuthZReq', repeated)).json).toEqual({ Allow: false, Msg: expect.stringContaining('community image') });
  });

  test('unknown endpoints are 404 with an error', async () => {
    expect(await post(socket, '/VolumeDriver.Create', '{}')).toEqual({
      status: 404,
      json: { Err: expect.stringContaining('unknown plugin endpoint') },
    });
  });
});

describe('a handler that throws', () => {
  test('denies (never allows) on both the fast path and the express path, logging the path without the query', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'ia-server-throw-'));
    const socket = join(dir, 'plugin.sock');
    const log = captureLog();
    let calls = 0;
    const server = createPluginServer(
      {
        authorizeRequest: () => {
          calls++;
          return Promise.reject(new Error('boom'));
        },
      },
      log.logger,
    );
    await listenOnUnixSocket(server, socket);
    try {
      const body = JSON.stringify({ RequestMethod: 'POST', RequestUri: '/v1.41/images/create?fromImage=alpine&secret=s3cr3t' });
      const denial = { Allow: false, Msg: 'image-access: internal error while checking this request; see the plugin log' };
      // No query string: the plain node:http fast path.
      expect(await post(socket, '/AuthZPlugin.AuthZReq', body)).toStrictEqual({ status: 200, json: denial });
      // A query string on the plugin path: served by express.
      expect(await post(socket, '/AuthZPlugin.AuthZReq?x=1', body)).toStrictEqual({ status: 200, json: denial });
      expect(calls).toBe(2);
      const errors = log.find('error', 'authorization failed');
      expect(errors).toHaveLength(2);
      expect(errors[0]).toMatchObject({ path: '/v1.41/images/create', error: 'Error: boom' });
      expect(log.text()).not.toContain('s3cr3t');
    } finally {
      await new Promise<void>((resolve) => server.close(() => resolve()));
      rmSync(dir, { recursive: true, force: true });
    }
  });
});

describe('direct requests to the plugin socket get the AuthZ reply where HTTP allows one', () => {
  let dir: string;
  let socket: string;
  let server: Server;

  beforeAll(async () => {
    dir = mkdtempSync(join(tmpdir(), 'ia-server-direct-'));
    socket = join(dir, 'plugin.sock');
    server = createPluginServer({ authorizeRequest: () => Promise.resolve({ Allow: true, Msg: '' }) }, silentLogger(), {
      headersMs: 1_000,
      requestMs: 1_500,
      checkEveryMs: 200,
    });
    await listenOnUnixSocket(server, socket);
  });

  afterAll(async () => {
    server.closeAllConnections();
    await new Promise<void>((resolve) => server.close(() => resolve()));
    rmSync(dir, { recursive: true, force: true });
  });

  /** The status and the JSON body of a reply written as raw HTTP. */
  async function raw(head: string, body = '') {
    const reply = await rawHttpRequest(socket, head, body, 10_000);
    const json = reply.text.slice(reply.text.indexOf('\r\n\r\n') + 4);
    return { status: reply.status, json: json === '' ? undefined : (JSON.parse(json) as unknown) };
  }

  test.each([
    ['GET', '/AuthZPlugin.AuthZReq', { Allow: false, Msg: 'image-access: a plugin call is a POST, not GET' }],
    ['PUT', '/AuthZPlugin.AuthZReq', { Allow: false, Msg: 'image-access: a plugin call is a POST, not PUT' }],
    ['GET', '/AuthZPlugin.AuthZRes', { Allow: true, Msg: '' }],
    ['GET', '/Plugin.Activate', { Implements: ['authz'] }],
  ])('%s %s', async (method, path, json) => {
    expect(await raw(`${method} ${path} HTTP/1.1\nHost: x\n`)).toEqual({ status: 200, json });
  });

  test('headers too large for Node: a denial saying so (was 431)', async () => {
    const reply = await raw(`POST /AuthZPlugin.AuthZReq HTTP/1.1\nHost: x\nX-Big: ${'a'.repeat(20_000)}\nContent-Length: 2\n`, '{}');
    expect(reply).toEqual({ status: 200, json: { Allow: false, Msg: 'image-access: request headers too large' } });
  });

  test('a broken chunked body: a denial saying so (was 400)', async () => {
    const reply = await raw('POST /AuthZPlugin.AuthZReq HTTP/1.1\nHost: x\nTransfer-Encoding: chunked\n', 'zz\r\n{}\r\n0\r\n\r\n');
    expect(reply).toEqual({ status: 200, json: { Allow: false, Msg: 'image-access: malformed HTTP request (HPE_INVALID_CHUNK_SIZE)' } });
  });

  test('a sender that stalls mid-body: a denial once the request timeout passes (was 408)', async () => {
    const reply = await raw('POST /AuthZPlugin.AuthZReq HTTP/1.1\nHost: x\nContent-Length: 100\n', '{"RequestMethod":');
    expect(reply).toEqual({ status: 200, json: { Allow: false, Msg: 'image-access: request not received in full in time' } });
  });

  test('another path keeps plain HTTP errors', async () => {
    expect((await raw(`POST /VolumeDriver.Create HTTP/1.1\nHost: x\nX-Big: ${'a'.repeat(20_000)}\n`)).status).toBe(431);
  });
});
