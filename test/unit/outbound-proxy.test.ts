import { spawnSync } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { createServer as createHttpServer, type IncomingHttpHeaders, type Server } from 'node:http';
import { connect, type AddressInfo, type Server as NetServer } from 'node:net';
import { networkInterfaces, tmpdir } from 'node:os';
import { join } from 'node:path';
import type { Duplex } from 'node:stream';
import { createServer as createTlsServer } from 'node:tls';
import { silentLogger } from '../../src/audit/logger';
import { loadSettings } from '../../src/config/settings';
import type { SignedInUser } from '../../src/identity/identity';
import { organizationResolver } from '../../src/identity/organization';
import { parseProxyUrl, proxyFor, type ProxySettings } from '../../src/network/proxy';
import { isUnavailable, type PolicySource } from '../../src/policy/source';
import { createPolicySource } from '../../src/run';
import { startStandInHub, type StandInHub } from '../hub';

describe('NO_PROXY and the proxy variables, as Go reads them', () => {
  const proxy = new URL('http://proxy.corp:3128');
  const via = (noProxy: string, host: string, port = 443, protocol = 'https:') =>
    proxyFor({ httpsProxy: proxy, httpProxy: undefined, noProxy }, protocol, host, port) === proxy;

  test.each([
    ['', 'hub.docker.com', true],
    ['docker.com', 'hub.docker.com', false],
    ['docker.com', 'docker.com', false],
    ['docker.com', 'notdocker.com', true],
    ['.docker.com', 'docker.com', true],
    ['.docker.com', 'hub.docker.com', false],
    ['*.docker.com', 'hub.docker.com', false],
    ['*', 'anything.example', false],
    [' Hub.Docker.Com ', 'hub.docker.com', false],
    ['10.0.0.0/8', '10.1.2.3', false],
    ['10.0.0.0/8', '11.1.2.3', true],
    ['192.0.2.7', '192.0.2.7', false],
    ['192.0.2.7', '192.0.2.8', true],
    ['fd00::/8', 'fd12::1', false],
    ['[2001:db8::1]:443', '2001:db8::1', false],
    ['hub.docker.com:8443', 'hub.docker.com', true],
    ['hub.docker.com:443', 'hub.docker.com', false],
  ])('NO_PROXY=%j, %s: proxied %s', (noProxy, host, proxied) => {
    expect(via(noProxy, host)).toBe(proxied);
  });

  test.each(['localhost', '127.0.0.1', '127.9.9.9', '::1', '[::1]', '::ffff:127.0.0.1', '::ffff:7f00:1'])('loopback %s is never proxied', (host) => {
    expect(via('', host)).toBe(false);
  });

  test('https uses HTTPS_PROXY and http uses HTTP_PROXY; without one, direct', () => {
    const settings: ProxySettings = { httpsProxy: proxy, httpProxy: undefined, noProxy: '' };
    expect(proxyFor(settings, 'https:', 'example.com', 443)).toBe(proxy);
    expect(proxyFor(settings, 'http:', 'example.com', 80)).toBeUndefined();
  });

  test.each([
    ['proxy.corp:3128', 'http://proxy.corp:3128/'],
    ['http://user:p%40ss@proxy.corp:3128', 'http://user:p%40ss@proxy.corp:3128/'],
  ])('proxy URL %s', (raw, href) => {
    expect((parseProxyUrl(raw) as URL).href).toBe(href);
  });

  test.each(['socks5://proxy:1080', 'https://proxy:443', 'http://proxy:3128/path', 'http://'])('proxy URL %s is refused', (raw) => {
    expect(parseProxyUrl(raw)).toBeInstanceOf(Error);
  });

  test('a refused proxy setting is quoted back without its password', () => {
    expect(() => loadSettings({ HTTPS_PROXY: 'socks5://ann:hunter2@proxy:1080' }, [])).toThrow('got "socks5://***@proxy:1080"');
    expect(() => loadSettings({ https_proxy: 'ann:hunter2@proxy:1080/x' }, [])).toThrow('HTTPS_PROXY (--https-proxy) must be a proxy URL with no path; got "***@proxy:1080/x"');
  });

  test('lower-case variables are read too, upper case first', () => {
    expect(loadSettings({ https_proxy: 'http://low:1' }, []).httpsProxy?.host).toBe('low:1');
    expect(loadSettings({ https_proxy: 'http://low:1', HTTPS_PROXY: 'http://up:2' }, []).httpsProxy?.host).toBe('up:2');
    expect(loadSettings({ no_proxy: '.corp' }, []).noProxy).toBe('.corp');
  });
});

/**
 * The policy sources through a real CONNECT proxy. Docker Hub and the policy URL are served over TLS (a test CA,
 * trusted through IMAGE_ACCESS_CA_BUNDLE) on this machine's non-loopback address, since loopback is never proxied.
 */
