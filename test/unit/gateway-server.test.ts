import { mkdtempSync, rmSync } from 'node:fs';
import { createServer as createHttpServer, request as httpRequest, type IncomingHttpHeaders, type IncomingMessage, type Server } from 'node:http';
import { connect as netConnect, createServer as createNetServer, type AddressInfo, type Socket } from 'node:net';
import { networkInterfaces, tmpdir } from 'node:os';
import { join } from 'node:path';
import { connect as tlsConnect } from 'node:tls';
import winston from 'winston';
import Transport from 'winston-transport';
import { Authorizer } from '../../src/authorizer';
import { loadSettings } from '../../src/config/settings';
import { loadOrCreateGatewayCa, type GatewayCa } from '../../src/gateway/certificate-authority';
import { startGateway, type RunningGateway } from '../../src/gateway/gateway';
import type { IdentityResolver } from '../../src/identity/identity';
import { settingsAgents, settingsDial } from '../../src/network/outbound-settings';
import { defaultPolicy } from '../../src/policy/default-policy';
import { staticSource } from '../../src/policy/file-source';
import type { OrgPolicy } from '../../src/policy/policy';
import type { DecisionEvent } from '../../src/observability/events';

/**
 * The gateway over real sockets: a TLS client that trusts only the gateway CA goes through CONNECT as dockerd does,
 * the real Authorizer judges, and a stand-in upstream registry records what reaches it.
 */

/** An organisation's own policy: the embedded demo's rules, without its demo notice. */
const acmePolicy = (): OrgPolicy => {
  const { demo: _demo, ...policy } = defaultPolicy('acme');
  return policy;
};

const TOKEN = 'Bearer registry-token-s3cr3t';
const DIGEST = `sha256:${'b'.repeat(64)}`;

class Capture extends Transport {
  readonly lines: Array<Record<string, unknown>> = [];
  override log(info: Record<string, unknown>, done: () => void): void {
    this.lines.push(info);
    done();
  }
}

interface Reply {
  readonly status: number;
  readonly reason: string;
  readonly headers: IncomingHttpHeaders;
  readonly body: string;
}

const listenOn = (server: Server | ReturnType<typeof createNetServer>): Promise<number> =>
  new Promise((resolve) => server.listen(0, '127.0.0.1', () => resolve((server.address() as AddressInfo).port)));

/** A plain GET to the gateway itself (the mirror front), with the whole reply. */
function getFrom(port: number, path: string): Promise<{ status: number; body: string }> {
  return new Promise((resolve, reject) => {
    const req = httpRequest({ host: '127.0.0.1', port, path }, (res) => {
      let body = '';
      res.on('data', (chunk: Buffer) => (body += chunk.toString()));
      res.on('end', () => resolve({ status: res.statusCode ?? 0, body }));
    });
    req.on('error', reject);
    req.end();
  });
}

/** Sends CONNECT to the gateway; resolves with the raw reply head and the socket. */
function connectThrough(gatewayPort: number, target: string): Promise<{ status: number; reason: string; socket: Socket }> {
  return new Promise((resolve, reject) => {
    const req = httpRequest({ host: '127.0.0.1', port: gatewayPort, method: 'CONNECT', path: target });
    req.once('connect', (res, socket) => resolve({ status: res.statusCode ?? 0, reason: res.statusMessage ?? '', socket }));
    req.once('response', (res) => resolve({ status: res.statusCode ?? 0, reason: res.statusMessage ?? '', socket: res.socket }));
    req.once('error', reject);
    req.end();
  });
}

