/**
 * Node agents for outbound HTTP(S) that honour the proxy settings and an extra CA bundle. A proxied connection is a
 * CONNECT tunnel: the proxy sees the destination's host and port and, for https, only TLS; the request, its
 * Authorization header included, never reaches the proxy in clear. The proxy's own user:password (from its URL) is
 * the one thing it is sent, as Proxy-Authorization on the CONNECT. Shared by everything that calls out (the policy
 * sources, and the registry gateway's upstream connections). Connections are kept alive between requests (idle ones
 * never hold the process): a pull through the gateway makes several registry requests in a row.
 */
import { Agent as HttpAgent, request, type ClientRequestArgs } from 'node:http';
import { connect } from 'node:net';
import { Agent as HttpsAgent } from 'node:https';
import type { Duplex } from 'node:stream';
import { connect as tlsConnect, rootCertificates, type ConnectionOptions } from 'node:tls';
import { proxyFor, type ProxySettings } from './proxy';

export interface OutboundAgents {
  readonly httpAgent: HttpAgent;
  readonly httpsAgent: HttpsAgent;
}

export interface OutboundOptions {
  readonly proxy: ProxySettings;
  /** PEM certificates trusted besides Node's own roots (a company CA that re-signs TLS, a private policy server). */
  readonly extraCaPem?: string;
  /** Longest the proxy may take to open a tunnel. */
  readonly connectTimeoutMs: number;
}

/** Node's agents accept a connection later through this callback when createConnection returns nothing. */
type Callback = (error: Error | null, stream: Duplex) => void;

/** A failure goes back with the error alone, as Node's own agents do (its types declare the stream always present). */
const failWith = (callback: Callback) => (error: Error) => (callback as (error: Error) => void)(error);

/** A TCP connection to `host:port`, resolved once connected. */
export function dialDirect(host: string, port: number): Promise<Duplex> {
  return new Promise((resolve, reject) => {
    const socket = connect({ host, port });
    socket.once('connect', () => {
      socket.off('error', reject);
      resolve(socket);
    });
    socket.once('error', reject);
  });
}

/** Opens `host:port` through `proxy` with CONNECT; resolves with the raw tunnel socket. */
export function openTunnel(proxy: URL, host: string, port: number, timeoutMs: number): Promise<Duplex> {
  return new Promise((resolve, reject) => {
    const authority = host.includes(':') ? `[${host}]:${port}` : `${host}:${port}`;
    const headers: Record<string, string> = { Host: authority };
    if (proxy.username !== '') {
      const user = `${decodeURIComponent(proxy.username)}:${decodeURIComponent(proxy.password)}`;
      headers['Proxy-Authorization'] = `Basic ${Buffer.from(user).toString('base64')}`;
    }
    const connect = request({ host: proxy.hostname.replace(/^\[(.*)\]$/, '$1'), port: Number(proxy.port || 80), method: 'CONNECT', path: authority, headers, agent: false });
    const timer = setTimeout(() => connect.destroy(new Error(`proxy ${proxy.host} did not open a tunnel within ${timeoutMs} ms`)), timeoutMs);
    connect.once('connect', (reply, socket, head) => {
      clearTimeout(timer);
      if (reply.statusCode !== 200) {
        socket.destroy();
        reject(new Error(`proxy ${proxy.host} refused CONNECT ${authority}: HTTP ${reply.statusCode}`));
        return;
      }
      if (head.length > 0) socket.unshift(head);
      resolve(socket);
    });
    connect.once('error', (error) => {
      clearTimeout(timer);
      reject(new Error(`proxy ${proxy.host}: ${(error as NodeJS.ErrnoException).code ?? error.message}`));
    });
    connect.end();
  });
}

/** Where a request's agent should connect, from the options Node gives createConnection. */
function destination(options: ClientRequestArgs): { host: string; port: number } {
  return { host: options.host ?? options.hostname ?? 'localhost', port: Number(options.port) };
}

class ProxyAwareHttpsAgent extends HttpsAgent {
  constructor(private readonly outbound: OutboundOptions) {
    super({ keepAlive: true, ...(outbound.extraCaPem ? { ca: [...rootCertificates, outbound.extraCaPem] } : {}) });
  }

  override createConnection(options: ClientRequestArgs & ConnectionOptions, callback?: Callback): Duplex | null | undefined {
    const { host, port } = destination(options);
    const proxy = proxyFor(this.outbound.proxy, 'https:', host, port);
    if (proxy === undefined || callback === undefined) return super.createConnection(options, callback);
    openTunnel(proxy, host, port, this.outbound.connectTimeoutMs).then(
      (socket) => callback(null, tlsConnect({ ...options, socket, servername: options.servername ?? host })),
      failWith(callback),
    );
    return undefined;
  }
}

class ProxyAwareHttpAgent extends HttpAgent {
  constructor(private readonly outbound: OutboundOptions) {
    super({ keepAlive: true });
  }

  override createConnection(options: ClientRequestArgs, callback?: Callback): Duplex | null | undefined {
    const { host, port } = destination(options);
    const proxy = proxyFor(this.outbound.proxy, 'http:', host, port);
    if (proxy === undefined || callback === undefined) return super.createConnection(options, callback);
    openTunnel(proxy, host, port, this.outbound.connectTimeoutMs).then(
      (socket) => callback(null, socket),
      failWith(callback),
    );
    return undefined;
  }
}

export function outboundAgents(outbound: OutboundOptions): OutboundAgents {
  return { httpAgent: new ProxyAwareHttpAgent(outbound), httpsAgent: new ProxyAwareHttpsAgent(outbound) };
}