describe('Docker Hub and a policy URL through HTTPS_PROXY', () => {
  let dir: string;
  let hostIp: string;
  let hub: StandInHub;
  const servers: Array<Server | NetServer> = [];
  const sources: PolicySource[] = [];
  /** What the proxy saw: each CONNECT's target and headers, and any request it was asked to forward itself. */
  let connects: Array<{ target: string; headers: IncomingHttpHeaders }>;
  let forwarded: string[];
  let refuseWith: number | undefined;
  let proxyUrl: string;
  let hubUrl: string;
  let policyUrl: string;

  const listen = async <T extends Server | NetServer>(server: T, host = '127.0.0.1'): Promise<number> => {
    servers.push(server);
    await new Promise<void>((resolve) => server.listen(0, host, resolve));
    return (server.address() as AddressInfo).port;
  };
  /** Joins a client's socket to a new connection to 127.0.0.1:port, both ways; either failing closes both. */
  const splice = (socket: Duplex, port: number) => {
    const backend = connect(port, '127.0.0.1');
    socket.pipe(backend).pipe(socket);
    const close = () => (socket.destroy(), backend.destroy());
    socket.on('error', close);
    backend.on('error', close);
  };
  /** TLS on hostIp in front of a plain HTTP server on loopback. */
  const tlsFront = (backendPort: number) =>
    listen(
      createTlsServer({ key: readFileSync(join(dir, 'server.key')), cert: readFileSync(join(dir, 'server.crt')) }, (socket) => splice(socket, backendPort)),
      hostIp,
    );
  const openssl = (...args: string[]) => {
    const run = spawnSync('openssl', args, { cwd: dir, encoding: 'utf8' });
    if (run.status !== 0) throw new Error(`openssl ${args[0]}: ${run.stderr}`);
  };

  beforeAll(async () => {
    dir = mkdtempSync(join(tmpdir(), 'ia-proxy-'));
    const address = Object.values(networkInterfaces())
      .flat()
      .find((entry) => entry && entry.family === 'IPv4' && !entry.internal);
    if (!address) throw new Error('this test needs a non-loopback IPv4 address (loopback is never proxied)');
    hostIp = address.address;
    openssl('req', '-x509', '-newkey', 'rsa:2048', '-nodes', '-keyout', 'ca.key', '-out', 'ca.crt', '-days', '2', '-subj', '/CN=image-access test CA');
    openssl('req', '-newkey', 'rsa:2048', '-nodes', '-keyout', 'server.key', '-out', 'server.csr', '-subj', `/CN=${hostIp}`);
    writeFileSync(join(dir, 'san.ext'), `subjectAltName=IP:${hostIp}\n`);
    openssl('x509', '-req', '-in', 'server.csr', '-CA', 'ca.crt', '-CAkey', 'ca.key', '-CAcreateserial', '-out', 'server.crt', '-days', '2', '-extfile', 'san.ext');

    const proxy = createHttpServer((req, res) => {
      forwarded.push(`${req.method} ${req.url}`);
      res.writeHead(405).end();
    });
    proxy.on('connect', (req, client, head) => {
      connects.push({ target: req.url ?? '', headers: req.headers });
      if (refuseWith !== undefined) {
        client.end(`HTTP/1.1 ${refuseWith} Refused\r\n\r\n`);
        return;
      }
      const [host, port] = [(req.url ?? '').replace(/:\d+$/, ''), Number(/:(\d+)$/.exec(req.url ?? '')?.[1])];
      const upstream = connect(port, host, () => {
        client.write('HTTP/1.1 200 Connection Established\r\n\r\n');
        upstream.write(head);
        upstream.pipe(client).pipe(upstream);
      });
      const close = () => (client.destroy(), upstream.destroy());
      upstream.on('error', close);
      client.on('error', close);
    });
    proxyUrl = `http://ann:proxy-secret@127.0.0.1:${await listen(proxy)}`;

    const policyServer = createHttpServer((_req, res) => {
      res.writeHead(200, { 'Content-Type': 'application/json' }).end(JSON.stringify({ organization: 'acme', restricted_images: { enabled: true } }));
    });
    policyUrl = `https://${hostIp}:${await tlsFront(await listen(policyServer))}/policy.json`;

    // The Hub's `next` links must name the origin the client uses; the front's port is known before the Hub starts.
    const hubFront = createTlsServer();
    const hubPort = await listen(hubFront, hostIp);
    hubUrl = `https://${hostIp}:${hubPort}`;
    hub = await startStandInHub({
      users: [{ username: 'mike', secrets: ['member-password'] }],
      orgs: [{ orgname: 'acme', members: { mike: 'Member' }, settings: { enabled: true, allowOfficialImages: true, allowVerifiedPublishers: true } }],
      nextOrigin: hubUrl,
    });
    hubFront.setSecureContext({ key: readFileSync(join(dir, 'server.key')), cert: readFileSync(join(dir, 'server.crt')) });
    hubFront.on('secureConnection', (socket) => splice(socket, Number(new URL(hub.url).port)));
  });

  beforeEach(() => {
    connects = [];
    forwarded = [];
    refuseWith = undefined;
  });

  afterEach(() => {
    for (const source of sources.splice(0)) source.close();
  });

  afterAll(async () => {
    await hub?.stop();
    for (const server of servers) server.close();
    rmSync(dir, { recursive: true, force: true });
  });

  const member: SignedInUser = { username: 'mike', source: 'docker-config', credential: { kind: 'password', secret: 'member-password' } };
  const policySource = (env: Record<string, string>) => {
    const settings = loadSettings({ IMAGE_ACCESS_CA_BUNDLE: join(dir, 'ca.crt'), IMAGE_ACCESS_ORG: 'acme', ...env }, []);
    const source = createPolicySource(settings, silentLogger(), () => Date.now(), organizationResolver({ org: 'acme', registryJson: undefined, logger: silentLogger() }));
    sources.push(source);
    return source;
  };
  const organizationOf = async (source: PolicySource, user: SignedInUser = { source: 'none' }) => {
    const view = await source.policyFor(user);
    return isUnavailable(view) ? view.unavailable : view.policy.organization;
  };
  const targets = () => [...new Set(connects.map((c) => c.target))];

  test('the policy URL is fetched through a CONNECT tunnel, trusting the extra CA', async () => {
    expect(await organizationOf(policySource({ HTTPS_PROXY: proxyUrl, IMAGE_ACCESS_POLICY: policyUrl }))).toBe('acme');
    expect(targets()).toEqual([new URL(policyUrl).host]);
    expect(forwarded).toEqual([]);
  });

  test("Docker Hub is asked through the tunnel; the user's password goes only inside TLS, the proxy gets only its own", async () => {
    expect(await organizationOf(policySource({ HTTPS_PROXY: proxyUrl, IMAGE_ACCESS_POLICY: 'hub', IMAGE_ACCESS_HUB_URL: hubUrl }), member)).toBe('acme');
    expect(targets()).toEqual([new URL(hubUrl).host]);
    expect(hub.requests('token') + hub.requests('login')).toBeGreaterThan(0);
    for (const { headers } of connects) {
      expect(headers['proxy-authorization']).toBe(`Basic ${Buffer.from('ann:proxy-secret').toString('base64')}`);
      expect(headers.authorization).toBeUndefined();
      expect(JSON.stringify(headers)).not.toContain('member-password');
    }
    expect(forwarded).toEqual([]);
  });

  test('NO_PROXY naming the server sends both direct', async () => {
    const noProxy = { HTTPS_PROXY: proxyUrl, NO_PROXY: `example.com,${hostIp}` };
    expect(await organizationOf(policySource({ ...noProxy, IMAGE_ACCESS_POLICY: policyUrl }))).toBe('acme');
    expect(await organizationOf(policySource({ ...noProxy, IMAGE_ACCESS_POLICY: 'hub', IMAGE_ACCESS_HUB_URL: hubUrl }), member)).toBe('acme');
    expect(connects).toEqual([]);
  });

  test('a Hub on loopback is dialled direct even with both proxies set', async () => {
    const source = policySource({ HTTPS_PROXY: proxyUrl, HTTP_PROXY: proxyUrl, IMAGE_ACCESS_POLICY: 'hub', IMAGE_ACCESS_HUB_URL: hub.url });
    expect(await organizationOf(source, member)).toBe('acme');
    expect(connects).toEqual([]);
  });

  test('without the extra CA the server is not trusted', async () => {
    const settings = loadSettings({ HTTPS_PROXY: proxyUrl, IMAGE_ACCESS_POLICY: policyUrl, IMAGE_ACCESS_DECISION_TIMEOUT: '2s' }, []);
    const source = createPolicySource(settings, silentLogger(), () => Date.now(), organizationResolver({ org: undefined, registryJson: undefined, logger: silentLogger() }));
    sources.push(source);
    expect(await organizationOf(source)).toMatch(/unavailable|SELF_SIGNED|certificate|UNABLE/i);
    expect(targets()).toEqual([new URL(policyUrl).host]);
  });

  test("a proxy that refuses the tunnel makes the source unavailable, naming neither the proxy's nor anyone's secret", async () => {
    refuseWith = 407;
    const result = await organizationOf(policySource({ HTTPS_PROXY: proxyUrl, IMAGE_ACCESS_POLICY: policyUrl, IMAGE_ACCESS_DECISION_TIMEOUT: '2s' }));
    expect(connects).toHaveLength(1);
    expect(result).not.toBe('acme');
    expect(result).not.toContain('proxy-secret');
  });
});
