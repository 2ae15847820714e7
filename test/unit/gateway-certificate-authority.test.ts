import 'reflect-metadata';
import { AsnConvert } from '@peculiar/asn1-schema';
import { Certificate, id_ce_nameConstraints, NameConstraints } from '@peculiar/asn1-x509';
import * as x509 from '@peculiar/x509';
import { spawnSync } from 'node:child_process';
import { webcrypto } from 'node:crypto';
import { chmodSync, mkdirSync, mkdtempSync, readdirSync, readFileSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { createServer as createNetServer } from 'node:net';
import { connect, TLSSocket, type PeerCertificate, type SecureContext } from 'node:tls';
import { silentLogger } from '../../src/audit/logger';
import { gatewayCaFiles } from '../../src/gateway/ca-files';
import { GatewayCaError, loadOrCreateGatewayCa } from '../../src/gateway/certificate-authority';
import { HUB_REGISTRY_HOSTS } from '../../src/gateway/hub-hosts';
import { captureLog } from '../hub/log-capture';
import { signWithStolenKey } from '../stolen-ca-key';

const DAY_MS = 24 * 3600_000;
const EC_KEY = { name: 'ECDSA', namedCurve: 'P-256' } as const;

interface Handshake {
  readonly authorized: boolean;
  readonly error?: string;
  readonly certificate?: PeerCertificate;
}

/**
 * A real TLS handshake on loopback: a server socket with `context` (as the gateway will serve a CONNECT tunnel), a
 * client that trusts `caPem` alone. Resolves with the client's verdict and the certificate it was shown.
 */
function handshake(context: SecureContext, caPem: string | undefined, servername: string | undefined): Promise<Handshake> {
  return new Promise((resolve) => {
    const server = createNetServer((socket) => {
      const tls = new TLSSocket(socket, { isServer: true, secureContext: context });
      tls.on('error', () => socket.destroy());
    });
    server.listen(0, '127.0.0.1', () => {
      const { port } = server.address() as { port: number };
      const finish = (outcome: Handshake) => {
        client.destroy();
        server.close();
        resolve(outcome);
      };
      const options = { host: '127.0.0.1', port, ...(caPem ? { ca: caPem } : { rejectUnauthorized: false }), ...(servername ? { servername } : {}) };
      const client = connect(options, () => finish({ authorized: client.authorized, certificate: client.getPeerCertificate() }));
      client.on('error', (error: NodeJS.ErrnoException) => finish({ authorized: false, error: `${error.code ?? ''} ${error.message}` }));
    });
  });
}

const hasOpenssl = spawnSync('openssl', ['version']).status === 0;

/** `openssl verify` of a certificate against the CA alone: "OK" or OpenSSL's reason. */
function opensslVerify(dir: string, caFile: string, certificatePem: string): string {
  const leaf = join(dir, 'leaf.pem');
  writeFileSync(leaf, certificatePem);
  const result = spawnSync('openssl', ['verify', '-purpose', 'sslserver', '-CAfile', caFile, leaf], { encoding: 'utf8' });
  return `${result.stdout}${result.stderr}`;
}

describe('registry gateway CA', () => {
  let dir: string;
  let stateDir: string;
  const load = (clock: () => number = Date.now) => loadOrCreateGatewayCa(stateDir, clock, silentLogger());
  const loadError = async (): Promise<GatewayCaError> => {
    const outcome = await load().then(
      () => new Error('loaded'),
      (error: unknown) => error,
    );
    expect(outcome).toBeInstanceOf(GatewayCaError);
    return outcome as GatewayCaError;
  };

  beforeEach(() => {
    dir = mkdtempSync(join(tmpdir(), 'ia-gwca-'));
    stateDir = join(dir, 'state');
  });
  afterEach(() => rmSync(dir, { recursive: true, force: true }));

  test('first start makes the state directory 0700, the key 0600 outside the certificate directory, which holds only the certificate', async () => {
    const log = captureLog();
    const ca = await loadOrCreateGatewayCa(stateDir, Date.now, log.logger);
    const files = gatewayCaFiles(stateDir);
    expect(ca.certificateDirectory).toBe(files.certificateDirectory);
    expect(statSync(stateDir).mode & 0o777).toBe(0o700);
    expect(statSync(files.key).mode & 0o777).toBe(0o600);
    expect(readdirSync(files.certificateDirectory)).toEqual(['image-access-gateway-ca.pem']);
    expect(readdirSync(stateDir).sort()).toEqual(['gateway-ca', 'gateway-ca.key']);
    expect(readFileSync(files.certificate, 'utf8')).toBe(ca.certificatePem);
    expect(readFileSync(files.key, 'utf8')).toMatch(/^-----BEGIN PRIVATE KEY-----/);
    const keyBody = readFileSync(files.key, 'utf8').split('\n')[1]!;
    expect(log.text()).not.toContain(keyBody.slice(0, 24));
    expect(log.find('info', 'registry gateway CA created: restart dockerd with it in SSL_CERT_DIR (image-access install --gateway)')).toHaveLength(1);
  });

  test('the CA is critical-name-constrained to the Hub registry hosts, excludes every IP, is a CA with pathlen 0 for keyCertSign', async () => {
    const ca = await load();
    const certificate = new x509.X509Certificate(ca.certificatePem);
    const basic = certificate.getExtension(x509.BasicConstraintsExtension)!;
    expect([basic.ca, basic.pathLength, basic.critical]).toEqual([true, 0, true]);
    expect(certificate.getExtension(x509.KeyUsagesExtension)!.usages).toBe(x509.KeyUsageFlags.keyCertSign | x509.KeyUsageFlags.cRLSign);
    const extension = certificate.getExtension(id_ce_nameConstraints)!;
    expect(extension.critical).toBe(true);
    const limits = AsnConvert.parse(extension.value, NameConstraints);
    expect(limits.permittedSubtrees!.map((tree) => tree.base.dNSName)).toEqual(['registry-1.docker.io', 'index.docker.io', 'registry.hub.docker.com']);
    expect(limits.excludedSubtrees!.map((tree) => tree.base.iPAddress)).toEqual(['0.0.0.0/0', '::/0']);
  });

  test('a TLS client trusting only the CA accepts the leaf for every Hub registry host', async () => {
    const ca = await load();
    for (const host of HUB_REGISTRY_HOSTS) {
      expect(await handshake(await ca.secureContextFor(host), ca.certificatePem, host)).toMatchObject({ authorized: true });
    }
    // Hosts arrive from CONNECT lines in any case, maybe with the root's dot.
    expect(await handshake(await ca.secureContextFor('Registry-1.Docker.IO.'), ca.certificatePem, 'registry-1.docker.io')).toMatchObject({ authorized: true });
  });

  test('the leaf names the CA by its subject bytes exactly (Go matches issuers byte for byte), also after a reload', async () => {
    await load();
    const ca = await load();
    const leafRaw = (await handshake(await ca.secureContextFor('registry-1.docker.io'), undefined, 'registry-1.docker.io')).certificate!.raw;
    const root = new x509.X509Certificate(ca.certificatePem);
    const issuer = AsnConvert.parse(leafRaw, Certificate).tbsCertificate.issuer;
    const subject = AsnConvert.parse(root.rawData, Certificate).tbsCertificate.subject;
    expect(Buffer.from(AsnConvert.serialize(issuer))).toEqual(Buffer.from(AsnConvert.serialize(subject)));
    expect(await new x509.X509Certificate(leafRaw).verify({ publicKey: root.publicKey, signatureOnly: true }, webcrypto)).toBe(true);
  });

  test('no leaf for any other host', async () => {
    const ca = await load();
    for (const host of ['example.com', 'auth.docker.io', 'docker.io', '127.0.0.1']) {
      await expect(ca.secureContextFor(host)).rejects.toThrow(/signs only for registry-1\.docker\.io, index\.docker\.io, registry\.hub\.docker\.com/);
    }
  });

  test('leaked, the key signs nothing a verifier accepts but the Hub registry hosts: another name or an IP address fails on the name constraints', async () => {
    await load();
    const { certificate: caFile } = gatewayCaFiles(stateDir);
    const caPem = readFileSync(caFile, 'utf8');
    // The same stolen-key signer makes a good certificate for a permitted name: the failures below are the constraints.
    const hub = await signWithStolenKey(stateDir, { type: 'dns', value: 'registry-1.docker.io' });
    expect(await handshake(hub.context, caPem, 'registry-1.docker.io')).toMatchObject({ authorized: true });

    const other = await signWithStolenKey(stateDir, { type: 'dns', value: 'example.com' });
    expect((await handshake(other.context, caPem, 'example.com')).error).toMatch(/PERMITTED_SUBTREE_VIOLATION|permitted subtree violation/);
    const sibling = await signWithStolenKey(stateDir, { type: 'dns', value: 'auth.docker.io' });
    expect((await handshake(sibling.context, caPem, 'auth.docker.io')).error).toMatch(/PERMITTED_SUBTREE_VIOLATION|permitted subtree violation/);
    const address = await signWithStolenKey(stateDir, { type: 'ip', value: '127.0.0.1' });
    expect((await handshake(address.context, caPem, undefined)).error).toMatch(/EXCLUDED_SUBTREE_VIOLATION|excluded subtree violation/);

    if (hasOpenssl) {
      expect(opensslVerify(dir, caFile, hub.certificatePem)).toMatch(/: OK/);
      expect(opensslVerify(dir, caFile, other.certificatePem)).toMatch(/permitted subtree violation/);
      expect(opensslVerify(dir, caFile, address.certificatePem)).toMatch(/excluded subtree violation/);
    }
  });

  test('a second start reuses the CA: same certificate, and its leaves verify against the first certificate', async () => {
    const first = await load();
    const keyBefore = readFileSync(gatewayCaFiles(stateDir).key, 'utf8');
    const second = await load();
    expect(second.certificatePem).toBe(first.certificatePem);
    expect(readFileSync(gatewayCaFiles(stateDir).key, 'utf8')).toBe(keyBefore);
    expect(await handshake(await second.secureContextFor('registry-1.docker.io'), first.certificatePem, 'registry-1.docker.io')).toMatchObject({ authorized: true });
  });

  test('a leaf is kept while valid and issued anew a day before it expires', async () => {
    let now = Date.now();
    const ca = await load(() => now);
    const first = await ca.secureContextFor('registry-1.docker.io');
    const [concurrentA, concurrentB] = [ca.secureContextFor('index.docker.io'), ca.secureContextFor('index.docker.io')];
    expect(await concurrentA).toBe(await concurrentB);
    now += 5 * DAY_MS;
    expect(await ca.secureContextFor('registry-1.docker.io')).toBe(first);
    now += 1.5 * DAY_MS;
    const renewed = await ca.secureContextFor('registry-1.docker.io');
    expect(renewed).not.toBe(first);
    // The renewed leaf was issued at the new time (backdated an hour).
    const served = await handshake(renewed, undefined, 'registry-1.docker.io'); // not valid yet by the real clock
    expect(new Date(served.certificate!.valid_from).getTime()).toBeGreaterThan(Date.now() + 6 * DAY_MS - 2 * 3600_000);
  });

  describe('a CA on disk that cannot be used is an error that says what to do, and nothing is replaced', () => {
    test('a corrupt key: the message names the file and the way out, and carries none of the file', async () => {
      await load();
      const { key, certificate } = gatewayCaFiles(stateDir);
      const corrupt = readFileSync(key, 'utf8').replace(/[A-Za-z]{6}/, 'AAAAAA').slice(0, 150);
      writeFileSync(key, corrupt);
      const certificateBefore = readFileSync(certificate, 'utf8');
      const error = await loadError();
      expect(error.message).toBe(
        `${key} is not a PEM private key. To make a new CA, delete ${key} and ${certificate}, start the plugin again, then restart dockerd so that it trusts the new certificate.`,
      );
      expect(readFileSync(key, 'utf8')).toBe(corrupt);
      expect(readFileSync(certificate, 'utf8')).toBe(certificateBefore);
    });

    test('a key and a certificate that do not belong together', async () => {
      await load();
      const { key } = gatewayCaFiles(stateDir);
      const otherState = join(dir, 'other');
      await loadOrCreateGatewayCa(otherState, Date.now, silentLogger());
      writeFileSync(key, readFileSync(gatewayCaFiles(otherState).key));
      expect((await loadError()).message).toMatch(/image-access-gateway-ca\.pem does not belong to the key in the same directory\. To make a new CA, delete/);
    });

    test('a key or a certificate alone', async () => {
      await load();
      const { key, certificate } = gatewayCaFiles(stateDir);
      rmSync(certificate);
      expect((await loadError()).message).toMatch(new RegExp(`^gateway CA incomplete: ${key} exists but ${certificate} does not\\. To make a new CA`));
      expect(readdirSync(gatewayCaFiles(stateDir).certificateDirectory)).toEqual([]);
      rmSync(key);
      await load();
      rmSync(key);
      expect((await loadError()).message).toMatch(/^gateway CA incomplete: .*image-access-gateway-ca\.pem exists but .*gateway-ca\.key does not/);
    });

    test('a key others can read', async () => {
      await load();
      chmodSync(gatewayCaFiles(stateDir).key, 0o644);
      expect((await loadError()).message).toMatch(/gateway-ca\.key is readable by others \(mode 0644\): chmod 600 it/);
    });

    test('a certificate that is not one, or a CA certificate without our name constraints', async () => {
      await load();
      const { certificate } = gatewayCaFiles(stateDir);
      writeFileSync(certificate, 'not a certificate');
      expect((await loadError()).message).toMatch(/image-access-gateway-ca\.pem is not a PEM certificate\./);

      // The same key, self-signed without limits (a CA someone made by hand): refused, it could sign for anything.
      const pem = readFileSync(gatewayCaFiles(stateDir).key, 'utf8');
      const privateKey = await webcrypto.subtle.importKey('pkcs8', x509.PemConverter.decodeFirst(pem), EC_KEY, true, ['sign']);
      const jwk = await webcrypto.subtle.exportKey('jwk', privateKey);
      const publicKey = await webcrypto.subtle.importKey('jwk', { kty: jwk.kty, crv: jwk.crv, x: jwk.x, y: jwk.y }, EC_KEY, true, ['verify']);
      const unconstrained = await x509.X509CertificateGenerator.createSelfSigned(
        { name: 'CN=hand-made', keys: { privateKey, publicKey }, signingAlgorithm: { name: 'ECDSA', hash: 'SHA-256' }, extensions: [new x509.BasicConstraintsExtension(true, 0, true)] },
        webcrypto,
      );
      writeFileSync(certificate, unconstrained.toString('pem'));
      expect((await loadError()).message).toMatch(/is not limited to exactly registry-1\.docker\.io, index\.docker\.io, registry\.hub\.docker\.com\. To make a new CA/);
    });

    test('an expired CA', async () => {
      const now = Date.now();
      await load(() => now - 11 * 365 * DAY_MS);
      expect((await loadError()).message).toMatch(/image-access-gateway-ca\.pem expired on .*\. To make a new CA/);
    });

    test('anything else in the certificate directory, which dockerd would trust too', async () => {
      await load();
      const { certificateDirectory } = gatewayCaFiles(stateDir);
      writeFileSync(join(certificateDirectory, 'extra.pem'), 'x');
      expect((await loadError()).message).toBe(
        `${certificateDirectory} must hold only the gateway CA certificate (dockerd trusts every file in it), but it also holds extra.pem: remove them`,
      );
    });

    test('a certificate directory with something in it stops a first start too', async () => {
      mkdirSync(gatewayCaFiles(stateDir).certificateDirectory, { recursive: true });
      writeFileSync(join(gatewayCaFiles(stateDir).certificateDirectory, 'someone-else.crt'), 'x');
      await loadError();
      expect(statSync(gatewayCaFiles(stateDir).key, { throwIfNoEntry: false })).toBeUndefined();
    });
  });
});
