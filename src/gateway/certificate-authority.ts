/**
 * The registry gateway's certificate authority: one per machine, made on the first start and kept under the state
 * directory, so that dockerd (told to trust it through SSL_CERT_DIR) accepts the gateway's certificates for Docker
 * Hub's registry. It is name-constrained to those hosts: leaked, it can vouch for no other name and no IP address.
 * Load this module lazily: its X.509 library costs start-up time a plugin without the gateway should not pay.
 */
import 'reflect-metadata'; // @peculiar/x509 resolves its algorithms through tsyringe, which needs this polyfill first
import { AsnConvert } from '@peculiar/asn1-schema';
import { GeneralName, GeneralSubtree, GeneralSubtrees, id_ce_nameConstraints, NameConstraints } from '@peculiar/asn1-x509';
import * as x509 from '@peculiar/x509';
import { createHash, createPrivateKey, createPublicKey, webcrypto, type KeyObject } from 'node:crypto';
import { closeSync, fsyncSync, linkSync, mkdirSync, openSync, readdirSync, readFileSync, rmSync, statSync, unlinkSync, writeSync } from 'node:fs';
import { basename, dirname, join } from 'node:path';
import { createSecureContext, type SecureContext } from 'node:tls';
import type { Logger } from '../audit/logger';
import { gatewayCaFiles, type GatewayCaFiles } from './ca-files';
import { HUB_REGISTRY_HOSTS } from './hub-hosts';

export interface GatewayCa {
  /** The CA certificate (PEM), the one dockerd trusts. */
  readonly certificatePem: string;
  /** The directory holding that certificate alone: the entry for dockerd's SSL_CERT_DIR. */
  readonly certificateDirectory: string;
  /**
   * A TLS server context for `host` (one of HUB_REGISTRY_HOSTS, any case): a leaf certificate issued on first use,
   * cached and re-issued a day before it expires. Rejects for any other host.
   */
  secureContextFor(host: string): Promise<SecureContext>;
}

/** A CA on disk that cannot be used; the message says what is wrong and what the admin should do, never key material. */
export class GatewayCaError extends Error {}

const crypto = webcrypto;
const EC_KEY = { name: 'ECDSA', namedCurve: 'P-256' } as const;
const SIGNING = { name: 'ECDSA', hash: 'SHA-256' } as const;
const HOUR_MS = 3600_000;
const DAY_MS = 24 * HOUR_MS;
/** Backdating absorbs a clock that steps back a little between issue and use. */
const BACKDATE_MS = HOUR_MS;
const CA_LIFETIME_MS = 10 * 365 * DAY_MS;
const LEAF_LIFETIME_MS = 7 * DAY_MS;
const LEAF_RENEW_BEFORE_MS = DAY_MS;
const CA_NAME = 'CN=image-access registry gateway CA, O=image-access';

/** Loads the CA from `stateDir`, or makes one when neither its key nor its certificate exists yet. */
export async function loadOrCreateGatewayCa(stateDir: string, clock: () => number, logger: Logger): Promise<GatewayCa> {
  const files = gatewayCaFiles(stateDir);
  mkdirSync(stateDir, { recursive: true, mode: 0o700 });
  const keyExists = statSync(files.key, { throwIfNoEntry: false }) !== undefined;
  const certificateExists = statSync(files.certificate, { throwIfNoEntry: false }) !== undefined;
  checkCertificateDirectory(files);

  let ca: LoadedCa;
  if (!keyExists && !certificateExists) {
    ca = await createCa(files, clock());
    logger.info('registry gateway CA created: restart dockerd with it in SSL_CERT_DIR (image-access install --gateway)', describe(ca, files));
  } else if (keyExists && certificateExists) {
    ca = await loadCa(files, clock());
    logger.info('registry gateway CA loaded', describe(ca, files));
  } else {
    const [present, missing] = keyExists ? [files.key, files.certificate] : [files.certificate, files.key];
    throw new GatewayCaError(`gateway CA incomplete: ${present} exists but ${missing} does not. ${startOver(files)}`);
  }
  return {
    certificatePem: ca.certificate.toString('pem'),
    certificateDirectory: files.certificateDirectory,
    secureContextFor: leafIssuer(ca, clock, logger),
  };
}

interface LoadedCa {
  readonly certificate: x509.X509Certificate;
  readonly key: webcrypto.CryptoKey;
}

const startOver = (files: GatewayCaFiles) =>
  `To make a new CA, delete ${files.key} and ${files.certificate}, start the plugin again, then restart dockerd so that it trusts the new certificate.`;

const describe = (ca: LoadedCa, files: GatewayCaFiles) => ({
  certificate: files.certificate,
  sha256: createHash('sha256').update(Buffer.from(ca.certificate.rawData)).digest('hex'),
  notAfter: ca.certificate.notAfter.toISOString(),
});