describe('registry gateway', () => {
  let stateDir: string;
  let ca: GatewayCa;
  let upstream: Server;
  let upstreamPort: number;
  let echo: ReturnType<typeof createNetServer>;
  let echoPort: number;
  const seen: Array<{ method: string; url: string; headers: IncomingHttpHeaders }> = [];
  const decisions: DecisionEvent[] = [];
  const capture = new Capture();
  let gateway: RunningGateway;
  let policy: OrgPolicy = acmePolicy();

  beforeAll(async () => {
    stateDir = mkdtempSync(join(tmpdir(), 'ia-gateway-'));
    const logger = winston.createLogger({ level: 'debug', transports: [capture] });
    ca = await loadOrCreateGatewayCa(stateDir, () => Date.now(), logger);
    upstream = createHttpServer((req, res) => {
      seen.push({ method: req.method ?? '', url: req.url ?? '', headers: req.headers });
      if (req.url === '/v2/') return res.writeHead(401, { 'www-authenticate': 'Bearer realm="https://auth.docker.io/token"' }).end('{}');
      if (req.url?.includes('/blobs/')) {
        // Megabytes in chunks, never held whole by the stand-in either.
        res.writeHead(200, { 'content-type': 'application/octet-stream', 'content-length': 8 * 1024 * 1024 });
        const chunk = Buffer.alloc(64 * 1024, 7);
        let sent = 0;
        const more = () => {
          while (sent < 128) {
            sent += 1;
            if (!res.write(chunk)) return res.once('drain', more);
          }
          res.end();
        };
        return more();
      }
      if (req.url?.endsWith('/manifests/silent')) return;
      if (req.url?.endsWith('/manifests/slow')) return void setTimeout(() => res.writeHead(200).end('{"slow":true}'), 300);
      if (req.url?.endsWith('/manifests/moved')) return res.writeHead(307, { location: `http://127.0.0.1:${upstreamPort}/v2/library/alpine/manifests/latest` }).end();
      res.writeHead(200, { 'content-type': 'application/vnd.docker.distribution.manifest.v2+json', 'docker-content-digest': DIGEST }).end('{"schemaVersion":2}');
    });
    upstreamPort = await listenOn(upstream);
    echo = createNetServer((socket) => socket.pipe(socket));
    echoPort = await listenOn(echo);
    const identity: IdentityResolver = { identify: () => Promise.resolve({ username: 'dev', source: 'provisioned' }) };
    const authorizer = new Authorizer({
      policySource: { ...staticSource(policy, 'test', 0), policyFor: () => Promise.resolve({ policy, source: 'test', fetchedAt: 0 }) },
      identity,
      logger,
      mode: 'enforce',
      failMode: 'closed',
      clock: () => 0,
      routes: { allowImport: false, allowLoad: false, allowBuild: true, protectPlugin: false, pluginName: 'image-access' },
      observers: [{ decided: (event) => decisions.push(event) }],
    });
    gateway = await startGateway({
      listen: { kind: 'tcp', host: '127.0.0.1', port: 0 },
      upstream: `http://127.0.0.1:${upstreamPort}`,
      judge: authorizer,
      serverContextFor: (host) => ca.secureContextFor(host),
      mirrors: new Set(['mirror.example.com']),
      logger,
    });
  });

  afterAll(async () => {
    await gateway?.stop();
    await new Promise((resolve) => upstream?.close(resolve));
    await new Promise((resolve) => echo?.close(resolve));
    rmSync(stateDir, { recursive: true, force: true });
  });

  beforeEach(() => {
    seen.length = 0;
    decisions.length = 0;
    policy = acmePolicy();
  });

  /** Another gateway that allows everything, to `upstream`: for what the shared one must not be put through. */
  const allowingGateway = (upstream: string, upstreamIdleMs?: number) =>
    startGateway({
      listen: { kind: 'tcp', host: '127.0.0.1', port: 0 },
      upstream,
      ...(upstreamIdleMs === undefined ? {} : { upstreamIdleMs }),
      judge: { authorizeFetch: async () => ({ Allow: true, Msg: '' }), refuseFetch: () => ({ Allow: false, Msg: 'no' }), authorizeConnection: async () => ({ Allow: true, Msg: '' }) },
      serverContextFor: (host) => ca.secureContextFor(host),
      mirrors: new Set(),
      logger: winston.createLogger({ silent: true, transports: [capture] }),
    });

  /** A registry request as dockerd makes it: CONNECT, TLS trusting only the gateway CA, then HTTP/1.1. */
  async function viaGateway(method: string, path: string, host = 'registry-1.docker.io'): Promise<Reply> {
    const { status, socket } = await connectThrough(gateway.port, `${host}:443`);
    expect(status).toBe(200);
    const tls = tlsConnect({ socket, servername: host, ca: ca.certificatePem });
    await new Promise<void>((resolve, reject) => tls.once('secureConnect', resolve).once('error', reject));
    return new Promise((resolve, reject) => {
      const req = httpRequest({ createConnection: () => tls, method, path, headers: { host, authorization: TOKEN } }, (res) => {
        const chunks: Buffer[] = [];
        res.on('data', (chunk: Buffer) => chunks.push(chunk));
        res.on('end', () => {
          tls.destroy();
          resolve({ status: res.statusCode ?? 0, reason: res.statusMessage ?? '', headers: res.headers, body: Buffer.concat(chunks).toString() });
        });
      });
      req.on('error', reject);
      req.end();
    });
  }

  it('forwards an allowed manifest fetch upstream with its Authorization, under the upstream host name', async () => {
    const reply = await viaGateway('GET', '/v2/library/alpine/manifests/latest');
    expect(reply).toMatchObject({ status: 200, body: '{"schemaVersion":2}' });
    expect(reply.headers['docker-content-digest']).toBe(DIGEST);
    expect(seen).toEqual([expect.objectContaining({ method: 'GET', url: '/v2/library/alpine/manifests/latest' })]);
    expect(seen[0]!.headers).toMatchObject({ authorization: TOKEN, host: `127.0.0.1:${upstreamPort}` });
    expect(decisions).toEqual([expect.objectContaining({ image: 'docker.io/library/alpine:latest', decision: 'allow', via: 'gateway', user: 'dev' })]);
  });

  it('fetches a one-component name as the library/ repository it was judged as', async () => {
    expect((await viaGateway('HEAD', '/v2/alpine/manifests/3')).status).toBe(200);
    expect(seen.map((request) => request.url)).toEqual(['/v2/library/alpine/manifests/3']);
  });

  it('denies a HEAD with the reason in the status line (what BuildKit shows) and never asks upstream', async () => {
    const reply = await viaGateway('HEAD', '/v2/someone/app/manifests/1.0');
    expect(reply.status).toBe(403);
    expect(reply.reason).toBe(
      'image access restricted: Image Access Management: docker.io/someone/app:1.0 is a community image, and organization "acme" only allows Docker Official Images, Verified Publisher images and its own images. Ask an owner of "acme" to allow it, or use an allowed image. ' +
        '[image-access: rule category-not-allowed; signed in as dev (found by provisioned). Help: ask your Docker administrator]',
    );
    expect(seen).toEqual([]);
    expect(decisions).toEqual([expect.objectContaining({ image: 'docker.io/someone/app:1.0', decision: 'deny', rule: 'category-not-allowed', via: 'gateway' })]);
  });

  it('denies a GET with a registry error body (what docker pull and the classic builder show)', async () => {
    const reply = await viaGateway('GET', `/v2/someone/app/manifests/${DIGEST}`);
    expect(reply.status).toBe(403);
    const body = JSON.parse(reply.body) as { errors: Array<{ code: string; message: string }> };
    expect(body.errors).toEqual([{ code: 'DENIED', message: expect.stringMatching(/^image access restricted: Image Access Management: docker\.io\/someone\/app@sha256:b+ is a community image/) }]);
    expect(seen).toEqual([]);
  });

  it('judges blobs too: a denied repository\'s blob is refused and audited, an allowed one streams without an audit line', async () => {
    expect((await viaGateway('GET', `/v2/someone/app/blobs/${DIGEST}`)).status).toBe(403);
    expect(decisions).toEqual([expect.objectContaining({ image: `docker.io/someone/app@${DIGEST}`, decision: 'deny' })]);
    decisions.length = 0;
    const blob = await viaGateway('GET', `/v2/library/alpine/blobs/${DIGEST}`);
    expect(blob.status).toBe(200);
    expect(blob.body.length).toBe(8 * 1024 * 1024);
    expect(decisions).toEqual([]);
  });

  it('refuses what a registry client never needs here, and names the gateway', async () => {
    const reply = await viaGateway('GET', '/v2/_catalog');
    expect(reply.status).toBe(403);
    expect(reply.reason).toBe('image access restricted: GET /v2/_catalog is not served by the image-access registry gateway');
    expect((await viaGateway('GET', '/v2/some%2fone/app/manifests/1')).status).toBe(403);
    expect(seen).toEqual([]);
  });

  it('passes the API check and its auth challenge through, and pushes unjudged', async () => {
    const ping = await viaGateway('GET', '/v2/');
    expect(ping.status).toBe(401);
    expect(ping.headers['www-authenticate']).toBe('Bearer realm="https://auth.docker.io/token"');
    expect((await viaGateway('PUT', '/v2/acme/app/manifests/2.0')).status).toBe(200);
    expect(decisions).toEqual([]);
  });

  it('brings a redirect to upstream itself back through the gateway, under the name dockerd used', async () => {
    const reply = await viaGateway('GET', '/v2/library/alpine/manifests/moved');
    expect(reply.status).toBe(307);
    expect(reply.headers.location).toBe('https://registry-1.docker.io/v2/library/alpine/manifests/latest');
  });

  it('serves origin-form requests as the registry mirror it fronts, judged the same way', async () => {
    const ask = (path: string) =>
      new Promise<number>((resolve, reject) => {
        const req = httpRequest({ host: '127.0.0.1', port: gateway.port, path }, (res) => resolve(res.resume() && (res.statusCode ?? 0)));
        req.on('error', reject);
        req.end();
      });
    expect(await ask('/v2/library/busybox/manifests/latest')).toBe(200);
    expect(await ask('/v2/someone/app/manifests/1.0')).toBe(403);
    expect(decisions.map((event) => [event.image, event.decision])).toEqual([
      ['docker.io/library/busybox:latest', 'allow'],
      ['docker.io/someone/app:1.0', 'deny'],
    ]);
  });

  it('refuses plain-HTTP proxying and malformed CONNECT targets', async () => {
    const absolute = await new Promise<number>((resolve, reject) => {
      const req = httpRequest({ host: '127.0.0.1', port: gateway.port, path: 'http://example.com/' }, (res) => resolve(res.resume() && (res.statusCode ?? 0)));
      req.on('error', reject);
      req.end();
    });
    expect(absolute).toBe(405);
    expect((await connectThrough(gateway.port, 'no-port')).status).toBe(400);
  });

  it('refuses a CONNECT to one of dockerd\'s registry mirrors, so dockerd falls back to Docker Hub through the gateway', async () => {
    const reply = await connectThrough(gateway.port, 'mirror.example.com:443');
    expect(reply.status).toBe(403);
    expect(reply.reason).toContain('registry mirror mirror.example.com bypasses the image-access registry gateway');
  });

  it('tunnels other hosts unseen, once Registry Access Management allows them', async () => {
    const { status, socket } = await connectThrough(gateway.port, `127.0.0.1:${echoPort}`);
    expect(status).toBe(200);
    const echoed = await new Promise<string>((resolve) => {
      socket.once('data', (data: Buffer) => resolve(data.toString()));
      socket.write('hello');
    });
    socket.destroy();
    expect(echoed).toBe('hello');
    policy = { ...acmePolicy(), registryAllowlist: ['docker.io'] };
    const refused = await connectThrough(gateway.port, `127.0.0.1:${echoPort}`);
    expect(refused.status).toBe(403);
    expect(refused.reason).toContain(`Registry Access Management: dockerd may not connect to 127.0.0.1:${echoPort}`);
    expect(decisions).toEqual([expect.objectContaining({ image: `127.0.0.1:${echoPort}`, decision: 'deny', rule: 'registry-not-allowed', via: 'gateway' })]);
  });

  it('answers 502 with a registry error when upstream is down', async () => {
    const down = await allowingGateway('http://127.0.0.1:9');
    try {
      const reply = await getFrom(down.port, '/v2/library/alpine/manifests/latest');
      expect(reply.status).toBe(502);
      expect(JSON.parse(reply.body)).toEqual({ errors: [{ code: 'UNAVAILABLE', message: expect.stringContaining('http://127.0.0.1:9 did not answer') }] });
    } finally {
      await down.stop();
    }
  });

  it('gives up on an upstream that stays silent, with a 502 naming it', async () => {
    const impatient = await allowingGateway(`http://127.0.0.1:${upstreamPort}`, 200);
    try {
      const reply = await getFrom(impatient.port, '/v2/library/alpine/manifests/silent');
      expect(reply.status).toBe(502);
      expect(reply.body).toContain('did not answer (no data for 200 ms)');
    } finally {
      await impatient.stop();
    }
  });

  it('on stop, refuses new connections at once and lets a request in flight finish within the grace', async () => {
    const draining = await allowingGateway(`http://127.0.0.1:${upstreamPort}`);
    const reply = getFrom(draining.port, '/v2/library/alpine/manifests/slow');
    await new Promise((resolve) => setTimeout(resolve, 100));
    const stopped = draining.stop(5_000);
    await expect(connectThrough(draining.port, 'registry-1.docker.io:443')).rejects.toThrow(/ECONNREFUSED/);
    expect(await reply).toEqual({ status: 200, body: '{"slow":true}' });
    await stopped;
  });

  it('never logs the registry credential', () => {
    expect(JSON.stringify(capture.lines)).not.toContain('s3cr3t');
  });
});

