import { existsSync, mkdirSync, mkdtempSync, readdirSync, readFileSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { createServer as createHttpServer, type Server as HttpServer } from 'node:http';
import { createServer, type Server } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { gatewayCaFiles } from '../../src/gateway/ca-files';
import { runInstallCommand } from '../../src/install/commands';
import {
  addGatewayProxy,
  certificateDirectoryProblem,
  conflictingDropIns,
  engineReadsDaemonJsonProxies,
  GATEWAY_DROP_IN,
  gatewayProxyUrl,
  parseGatewayReceipt,
  removeGatewayProxy,
  renderGatewayDropIn,
} from '../../src/install/gateway-config';

const URL = 'http://127.0.0.1:3128';

describe('gateway configuration edits (pure)', () => {
  test('daemon.json proxies from dockerd 23.0 on; older engines refuse the key, so they get the environment', () => {
    expect(engineReadsDaemonJsonProxies('20.10.24+dfsg1')).toBe(false);
    expect(engineReadsDaemonJsonProxies('22.06.0-beta.0')).toBe(false);
    expect(engineReadsDaemonJsonProxies('23.0.0')).toBe(true);
    expect(engineReadsDaemonJsonProxies('26.1.5+dfsg1')).toBe(true);
    expect(engineReadsDaemonJsonProxies('v28.2.2')).toBe(true);
    expect(engineReadsDaemonJsonProxies('latest')).toEqual(new Error('"latest" is not a Docker Engine version (e.g. 20.10.24 or 26.1.5)'));
  });

  test('the proxy URL brackets an IPv6 host', () => {
    expect(gatewayProxyUrl({ host: '127.0.0.1', port: 3128 })).toBe(URL);
    expect(gatewayProxyUrl({ host: '::1', port: 3128 })).toBe('http://[::1]:3128');
  });

  test('adding the proxy keeps every other key, in the spelling the file uses', () => {
    expect(addGatewayProxy({}, URL, undefined)).toEqual({ document: { proxies: { 'https-proxy': URL } }, changed: true });
    const document = { debug: true, Proxies: { 'http-proxy': 'http://corp:80', 'no-proxy': 'internal' } };
    expect(addGatewayProxy(document, URL, undefined)).toEqual({
      document: { debug: true, Proxies: { 'http-proxy': 'http://corp:80', 'no-proxy': 'internal', 'https-proxy': URL } },
      changed: true,
    });
    expect(addGatewayProxy({ proxies: { 'HTTPS-Proxy': URL } }, URL, undefined)).toEqual({ document: { proxies: { 'HTTPS-Proxy': URL } }, changed: false });
  });

  test("an admin's https-proxy is never replaced; one the previous install wrote is", () => {
    const admin = addGatewayProxy({ proxies: { 'https-proxy': 'http://corp:3128' } }, URL, undefined);
    expect(admin).toBeInstanceOf(Error);
    expect((admin as Error).message).toMatch(/^dockerd already sends HTTPS through the proxy "http:\/\/corp:3128" \(daemon.json proxies.https-proxy\); the gateway does not forward/);
    expect(addGatewayProxy({ proxies: { 'https-proxy': 'http://corp:3128' } }, URL, 'http://127.0.0.1:9000')).toBeInstanceOf(Error);
    expect(addGatewayProxy({ proxies: { 'https-proxy': 'http://127.0.0.1:9000' } }, URL, 'http://127.0.0.1:9000')).toEqual({
      document: { proxies: { 'https-proxy': URL } },
      changed: true,
    });
  });

  test('a daemon.json whose proxies dockerd would read ambiguously, or not at all, is refused', () => {
    expect(addGatewayProxy({ proxies: {}, PROXIES: {} }, URL, undefined)).toEqual(new Error('daemon.json spells "proxies" more than once (proxies, PROXIES)'));
    expect(addGatewayProxy({ proxies: 'http://x' }, URL, undefined)).toEqual(new Error(`daemon.json's "proxies" is not an object`));
    expect(addGatewayProxy({ proxies: { 'https-proxy': '', 'Https-Proxy': '' } }, URL, undefined)).toBeInstanceOf(Error);
    expect(removeGatewayProxy({ proxies: [] }, URL)).toBeInstanceOf(Error);
  });

  test('removing takes away only the value install wrote, and proxies when that empties it', () => {
    expect(removeGatewayProxy({ debug: true, proxies: { 'https-proxy': URL } }, URL)).toEqual({ document: { debug: true }, changed: true });
    expect(removeGatewayProxy({ proxies: { 'https-proxy': URL, 'no-proxy': 'internal' } }, URL)).toEqual({ document: { proxies: { 'no-proxy': 'internal' } }, changed: true });
    const changedSince = { proxies: { 'https-proxy': 'http://corp:3128' } };
    expect(removeGatewayProxy(changedSince, URL)).toEqual({ document: changedSince, changed: false });
    expect(removeGatewayProxy({}, URL)).toEqual({ document: {}, changed: false });
  });

  test('the drop-in: SSL_CERT_DIR always, HTTPS_PROXY only for the environment, and the receipt of the daemon.json edit', () => {
    const receipt = { daemonJson: '/etc/docker/daemon.json', httpsProxy: URL };
    const withReceipt = renderGatewayDropIn({ certificateDirectory: '/var/lib/image-access/gateway-ca', receipt });
    expect(withReceipt).toContain('\n[Service]\nEnvironment=SSL_CERT_DIR=/etc/ssl/certs:/var/lib/image-access/gateway-ca\n# image-access-receipt ');
    expect(withReceipt).not.toContain('HTTPS_PROXY');
    expect(parseGatewayReceipt(withReceipt)).toEqual(receipt);
    const environment = renderGatewayDropIn({ certificateDirectory: '/s/gateway-ca', environmentProxy: URL });
    expect(environment).toContain('Environment=SSL_CERT_DIR=/etc/ssl/certs:/s/gateway-ca\nEnvironment=HTTPS_PROXY=http://127.0.0.1:3128\n');
    expect(parseGatewayReceipt(environment)).toBeUndefined();
    expect(parseGatewayReceipt('# image-access-receipt {"daemonJson":1}\n')).toBeUndefined();
    expect(parseGatewayReceipt('# image-access-receipt {not json\n')).toBeUndefined();
  });

  test('other drop-ins that set HTTPS_PROXY, https_proxy or SSL_CERT_DIR conflict; comments, other variables and our own file do not', () => {
    const files = [
      { name: 'http-proxy.conf', text: '[Service]\nEnvironment="HTTPS_PROXY=http://corp:3128" "NO_PROXY=localhost"\n' },
      { name: 'lower.conf', text: '[Service]\nEnvironment=https_proxy=http://corp:3128\n' },
      { name: 'certs.conf', text: '[Service]\nEnvironment=SSL_CERT_DIR=/etc/pki\n' },
      { name: 'commented.conf', text: '[Service]\n#Environment=HTTPS_PROXY=http://corp:3128\nEnvironment=FOO=1\n' },
      { name: 'limits.conf', text: '[Service]\nLimitNOFILE=1048576\n' },
      { name: GATEWAY_DROP_IN, text: renderGatewayDropIn({ certificateDirectory: '/s/gateway-ca', environmentProxy: URL }) },
    ];
    expect(conflictingDropIns(files)).toEqual(['http-proxy.conf', 'lower.conf', 'certs.conf']);
  });

  test('a certificate directory systemd or SSL_CERT_DIR would split or expand is refused', () => {
    expect(certificateDirectoryProblem('/var/lib/image-access/gateway-ca')).toBeUndefined();
    for (const path of ['/var/lib/my state/gateway-ca', '/a:b/gateway-ca', '/a%i/gateway-ca', '/a"b/gateway-ca']) {
      expect(certificateDirectoryProblem(path)).toMatch(/cannot go into a systemd Environment= line/);
    }
  });
});

describe('image-access install --gateway / uninstall --gateway on files in a temp dir', () => {
  const NOW = new Date('2026-11-30T04:00:00.000Z');
  let dir: string;
  let stateDir: string;
  let systemdDir: string;
  let daemonJson: string;
  let gateway: Server;
  let gatewayAddress: string;
  let lines: string[];
  const dropIn = () => join(systemdDir, GATEWAY_DROP_IN);
  const backups = () => readdirSync(dir).filter((name) => name.startsWith('daemon.json.bak-'));
  const run = (command: 'install' | 'uninstall', args: string[], env: Record<string, string> = {}) =>
    runInstallCommand(command, args, { out: (line) => lines.push(line), now: () => NOW, env: { IMAGE_ACCESS_STATE_DIR: stateDir, ...env } });
  const install = (version: string, ...extra: string[]) =>
    run('install', ['--gateway', gatewayAddress, '--engine-version', version, '--daemon-json', daemonJson, '--systemd-dir', systemdDir, ...extra]);
  const uninstall = () => run('uninstall', ['--gateway', '--systemd-dir', systemdDir]);

  beforeAll(async () => {
    gateway = createServer((socket) => socket.destroy());
    await new Promise<void>((resolve) => gateway.listen(0, '127.0.0.1', resolve));
    gatewayAddress = `127.0.0.1:${(gateway.address() as { port: number }).port}`;
  });
  afterAll(() => new Promise<void>((resolve) => gateway.close(() => resolve())));

  beforeEach(() => {
    lines = [];
    dir = mkdtempSync(join(tmpdir(), 'ia-gw-install-'));
    stateDir = join(dir, 'state');
    systemdDir = join(dir, 'docker.service.d');
    daemonJson = join(dir, 'daemon.json');
    // The plugin makes the CA on its first start with the gateway on; install only needs it to be there.
    mkdirSync(gatewayCaFiles(stateDir).certificateDirectory, { recursive: true });
    writeFileSync(gatewayCaFiles(stateDir).certificate, 'certificate');
  });
  afterEach(() => rmSync(dir, { recursive: true, force: true }));

  test('dockerd 26: proxies in daemon.json (backup kept), SSL_CERT_DIR in the drop-in, and the restart it needs', async () => {
    writeFileSync(daemonJson, '{"debug":true,"authorization-plugins":["image-access"]}');
    await install('26.1.5');
    const url = `http://${gatewayAddress}`;
    expect(JSON.parse(readFileSync(daemonJson, 'utf8'))).toEqual({ debug: true, 'authorization-plugins': ['image-access'], proxies: { 'https-proxy': url } });
    expect(backups()).toEqual(['daemon.json.bak-20261130T040000Z']);
    const text = readFileSync(dropIn(), 'utf8');
    expect(text).toContain(`Environment=SSL_CERT_DIR=/etc/ssl/certs:${join(stateDir, 'gateway-ca')}\n`);
    expect(text).not.toContain('HTTPS_PROXY');
    expect(statSync(dropIn()).mode & 0o777).toBe(0o644);
    expect(lines.join('\n')).toMatch(/^Docker Engine 26\.1\.5 \(from --engine-version\): proxy in daemon\.json\nwrote .*image-access-gateway\.conf.*\nset proxies\.https-proxy to .* in .*daemon\.json \(previous file kept as .*\)\nrestart dockerd for this to take effect: systemctl daemon-reload && systemctl restart docker\. A reload \(SIGHUP\) is not enough/);
  });

  test('dockerd 20.10: HTTPS_PROXY and SSL_CERT_DIR in the drop-in, daemon.json not even created', async () => {
    await install('20.10.24+dfsg1');
    expect(existsSync(daemonJson)).toBe(false);
    expect(readFileSync(dropIn(), 'utf8')).toContain(`Environment=SSL_CERT_DIR=/etc/ssl/certs:${join(stateDir, 'gateway-ca')}\nEnvironment=HTTPS_PROXY=http://${gatewayAddress}\n`);
    await uninstall();
    expect(existsSync(dropIn())).toBe(false);
    expect(existsSync(daemonJson)).toBe(false);
  });

  test('a second install writes nothing and asks for no restart', async () => {
    writeFileSync(daemonJson, '{"debug":true}');
    await install('26.1.5');
    const [daemonBefore, dropInBefore] = [statSync(daemonJson).mtimeMs, statSync(dropIn()).mtimeMs];
    rmSync(join(dir, backups()[0]!));
    lines = [];
    await install('26.1.5');
    expect([statSync(daemonJson).mtimeMs, statSync(dropIn()).mtimeMs]).toEqual([daemonBefore, dropInBefore]);
    expect(backups()).toEqual([]);
    expect(lines.slice(1)).toEqual([`${dropIn()} already says this; unchanged`, `${daemonJson} already sends HTTPS through http://${gatewayAddress}; unchanged`]);
  });

  test('uninstall removes exactly what install added, then has nothing to do', async () => {
    const original = { debug: true, proxies: { 'no-proxy': 'internal.example' } };
    writeFileSync(daemonJson, JSON.stringify(original));
    writeFileSync(join(dir, 'keep.conf'), 'x');
    await install('26.1.5');
    lines = [];
    await uninstall();
    expect(JSON.parse(readFileSync(daemonJson, 'utf8'))).toEqual(original);
    expect(existsSync(dropIn())).toBe(false);
    expect(existsSync(systemdDir)).toBe(true);
    expect(lines[0]).toMatch(/^removed proxies\.https-proxy http:\/\/127\.0\.0\.1:\d+ from .*daemon\.json \(previous file kept as /);
    expect(lines.slice(1)).toEqual([`removed ${dropIn()}`, expect.stringMatching(/^restart dockerd for this to take effect/)]);
    lines = [];
    await uninstall();
    expect(lines).toEqual([`${dropIn()} does not exist: the gateway is not installed; nothing changed`]);
  });

  test('uninstall leaves a https-proxy the admin changed since', async () => {
    await install('26.1.5');
    writeFileSync(daemonJson, '{"proxies":{"https-proxy":"http://corp:3128"}}');
    await uninstall();
    expect(JSON.parse(readFileSync(daemonJson, 'utf8'))).toEqual({ proxies: { 'https-proxy': 'http://corp:3128' } });
    expect(lines).toContain(`${daemonJson}'s proxies.https-proxy is no longer http://${gatewayAddress}; left as it is`);
    expect(existsSync(dropIn())).toBe(false);
  });

  test('a new gateway address replaces the one the previous install wrote', async () => {
    await install('26.1.5');
    const other = createServer((socket) => socket.destroy());
    await new Promise<void>((resolve) => other.listen(0, '127.0.0.1', resolve));
    try {
      const address = `127.0.0.1:${(other.address() as { port: number }).port}`;
      await run('install', ['--gateway', address, '--engine-version', '26.1.5', '--daemon-json', daemonJson, '--systemd-dir', systemdDir]);
      expect(JSON.parse(readFileSync(daemonJson, 'utf8'))).toEqual({ proxies: { 'https-proxy': `http://${address}` } });
      expect(parseGatewayReceipt(readFileSync(dropIn(), 'utf8'))).toEqual({ daemonJson, httpsProxy: `http://${address}` });
    } finally {
      await new Promise((resolve) => other.close(resolve));
    }
  });

  test("refusals change nothing: an admin's proxy, a conflicting drop-in, invalid daemon.json, no CA, no gateway, a non-loopback address", async () => {
    const nothingWritten = () => {
      expect(existsSync(dropIn())).toBe(false);
      expect(backups()).toEqual([]);
    };
    writeFileSync(daemonJson, '{"proxies":{"https-proxy":"http://corp:3128"}}');
    await expect(install('26.1.5')).rejects.toThrow(/already sends HTTPS through the proxy "http:\/\/corp:3128" .*; nothing changed$/);
    nothingWritten();

    writeFileSync(daemonJson, '{"debug":');
    await expect(install('26.1.5')).rejects.toThrow(/^refusing to edit .*daemon\.json: it is not valid JSON/);
    nothingWritten();
    rmSync(daemonJson);

    mkdirSync(systemdDir);
    writeFileSync(join(systemdDir, 'http-proxy.conf'), '[Service]\nEnvironment="HTTPS_PROXY=http://corp:3128"\n');
    await expect(install('20.10.24')).rejects.toThrow(/http-proxy\.conf already sets HTTPS_PROXY or SSL_CERT_DIR for dockerd; one of the two settings would silently lose/);
    nothingWritten();
    rmSync(join(systemdDir, 'http-proxy.conf'));

    rmSync(gatewayCaFiles(stateDir).certificate);
    await expect(install('26.1.5')).rejects.toThrow(/^no gateway CA in .*gateway-ca: start the plugin with IMAGE_ACCESS_GATEWAY first/);
    nothingWritten();
    writeFileSync(gatewayCaFiles(stateDir).certificate, 'certificate');

    const closed = createServer();
    await new Promise<void>((resolve) => closed.listen(0, '127.0.0.1', resolve));
    const port = (closed.address() as { port: number }).port;
    await new Promise((resolve) => closed.close(resolve));
    await expect(run('install', ['--gateway', `127.0.0.1:${port}`, '--engine-version', '26.1.5', '--daemon-json', daemonJson, '--systemd-dir', systemdDir])).rejects.toThrow(
      /^nothing answers on http:\/\/127\.0\.0\.1:\d+ \(connect ECONNREFUSED .*\); start the plugin with the gateway first, nothing changed$/,
    );
    await expect(run('install', ['--gateway', '10.0.0.1:3128', '--systemd-dir', systemdDir])).rejects.toThrow(/^IMAGE_ACCESS_GATEWAY \(--gateway\) must be a loopback address .*; got "10\.0\.0\.1:3128"$/);
    nothingWritten();
    expect(existsSync(daemonJson)).toBe(false);
  });

  test('a bare --gateway takes IMAGE_ACCESS_GATEWAY, as the plugin does; without it, it says what is missing', async () => {
    await run('install', ['--gateway', '--engine-version', '20.10.24', '--systemd-dir', systemdDir], { IMAGE_ACCESS_GATEWAY: gatewayAddress });
    expect(readFileSync(dropIn(), 'utf8')).toContain(`Environment=HTTPS_PROXY=http://${gatewayAddress}\n`);
    await expect(run('install', ['--gateway'])).rejects.toThrow('--gateway needs the gateway address, HOST:PORT (or set IMAGE_ACCESS_GATEWAY as for the plugin)');
  });

  describe('the engine version from the running daemon', () => {
    let daemon: HttpServer;
    let socket: string;
    let reply: { status: number; body: string };
    beforeEach(async () => {
      socket = join(dir, 'docker.sock');
      daemon = createHttpServer((req, res) => {
        res.writeHead(req.url === '/version' ? reply.status : 404, { 'content-type': 'application/json' });
        res.end(reply.body);
      });
      await new Promise<void>((resolve) => daemon.listen(socket, resolve));
    });
    afterEach(() => new Promise<void>((resolve) => daemon.close(() => resolve())));
    const installAsking = () => run('install', ['--gateway', gatewayAddress, '--docker-socket', socket, '--daemon-json', daemonJson, '--systemd-dir', systemdDir]);

    test('GET /version on the daemon socket decides where the proxy goes', async () => {
      reply = { status: 200, body: '{"Version":"26.1.5+dfsg1","ApiVersion":"1.45"}' };
      await installAsking();
      expect(lines[0]).toBe(`Docker Engine 26.1.5+dfsg1 (from the daemon on ${socket}): proxy in daemon.json`);
      expect(existsSync(daemonJson)).toBe(true);
    });

    test('a daemon reply without a version falls back to dockerd --version, and failing that asks for --engine-version', async () => {
      reply = { status: 500, body: '{"message":"oops"}' };
      const outcome = await installAsking().then(
        () => lines[0],
        (error: Error) => error.message,
      );
      // Here dockerd may or may not be installed: either its version was used, or the error names both attempts.
      expect(outcome).toMatch(
        /^Docker Engine \S+ \(from `dockerd --version`\)|^cannot tell the Docker Engine version: the daemon on .*docker\.sock did not tell \(HTTP 500 without a version\) and `dockerd --version` failed.*; give it with --engine-version$/,
      );
    });
  });
});