/** Go trusts every file in an SSL_CERT_DIR entry: anything beside our certificate would be trusted by dockerd too. */
function checkCertificateDirectory(files: GatewayCaFiles): void {
  let names: string[];
  try {
    names = readdirSync(files.certificateDirectory);
  } catch (error) {
    if ((error as NodeJS.ErrnoException).code === 'ENOENT') return;
    throw error;
  }
  const strangers = names.filter((name) => name !== basename(files.certificate));
  if (strangers.length > 0) {
    throw new GatewayCaError(
      `${files.certificateDirectory} must hold only the gateway CA certificate (dockerd trusts every file in it), but it also holds ${strangers.join(', ')}: remove them`,
    );
  }
}

async function createCa(files: GatewayCaFiles, now: number): Promise<LoadedCa> {
  const keys = await crypto.subtle.generateKey(EC_KEY, true, ['sign', 'verify']);
  const certificate = await x509.X509CertificateGenerator.createSelfSigned(
    {
      name: CA_NAME,
      notBefore: new Date(now - BACKDATE_MS),
      notAfter: new Date(now + CA_LIFETIME_MS),
      keys,
      signingAlgorithm: SIGNING,
      extensions: [
        new x509.BasicConstraintsExtension(true, 0, true),
        new x509.KeyUsagesExtension(x509.KeyUsageFlags.keyCertSign | x509.KeyUsageFlags.cRLSign, true),
        // Verifiers (Go, OpenSSL) then accept it only for TLS servers, never for client or code-signing certificates.
        new x509.ExtendedKeyUsageExtension([x509.ExtendedKeyUsage.serverAuth]),
        nameConstraints(),
        await x509.SubjectKeyIdentifierExtension.create(keys.publicKey, false, crypto),
      ],
    },
    crypto,
  );
  const keyPem = x509.PemConverter.encode(await crypto.subtle.exportKey('pkcs8', keys.privateKey), 'PRIVATE KEY');
  // The key first: a crash in between leaves a key with no certificate, which nothing can trust yet.
  writeNewFile(files.key, keyPem, 0o600, dirname(files.key));
  mkdirSync(files.certificateDirectory, { recursive: true, mode: 0o755 });
  writeNewFile(files.certificate, certificate.toString('pem'), 0o644, dirname(files.key));
  return { certificate, key: keys.privateKey };
}

/** Critical, so that a verifier that does not understand it rejects the CA rather than ignore the limit. */
function nameConstraints(): x509.Extension {
  const subtree = (base: GeneralName) => new GeneralSubtree({ base });
  const value = new NameConstraints({
    permittedSubtrees: new GeneralSubtrees(HUB_REGISTRY_HOSTS.map((host) => subtree(new GeneralName({ dNSName: host })))),
    // A dNSName limit says nothing about IP SANs: exclude every address outright.
    excludedSubtrees: new GeneralSubtrees(['0.0.0.0/0', '::/0'].map((range) => subtree(new GeneralName({ iPAddress: range })))),
  });
  return new x509.Extension(id_ce_nameConstraints, true, AsnConvert.serialize(value));
}

/**
 * Writes a file that must not exist yet: through a temporary file (never seen half-written) linked into place, which
 * fails rather than replace a CA another process made meanwhile. The temporary file stays out of the certificate
 * directory, where dockerd would read it.
 */
function writeNewFile(path: string, text: string, mode: number, tempDirectory: string): void {
  const temp = join(tempDirectory, `.${basename(path)}.${process.pid}.tmp`);
  rmSync(temp, { force: true });
  const fd = openSync(temp, 'wx', mode);
  try {
    writeSync(fd, text);
    fsyncSync(fd);
  } finally {
    closeSync(fd);
  }
  try {
    linkSync(temp, path);
  } finally {
    unlinkSync(temp);
  }
}

async function loadCa(files: GatewayCaFiles, now: number): Promise<LoadedCa> {
  const keyObject = readKey(files);
  let certificate: x509.X509Certificate;
  try {
    certificate = new x509.X509Certificate(readFileSync(files.certificate, 'utf8'));
  } catch {
    throw new GatewayCaError(`${files.certificate} is not a PEM certificate. ${startOver(files)}`);
  }
  const problem = certificateProblem(certificate, keyObject, now);
  if (problem) throw new GatewayCaError(`${files.certificate} ${problem}. ${startOver(files)}`);
  const der = keyObject.export({ type: 'pkcs8', format: 'der' });
  return { certificate, key: await crypto.subtle.importKey('pkcs8', der, EC_KEY, false, ['sign']) };
}

