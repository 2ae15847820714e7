/**
 * Which proxy, if any, a connection to HOST:PORT goes through: HTTPS_PROXY / HTTP_PROXY / NO_PROXY with the
 * semantics of Go's net/http (what dockerd itself does with them), so one corporate configuration serves both.
 * Pure: the settings are parsed once, the decision is per destination.
 */
import { isIP } from 'node:net';
import { canonicalAddress, LOOPBACK } from '../reference/registry-identity';

export interface ProxySettings {
  readonly httpsProxy: URL | undefined;
  readonly httpProxy: URL | undefined;
  /** NO_PROXY as given: comma-separated hosts, `.domain`, IPs, CIDRs, each optionally `:port`; `*` for none. */
  readonly noProxy: string;
}

/** `http://[user:pass@]host:port` or a bare `host:port` (read as http, as Go does). Tunnels go through CONNECT. */
export function parseProxyUrl(raw: string): URL | undefined | Error {
  const value = raw.trim();
  if (value === '') return undefined;
  let url: URL;
  try {
    url = new URL(/^[a-z][a-z0-9+.-]*:\/\//i.test(value) ? value : `http://${value}`);
  } catch {
    return new Error('must be a proxy URL such as http://proxy.example.com:3128');
  }
  if (url.protocol !== 'http:') return new Error('must be an http:// proxy (CONNECT tunnels); https and socks proxies are not supported');
  if (url.pathname !== '/' || url.search !== '' || url.hash !== '') return new Error('must be a proxy URL with no path');
  return url;
}

/** The proxy a request for `protocol` (https: or http:) to host:port goes through, or undefined for a direct one. */
export function proxyFor(settings: ProxySettings, protocol: string, host: string, port: number): URL | undefined {
  const proxy = protocol === 'https:' ? settings.httpsProxy : protocol === 'http:' ? settings.httpProxy : undefined;
  if (proxy === undefined) return undefined;
  const name = bareHost(host);
  // Go never proxies loopback: a registry, mirror or policy server on this machine is dialled direct.
  if (canonicalAddress(name) === LOOPBACK) return undefined;
  return bypassed(settings.noProxy, name, port) ? undefined : proxy;
}

function bareHost(host: string): string {
  return host.toLowerCase().replace(/^\[(.*)\]$/, '$1').replace(/\.$/, '');
}

/** NO_PROXY: `*`; an IP or CIDR; `name` (itself and subdomains); `.name` (subdomains only); any with `:port`. */
function bypassed(noProxy: string, host: string, port: number): boolean {
  for (const raw of noProxy.split(',')) {
    const entry = raw.trim().toLowerCase();
    if (entry === '') continue;
    if (entry === '*') return true;
    const { name, entryPort } = splitPort(entry);
    if (entryPort !== undefined && entryPort !== port) continue;
    if (name.includes('/')) {
      if (inCidr(host, name)) return true;
    } else if (isIP(name) !== 0) {
      if (sameIp(name, host)) return true;
    } else if (name.startsWith('.')) {
      if (host.endsWith(name)) return true;
    } else if (name !== '' && (host === name || host.endsWith(`.${name}`))) return true;
  }
  return false;
}

function splitPort(entry: string): { name: string; entryPort: number | undefined } {
  const bracketed = /^\[([^\]]+)\](?::(\d+))?$/.exec(entry);
  if (bracketed) return { name: bracketed[1]!, entryPort: bracketed[2] === undefined ? undefined : Number(bracketed[2]) };
  const hostPort = /^([^:]+):(\d+)$/.exec(entry);
  if (hostPort) return { name: hostPort[1]!, entryPort: Number(hostPort[2]) };
  return { name: entry.replace(/^\*\./, '.'), entryPort: undefined };
}

function ipBytes(ip: string): number[] | undefined {
  if (isIP(ip) === 4) return ip.split('.').map(Number);
  if (isIP(ip) !== 6) return undefined;
  const mapped = /^(.*:)(\d+\.\d+\.\d+\.\d+)$/.exec(ip);
  const text = mapped ? `${mapped[1]}${hex16(mapped[2]!)}` : ip;
  const [head = '', tail = ''] = text.split('::');
  const groups = (part: string) => (part === '' ? [] : part.split(':').map((group) => parseInt(group, 16)));
  const front = groups(head);
  const back = text.includes('::') ? groups(tail) : [];
  const all = [...front, ...Array<number>(8 - front.length - back.length).fill(0), ...back];
  return all.flatMap((group) => [group >> 8, group & 0xff]);
}

function hex16(ipv4: string): string {
  const [a, b, c, d] = ipv4.split('.').map(Number) as [number, number, number, number];
  return `${((a << 8) | b).toString(16)}:${((c << 8) | d).toString(16)}`;
}

function sameIp(a: string, b: string): boolean {
  const left = ipBytes(a);
  const right = ipBytes(b);
  return left !== undefined && right !== undefined && left.length === right.length && left.every((byte, i) => byte === right[i]);
}

function inCidr(host: string, cidr: string): boolean {
  const [network = '', bitsText = ''] = cidr.split('/');
  const hostBytes = ipBytes(host);
  const networkBytes = ipBytes(network);
  const bits = Number(bitsText);
  if (!hostBytes || !networkBytes || hostBytes.length !== networkBytes.length || !/^\d+$/.test(bitsText) || bits > hostBytes.length * 8) return false;
  for (let bit = 0; bit < bits; bit++) {
    const mask = 0x80 >> (bit % 8);
    if ((hostBytes[bit >> 3]! & mask) !== (networkBytes[bit >> 3]! & mask)) return false;
  }
  return true;
}
