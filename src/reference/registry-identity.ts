/**
 * Which registry a host names, decided the way dockerd reaches it rather than by spelling: `vm:5101` (an /etc/hosts
 * name), `127.0.0.1:5101` and `[::ffff:7f00:1]:5101` are one registry. Name resolution happens at the edge
 * (host-resolver.ts) and its result is passed in: everything here is pure.
 */
import { isIP } from 'node:net';

/** A registry host with what it resolved to. */
export interface ResolvedHost {
  /** The host as registryHostKey spells it (`localhost:5101`, `mirror.example.com`). */
  readonly key: string;
  /** `ADDRESS` or `ADDRESS:PORT` (no port: the default) for each address the name resolved to. */
  readonly endpoints: ReadonlySet<string>;
  /** Why the name could not be resolved: the endpoints are then unknown (empty). */
  readonly error?: string;
}

const LOOPBACK_V4 = /^127\.[0-9]{1,3}\.[0-9]{1,3}\.[0-9]{1,3}$/;
/** Every loopback address is one host: a loopback registry answers on whichever the engine dials, as far as we can tell. */
export const LOOPBACK = 'localhost';
const MAPPED_V4 = /^::ffff:([0-9a-f]{1,4}):([0-9a-f]{1,4})$/;

/**
 * An IP address as the engine dials it: IPv4 dotted, IPv6 compressed in lowercase, an IPv4-mapped IPv6 address as its
 * IPv4 address (Go dials `::ffff:7f00:1` as 127.0.0.1), any loopback address as `localhost`. `undefined` for a name.
 */
export function canonicalAddress(address: string): string | undefined {
  if (address.toLowerCase() === LOOPBACK) return LOOPBACK;
  const bare = address.startsWith('[') && address.endsWith(']') ? address.slice(1, -1) : address;
  const version = isIP(bare);
  if (version === 0) return undefined;
  let v4 = version === 4 ? bare : undefined;
  if (version === 6) {
    const compressed = new URL(`http://[${bare}]/`).hostname.slice(1, -1);
    const mapped = MAPPED_V4.exec(compressed);
    if (!mapped) return compressed === '::1' ? LOOPBACK : compressed;
    const high = parseInt(mapped[1]!, 16);
    const low = parseInt(mapped[2]!, 16);
    v4 = [high >> 8, high & 255, low >> 8, low & 255].join('.');
  }
  return LOOPBACK_V4.test(v4!) ? LOOPBACK : v4;
}

/** `host` and `port` of a registryHostKey (`[::1]:5000`, `mirror:5000`, `mirror`); port '' is the default. */
export function splitHostKey(key: string): { host: string; port: string } {
  const port = /:([0-9]+)$/.exec(key);
  if (port === null || (key.startsWith('[') && !key.slice(0, port.index).endsWith(']'))) return { host: key, port: '' };
  return { host: key.slice(0, port.index), port: port[1]! };
}

const endpoint = (address: string, port: string): string => {
  const shown = address.includes(':') ? `[${address}]` : address;
  return port === '' ? shown : `${shown}:${port}`;
};

/** The endpoints of a host key whose name resolved to `addresses` (raw, as the resolver gave them). */
export function resolvedHost(key: string, addresses: readonly string[]): ResolvedHost {
  const { port } = splitHostKey(key);
  const endpoints = new Set<string>();
  for (const address of addresses) {
    const canonical = canonicalAddress(address);
    if (canonical !== undefined) endpoints.add(endpoint(canonical, port));
  }
  return { key, endpoints };
}

export const unresolvedHost = (key: string, error: string): ResolvedHost => ({ key, endpoints: new Set(), error });

/** A host key that needs no resolver: an IP literal or `localhost` is its own endpoint. `undefined` for a name to resolve. */
export function literalHost(key: string): ResolvedHost | undefined {
  const address = canonicalAddress(splitHostKey(key).host);
  return address === undefined ? undefined : resolvedHost(key, [address]);
}

/** An address or name as a registry host key spells it: IP literals canonical (bracketed IPv6), names lowercase. */
export function canonicalHost(host: string): string {
  const address = canonicalAddress(host);
  return address === undefined ? host.toLowerCase() : endpoint(address, '');
}

/** Whether two hosts are one registry: the same spelling, or an endpoint in common. */
export function sameRegistry(a: ResolvedHost, b: ResolvedHost): boolean {
  if (a.key === b.key) return true;
  for (const found of a.endpoints) if (b.endpoints.has(found)) return true;
  return false;
}

export type MirrorMatch = 'mirror' | 'other' | { readonly unknown: string };

/**
 * Whether `host` is one of the Docker Hub mirrors. When it is not, but a resolution failed on either side, the
 * answer is unknown: the caller must not judge the image as "outside Docker Hub" on that account.
 */
export function matchMirror(host: ResolvedHost, mirrors: readonly ResolvedHost[]): MirrorMatch {
  if (mirrors.some((mirror) => sameRegistry(host, mirror))) return 'mirror';
  const failed = [host, ...mirrors].find((resolved) => resolved.error !== undefined);
  return failed === undefined ? 'other' : { unknown: `${failed.key}: ${failed.error}` };
}
