/**
 * The gateway CA as Go sees it: dockerd is a Go program, and Go's certificate verifier (not OpenSSL's) is the one
 * that must accept the gateway's leaves through SSL_CERT_DIR and refuse anything else a leaked key could sign. The
 * docker CLI's registry client (`docker manifest inspect`) uses the same verifier, system roots and SSL_CERT_DIR,
 * and honours HTTPS_PROXY the same way, so it stands in for dockerd here without starting one. The proxy below only
 * terminates TLS with the certificate under test and answers every request with a registry denial.
 */
import { createServer as createHttpServer, type Server } from 'node:http';
import { join } from 'node:path';
import { TLSSocket, type SecureContext } from 'node:tls';
import { silentLogger } from '../../src/audit/logger';
import { loadOrCreateGatewayCa, type GatewayCa } from '../../src/gateway/certificate-authority';
import { cliConfigDir, makeTempDir, removeTempDir, runDocker } from '../harness';
import { signWithStolenKey } from '../stolen-ca-key';

const DENIAL = 'image access restricted: served through the test proxy';

jest.setTimeout(120_000);

describe("Go's verifier (the docker CLI, as dockerd) and the gateway CA in SSL_CERT_DIR", () => {
  let dir: string;
  let ca: GatewayCa;
  let proxy: Server;
  let proxyUrl: string;
  /** Certificates for the names a leaked key would be used for; the Hub hosts get the gateway's own leaves. */
  const stolen = new Map<string, SecureContext>();
  const connects: string[] = [];

  beforeAll(async () => {
    dir = makeTempDir();
    const stateDir = join(dir, 'state');
    ca = await loadOrCreateGatewayCa(stateDir, Date.now, silentLogger());
    stolen.set('example.com', (await signWithStolenKey(stateDir, { type: 'dns', value: 'example.com' })).context);
    stolen.set('auth.docker.io', (await signWithStolenKey(stateDir, { type: 'dns', value: 'auth.docker.io' })).context);
    stolen.set('192.0.2.10', (await signWithStolenKey(stateDir, { type: 'ip', value: '192.0.2.10' })).context);

    const registry = createHttpServer((_req, res) => {
      res.writeHead(403, DENIAL, { 'content-type': 'application/json' });
      res.end(JSON.stringify({ errors: [{ code: 'DENIED', message: DENIAL }] }));
    });
    proxy = createHttpServer();
    proxy.on('connect', (req, socket) => {
      const host = (req.url ?? '').replace(/:\d+$/, '');
      connects.push(host);
      const context = stolen.get(host);
      void (context ? Promise.resolve(context) : ca.secureContextFor(host)).then(
        (secureContext) => {
          socket.write('HTTP/1.1 200 Connection Established\r\n\r\n');
          const tls = new TLSSocket(socket, { isServer: true, secureContext });
          tls.on('error', () => socket.destroy());
          registry.emit('connection', tls);
        },
        () => socket.end('HTTP/1.1 403 Forbidden\r\n\r\n'),
      );
    });
    await new Promise<void>((resolve) => proxy.listen(0, '127.0.0.1', resolve));
    proxyUrl = `http://127.0.0.1:${(proxy.address() as { port: number }).port}`;
  });

  afterAll(async () => {
    await new Promise((resolve) => proxy.close(resolve));
    removeTempDir(dir);
  });

  const inspect = (image: string, certDirs: string) =>
    runDocker(join(dir, 'no-daemon.sock'), cliConfigDir(dir), ['manifest', 'inspect', image], {
      env: { HTTPS_PROXY: proxyUrl, NO_PROXY: '', SSL_CERT_DIR: certDirs },
      timeoutMs: 30_000,
    });

  test("trusts the gateway's leaf for registry-1.docker.io and registry.hub.docker.com: the request reaches the registry and its denial comes back", async () => {
    for (const image of ['someone/app:1.0', 'registry.hub.docker.com/someone/app:1.0']) {
      const result = await inspect(image, `/etc/ssl/certs:${ca.certificateDirectory}`);
      expect(result.code).not.toBe(0);
      expect(result.stderr).toContain(`denied: ${DENIAL}`);
    }
    expect(connects).toEqual(expect.arrayContaining(['registry-1.docker.io', 'registry.hub.docker.com']));
  });

  test('without the CA in SSL_CERT_DIR the same leaf is an unknown authority', async () => {
    const result = await inspect('someone/app:1.0', '/etc/ssl/certs');
    expect(result.stderr).toMatch(/x509: certificate signed by unknown authority/);
  });

  test('a certificate the key signs for another name, a docker.io sibling or an IP address is refused on the name constraints', async () => {
    const notAuthorized = 'x509: a root or intermediate certificate is not authorized to sign for this name';
    const other = await inspect('example.com/someone/app:1.0', `/etc/ssl/certs:${ca.certificateDirectory}`);
    expect(other.stderr).toContain(`${notAuthorized}: DNS name "example.com" is not permitted by any constraint`);
    const sibling = await inspect('auth.docker.io/someone/app:1.0', `/etc/ssl/certs:${ca.certificateDirectory}`);
    expect(sibling.stderr).toContain(`${notAuthorized}: DNS name "auth.docker.io" is not permitted by any constraint`);
    const address = await inspect('192.0.2.10/someone/app:1.0', `/etc/ssl/certs:${ca.certificateDirectory}`);
    expect(address.stderr).toContain(`${notAuthorized}: IP address "192.0.2.10" is excluded by constraint "0.0.0.0/0"`);
  });
});