function readKey(files: GatewayCaFiles): KeyObject {
  const mode = statSync(files.key).mode & 0o777;
  if ((mode & 0o077) !== 0) {
    throw new GatewayCaError(
      `${files.key} is readable by others (mode ${mode.toString(8).padStart(4, '0')}): chmod 600 it; if someone may have read it, make a new CA instead. ${startOver(files)}`,
    );
  }
  let key: KeyObject;
  try {
    // The parser's own message is left out: nothing of the file's content may reach a log.
    key = createPrivateKey(readFileSync(files.key));
  } catch {
    throw new GatewayCaError(`${files.key} is not a PEM private key. ${startOver(files)}`);
  }
  if (key.asymmetricKeyType !== 'ec' || key.asymmetricKeyDetails?.namedCurve !== 'prime256v1') {
    throw new GatewayCaError(`${files.key} is not an ECDSA P-256 key. ${startOver(files)}`);
  }
  return key;
}

/** Why a certificate on disk is not the gateway CA for `key`, or undefined when it is. */
function certificateProblem(certificate: x509.X509Certificate, key: KeyObject, now: number): string | undefined {
  const publicKey = createPublicKey(key).export({ type: 'spki', format: 'der' });
  if (!publicKey.equals(Buffer.from(certificate.publicKey.rawData))) return `does not belong to the key in the same directory`;
  const basic = certificate.getExtension(x509.BasicConstraintsExtension);
  if (!basic?.ca) return 'is not a CA certificate';
  const limits = certificate.getExtension(id_ce_nameConstraints);
  const permitted = limits ? AsnConvert.parse(limits.value, NameConstraints).permittedSubtrees?.map((tree) => tree.base.dNSName) : undefined;
  if (!limits?.critical || JSON.stringify(permitted) !== JSON.stringify(HUB_REGISTRY_HOSTS)) {
    return `is not limited to exactly ${HUB_REGISTRY_HOSTS.join(', ')}`;
  }
  if (now < certificate.notBefore.getTime()) return `is not valid before ${certificate.notBefore.toISOString()} (is the clock right?)`;
  if (now >= certificate.notAfter.getTime()) return `expired on ${certificate.notAfter.toISOString()}`;
  return undefined;
}

interface Leaf {
  readonly renewAt: number;
  readonly context: Promise<SecureContext>;
}

function leafIssuer(ca: LoadedCa, clock: () => number, logger: Logger): (host: string) => Promise<SecureContext> {
  const leaves = new Map<string, Leaf>();
  return (requested) => {
    const host = requested.toLowerCase().replace(/\.$/, '');
    if (!HUB_REGISTRY_HOSTS.includes(host)) {
      return Promise.reject(new GatewayCaError(`the gateway CA signs only for ${HUB_REGISTRY_HOSTS.join(', ')}, not ${JSON.stringify(requested)}`));
    }
    const now = clock();
    const cached = leaves.get(host);
    if (cached && now < cached.renewAt) return cached.context;
    if (now >= ca.certificate.notAfter.getTime()) {
      return Promise.reject(new GatewayCaError(`the gateway CA expired on ${ca.certificate.notAfter.toISOString()}`));
    }
    const notAfter = Math.min(now + LEAF_LIFETIME_MS, ca.certificate.notAfter.getTime());
    // Callers that arrive while the certificate is being made share it; a failure is not kept.
    const context = issueLeaf(ca, host, now, notAfter);
    leaves.set(host, { renewAt: notAfter - LEAF_RENEW_BEFORE_MS, context });
    context.then(
      () => logger.debug('registry gateway certificate issued', { host, notAfter: new Date(notAfter).toISOString() }),
      () => leaves.delete(host),
    );
    return context;
  };
}

async function issueLeaf(ca: LoadedCa, host: string, now: number, notAfter: number): Promise<SecureContext> {
  const keys = await crypto.subtle.generateKey(EC_KEY, true, ['sign', 'verify']);
  const certificate = await x509.X509CertificateGenerator.create(
    {
      subject: new x509.Name([{ '2.5.4.3': [host] }]),
      // The CA's subject bytes as they are: Go finds an issuer by comparing them byte for byte.
      issuer: ca.certificate.subjectName,
      notBefore: new Date(now - BACKDATE_MS),
      notAfter: new Date(notAfter),
      publicKey: keys.publicKey,
      signingKey: ca.key,
      signingAlgorithm: SIGNING,
      extensions: [
        new x509.BasicConstraintsExtension(false, undefined, true),
        new x509.KeyUsagesExtension(x509.KeyUsageFlags.digitalSignature, true),
        new x509.ExtendedKeyUsageExtension([x509.ExtendedKeyUsage.serverAuth]),
        new x509.SubjectAlternativeNameExtension([{ type: 'dns', value: host }]),
        await x509.AuthorityKeyIdentifierExtension.create(ca.certificate.publicKey, false, crypto),
      ],
    },
    crypto,
  );
  const keyPem = x509.PemConverter.encode(await crypto.subtle.exportKey('pkcs8', keys.privateKey), 'PRIVATE KEY');
  return createSecureContext({ key: keyPem, cert: certificate.toString('pem'), minVersion: 'TLSv1.2' });
}