describe('registry gateway behind a corporate proxy (HTTP_PROXY, HTTPS_PROXY, NO_PROXY)', () => {
  const servers: Array<Server | ReturnType<typeof createNetServer>> = [];
  const connects: string[] = [];
  let hostIp: string;
  let gateway: RunningGateway | undefined;
  let stateDir: string;

  const listenOnHost = (server: Server | ReturnType<typeof createNetServer>, host: string): Promise<number> => {
    servers.push(server);
    return new Promise((resolve) => server.listen(0, host, () => resolve((server.address() as AddressInfo).port)));
  };

  beforeAll(async () => {
    // Loopback is never proxied: the far side listens on this machine's other address.
    const address = Object.values(networkInterfaces()).flat().find((entry) => entry && entry.family === 'IPv4' && !entry.internal);
    if (!address) throw new Error('this test needs a non-loopback IPv4 address (loopback is never proxied)');
    hostIp = address.address;
    stateDir = mkdtempSync(join(tmpdir(), 'ia-gateway-proxy-'));
    const upstream = createHttpServer((_req, res) => res.writeHead(200).end('{"via":"upstream"}'));
    const upstreamPort = await listenOnHost(upstream, hostIp);
    const echo = createNetServer((socket) => socket.pipe(socket));
    const echoPort = await listenOnHost(echo, hostIp);
    const proxy = createHttpServer((_req, res) => res.writeHead(405).end());
    proxy.on('connect', (req: IncomingMessage, client: Socket, head: Buffer) => {
      connects.push(req.url ?? '');
      const [host, port] = [(req.url ?? '').replace(/:\d+$/, ''), Number(/:(\d+)$/.exec(req.url ?? '')?.[1])];
      const far = netConnect(port, host, () => {
        client.write('HTTP/1.1 200 Connection Established\r\n\r\n');
        far.write(head);
        far.pipe(client).pipe(far);
      });
      far.on('error', () => client.destroy());
      client.on('error', () => far.destroy());
    });
    const proxyPort = await listenOnHost(proxy, '127.0.0.1');
    const settings = loadSettings({ HTTP_PROXY: `http://127.0.0.1:${proxyPort}`, HTTPS_PROXY: `http://127.0.0.1:${proxyPort}`, NO_PROXY: '' }, []);
    const logger = winston.createLogger({ silent: true, transports: [new winston.transports.Console({ silent: true })] });
    const ca = await loadOrCreateGatewayCa(stateDir, () => Date.now(), logger);
    gateway = await startGateway({
      listen: { kind: 'tcp', host: '127.0.0.1', port: 0 },
      upstream: `http://${hostIp}:${upstreamPort}`,
      judge: { authorizeFetch: async () => ({ Allow: true, Msg: '' }), refuseFetch: () => ({ Allow: false, Msg: 'no' }), authorizeConnection: async () => ({ Allow: true, Msg: '' }) },
      serverContextFor: (host) => ca.secureContextFor(host),
      mirrors: new Set(),
      logger,
      outbound: { agents: settingsAgents(settings), dial: settingsDial(settings) },
    });
    servers.push(echo);
    echoTarget = `${hostIp}:${echoPort}`;
    upstreamTarget = `${hostIp}:${upstreamPort}`;
  });
  let echoTarget: string;
  let upstreamTarget: string;

  afterAll(async () => {
    await gateway?.stop();
    for (const server of servers) await new Promise((resolve) => server.close(resolve));
    rmSync(stateDir, { recursive: true, force: true });
  });

  it('forwards allowed registry requests upstream through the proxy', async () => {
    expect(await getFrom(gateway!.port, '/v2/library/alpine/manifests/latest')).toEqual({ status: 200, body: '{"via":"upstream"}' });
    expect(connects).toContain(upstreamTarget);
  });

  it('opens its tunnels through the proxy too', async () => {
    const { status, socket } = await connectThrough(gateway!.port, echoTarget);
    expect(status).toBe(200);
    const echoed = await new Promise<string>((resolve) => {
      socket.once('data', (data: Buffer) => resolve(data.toString()));
      socket.write('ping');
    });
    socket.destroy();
    expect(echoed).toBe('ping');
    expect(connects).toContain(echoTarget);
  });
});
