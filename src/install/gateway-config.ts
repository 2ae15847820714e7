/**
 * Pure edits that point dockerd at the registry gateway: daemon.json's `proxies.https-proxy` (engines 23.0 and
 * later) or HTTPS_PROXY in a systemd drop-in (older ones), and always SSL_CERT_DIR in that drop-in, since dockerd
 * takes Docker Hub's trust only from the system roots and SSL_CERT_DIR. The drop-in is also the receipt of what was
 * added to daemon.json, so that uninstall removes exactly that. No file I/O here.
 */
import { z } from 'zod';
import { isRecord } from './daemon-config';

export const GATEWAY_DROP_IN = 'image-access-gateway.conf';
const SYSTEM_ROOTS = '/etc/ssl/certs';
const PROXIES_KEY = 'proxies';
const HTTPS_PROXY_KEY = 'https-proxy';
const RECEIPT_PREFIX = '# image-access-receipt ';

/** What install added to daemon.json, written into the drop-in for uninstall. */
export interface GatewayReceipt {
  readonly daemonJson: string;
  readonly httpsProxy: string;
}
const receiptSchema = z.object({ daemonJson: z.string(), httpsProxy: z.string() });

/** The proxy URL dockerd is given for a loopback HOST:PORT. */
export function gatewayProxyUrl(address: { readonly host: string; readonly port: number }): string {
  return `http://${address.host.includes(':') ? `[${address.host}]` : address.host}:${address.port}`;
}

/** Whether daemon.json may carry `proxies`: dockerd 23.0 added it, and older engines refuse to start on the key. */
export function engineReadsDaemonJsonProxies(version: string): boolean | Error {
  const major = /^v?(\d+)\.\d+/.exec(version.trim())?.[1];
  return major === undefined ? new Error(`"${version}" is not a Docker Engine version (e.g. 20.10.24 or 26.1.5)`) : Number(major) >= 23;
}

/** systemd expands `%` and splits on quotes and spaces; SSL_CERT_DIR splits on `:`. Such paths are refused, not escaped. */
export function certificateDirectoryProblem(value: string): string | undefined {
  return /[\s"'\\%:$]/.test(value) ? `${JSON.stringify(value)} cannot go into a systemd Environment= line and SSL_CERT_DIR (no spaces, quotes, backslashes, %, $ or :)` : undefined;
}

export interface DropInContent {
  readonly certificateDirectory: string;
  /** Set when the engine takes its proxy from the environment (before 23.0). */
  readonly environmentProxy?: string;
  readonly receipt?: GatewayReceipt;
}

export function renderGatewayDropIn(content: DropInContent): string {
  return [
    '# Written by `image-access install --gateway`; `image-access uninstall --gateway` removes it. Do not edit.',
    "# dockerd trusts the registry gateway's CA for Docker Hub (whose endpoint reads only the system roots and SSL_CERT_DIR).",
    '[Service]',
    `Environment=SSL_CERT_DIR=${SYSTEM_ROOTS}:${content.certificateDirectory}`,
    ...(content.environmentProxy ? [`Environment=HTTPS_PROXY=${content.environmentProxy}`] : []),
    ...(content.receipt ? [`${RECEIPT_PREFIX}${JSON.stringify(content.receipt)}`] : []),
    '',
  ].join('\n');
}

/** The daemon.json change recorded in our drop-in, if any. */
export function parseGatewayReceipt(dropIn: string): GatewayReceipt | undefined {
  const line = dropIn.split('\n').find((text) => text.startsWith(RECEIPT_PREFIX));
  if (line === undefined) return undefined;
  try {
    const parsed = receiptSchema.safeParse(JSON.parse(line.slice(RECEIPT_PREFIX.length)));
    return parsed.success ? parsed.data : undefined;
  } catch {
    return undefined;
  }
}

/**
 * Other drop-ins of docker.service that set what ours sets: systemd applies them in name order, so one of the two
 * values would silently lose (and daemon.json's proxy would silently win over theirs).
 */
export function conflictingDropIns(dropIns: ReadonlyArray<{ readonly name: string; readonly text: string }>): string[] {
  const setsOurs = /^\s*Environment\s*=.*\b(HTTPS_PROXY|https_proxy|SSL_CERT_DIR)=/m;
  return dropIns.filter((file) => file.name !== GATEWAY_DROP_IN && setsOurs.test(file.text)).map((file) => file.name);
}

export type DocumentEdit = { readonly document: Readonly<Record<string, unknown>>; readonly changed: boolean } | Error;

/** daemon.json's `proxies` object and its `https-proxy` key as spelt in the file (Go reads keys in any case). */
function findProxies(document: Readonly<Record<string, unknown>>): { key: string; proxies: Record<string, unknown>; httpsKey: string } | Error {
  const keys = Object.keys(document).filter((key) => key.toLowerCase() === PROXIES_KEY);
  if (keys.length > 1) return new Error(`daemon.json spells "${PROXIES_KEY}" more than once (${keys.join(', ')})`);
  const key = keys[0] ?? PROXIES_KEY;
  const proxies = document[key] ?? {};
  if (!isRecord(proxies)) return new Error(`daemon.json's "${key}" is not an object`);
  const httpsKeys = Object.keys(proxies).filter((name) => name.toLowerCase() === HTTPS_PROXY_KEY);
  if (httpsKeys.length > 1) return new Error(`daemon.json's "${key}" spells "${HTTPS_PROXY_KEY}" more than once (${httpsKeys.join(', ')})`);
  return { key, proxies, httpsKey: httpsKeys[0] ?? HTTPS_PROXY_KEY };
}

/**
 * Sets `proxies.https-proxy` to the gateway, keeping every other key. An https-proxy the admin configured is never
 * replaced (the gateway does not forward to another proxy); one a previous install wrote (`ours`) is.
 */
export function addGatewayProxy(document: Readonly<Record<string, unknown>>, url: string, ours: string | undefined): DocumentEdit {
  const found = findProxies(document);
  if (found instanceof Error) return found;
  const current = found.proxies[found.httpsKey];
  if (current === url) return { document, changed: false };
  if (current !== undefined && current !== ours) {
    return new Error(
      `dockerd already sends HTTPS through the proxy ${JSON.stringify(current)} (daemon.json ${found.key}.${found.httpsKey}); ` +
        'the gateway does not forward to another proxy, so it would cut dockerd off from it. Remove that proxy first if the gateway may reach registries directly',
    );
  }
  return { document: { ...document, [found.key]: { ...found.proxies, [found.httpsKey]: url } }, changed: true };
}

/** Removes `proxies.https-proxy` if it still is what install wrote; `proxies` goes too when that leaves it empty. */
export function removeGatewayProxy(document: Readonly<Record<string, unknown>>, written: string): DocumentEdit {
  const found = findProxies(document);
  if (found instanceof Error) return found;
  if (found.proxies[found.httpsKey] !== written) return { document, changed: false };
  const { [found.httpsKey]: _removed, ...proxies } = found.proxies;
  const { [found.key]: _previous, ...others } = document;
  return { document: Object.keys(proxies).length === 0 ? others : { ...document, [found.key]: proxies }, changed: true };
}

