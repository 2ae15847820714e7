/**
 * The registry gateway: an HTTP proxy for dockerd (HTTPS_PROXY) and a registry mirror front, so that every image
 * dockerd fetches from Docker Hub, for `docker pull`, the classic builder and BuildKit alike, is judged by the same
 * Authorizer as the AuthZ API. A way in beside protocol/: it turns what it sees into image references and nothing more.
 *
 * - CONNECT to Docker Hub's registry endpoint: TLS terminated with the machine's gateway CA, each manifest and blob
 *   request judged, allowed ones forwarded to IMAGE_ACCESS_HUB_REGISTRY and streamed both ways.
 * - CONNECT to any other host: tunnelled unseen, once Registry Access Management allows its registry.
 * - Origin-form registry requests (`GET /v2/...` sent to the gateway itself): dockerd using the gateway as its
 *   registry mirror; judged and forwarded the same way.
 */
import { request as httpRequest, Agent as HttpAgent, createServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import { request as httpsRequest, Agent as HttpsAgent } from 'node:https';
import { Socket } from 'node:net';
import { pipeline, type Duplex } from 'node:stream';
import { TLSSocket, type SecureContext } from 'node:tls';
import type { Logger } from '../audit/logger';
import type { LoopbackAddress } from '../config/settings';
import { dialDirect, type OutboundAgents } from '../network/agents';
import type { AuthZReply } from '../protocol/wire';
import type { ImageReference } from '../reference/reference';
import { connectRoute, parseConnectTarget, type MirrorHosts } from './hub-hosts';
import { parseRegistryRequest } from './registry-request';

/** What the gateway asks of the Authorizer: the same judgement, audit and metrics as the AuthZ API's. */
export interface GatewayJudge {
  authorizeFetch(image: ImageReference, requestUri: string, reportAllowed: boolean): Promise<AuthZReply>;
  refuseFetch(name: string, problem: string): AuthZReply;
  authorizeConnection(host: string, registryHost: string): Promise<AuthZReply>;
}

export interface GatewayOptions {
  readonly listen: LoopbackAddress;
  /** IMAGE_ACCESS_HUB_REGISTRY: an origin. */
  readonly upstream: string;
  readonly judge: GatewayJudge;
  /** The TLS identity the gateway shows dockerd for an intercepted Docker Hub host. */
  readonly serverContextFor: (host: string) => Promise<SecureContext>;
  /** How long upstream may stay silent mid-request (default UPSTREAM_IDLE_MS). */
  readonly upstreamIdleMs?: number;
  /**
   * How the gateway reaches the outside when a proxy stands between this machine and the internet (HTTPS_PROXY,
   * NO_PROXY, IMAGE_ACCESS_CA_BUNDLE): upstream requests through `agents`, tunnels through `dial`. Absent: direct.
   */
  readonly outbound?: Outbound;
  /** dockerd's registry mirrors: a CONNECT to one is refused, so that dockerd falls back to Docker Hub through here. */
  readonly mirrors: MirrorHosts;
  readonly logger: Logger;
}

export interface Outbound {
  readonly agents: OutboundAgents;
  /** A connection to `host:port` (through the corporate proxy, or direct), resolved once it is open. */
  dial(host: string, port: number): Promise<Duplex>;
}

export interface RunningGateway {
  /** The bound address (port 0 in the options picks a free one). */
  readonly port: number;
  /** Stops accepting at once; registry requests in flight may finish within `graceMs`, then every connection is closed. */
  stop(graceMs?: number): Promise<void>;
}

/** Status phrases are one line of visible ASCII; BuildKit shows only the status line of its HEAD requests. */
const REASON_MAX = 400;
export function reasonPhrase(text: string): string {
  const visible = text.replace(/[^\x20-\x7e]+/g, ' ').trim();
  return visible.length <= REASON_MAX ? visible : `${visible.slice(0, REASON_MAX - 3)}...`;
}

/** Docker Hub's own wording, so the developer's tools show the reason as they show Hub's. */
export function restrictionMessage(reply: AuthZReply): string {
  return `image access restricted: ${reply.Msg}`;
}

/** A registry error (distribution's errcode JSON); for HEAD, the reason phrase alone carries the message. */
function registryError(res: ServerResponse, status: number, code: string, message: string): void {
  if (res.headersSent) {
    res.destroy();
    return;
  }
  const body = JSON.stringify({ errors: [{ code, message }] });
  res.writeHead(status, reasonPhrase(message), {
    'content-type': 'application/json; charset=utf-8',
    'content-length': Buffer.byteLength(body),
    'docker-distribution-api-version': 'registry/2.0',
  });
  res.end(body);
}

/** An upstream that goes quiet this long mid-request is given up on: dockerd would otherwise wait on it. */
const UPSTREAM_IDLE_MS = 60_000;

/** Hop-by-hop headers (RFC 9110 7.6.1) and the proxy's own: never forwarded. */
const HOP_BY_HOP = new Set(['connection', 'keep-alive', 'proxy-connection', 'proxy-authorization', 'proxy-authenticate', 'te', 'trailer', 'upgrade']);

function forwardedHeaders(headers: IncomingMessage['headers'], host?: string): Record<string, string | string[]> {
  const named = new Set((headers.connection ?? '').toLowerCase().split(',').map((name) => name.trim()));
  const out: Record<string, string | string[]> = {};
  for (const [name, value] of Object.entries(headers)) {
    if (value === undefined || HOP_BY_HOP.has(name) || named.has(name)) continue;
    out[name] = value;
  }
  if (host !== undefined) out.host = host;
  return out;
}

export async function startGateway(options: GatewayOptions): Promise<RunningGateway> {
  const { judge, logger, upstream } = options;
  const idleMs = options.upstreamIdleMs ?? UPSTREAM_IDLE_MS;
  const upstreamUrl = new URL(upstream);
  const secure = upstreamUrl.protocol === 'https:';
  const agents = options.outbound?.agents ?? { httpAgent: new HttpAgent({ keepAlive: true, maxSockets: 64 }), httpsAgent: new HttpsAgent({ keepAlive: true, maxSockets: 64 }) };
  const agent = secure ? agents.httpsAgent : agents.httpAgent;
  const dial = options.outbound?.dial ?? dialDirect;
  const sockets = new Set<Socket>();
  const track = (socket: Socket) => {
    sockets.add(socket);
    socket.once('close', () => sockets.delete(socket));
  };

  /** Streams the request upstream and the reply back, neither buffered whole. */
  const forward = (req: IncomingMessage, res: ServerResponse, path: string, clientOrigin: string) => {
    const target = new URL(path, upstreamUrl);
    const send = secure ? httpsRequest : httpRequest;
    const outgoing = send(target, { method: req.method, headers: forwardedHeaders(req.headers, upstreamUrl.host), agent });
    outgoing.on('response', (incoming) => {
      const headers = forwardedHeaders(incoming.headers);
      // A redirect to upstream itself must come back here, under the name dockerd used, to be judged again.
      const location = incoming.headers.location;
      if (location !== undefined && new URL(location, target).origin === upstreamUrl.origin) {
        const moved = new URL(location, target);
        headers.location = `${clientOrigin}${moved.pathname}${moved.search}`;
      }
      res.writeHead(incoming.statusCode ?? 502, incoming.statusMessage, headers);
      pipeline(incoming, res, (error) => {
        if (error) logger.debug('registry gateway: reply stream ended early', { path: target.pathname, error: error.message });
      });
    });
    outgoing.setTimeout(idleMs, () => outgoing.destroy(new Error(`no data for ${idleMs} ms`)));
    outgoing.on('error', (error) => {
      logger.warn('registry gateway: upstream registry request failed', { upstream, path: target.pathname, error: error.message });
      registryError(res, 502, 'UNAVAILABLE', `image-access registry gateway: ${upstream} did not answer (${error.message})`);
    });
    pipeline(req, outgoing, () => undefined);
  };

  /** One registry API request, seen inside an intercepted connection or at the mirror front. */
  const serveRegistry = async (req: IncomingMessage, res: ServerResponse, clientOrigin: string) => {
    const method = req.method ?? 'GET';
    const target = req.url ?? '/';
    const request = parseRegistryRequest(method, target);
    switch (request.kind) {
      case 'ping':
      case 'push':
        return forward(req, res, target, clientOrigin);
      case 'other':
        return registryError(res, 403, 'DENIED', `image access restricted: ${method} ${target.split('?')[0]!.slice(0, 200)} is not served by the image-access registry gateway`);
      case 'invalid':
        return registryError(res, 403, 'DENIED', restrictionMessage(judge.refuseFetch(request.name, request.problem)));
      case 'fetch': {
        // A blob follows its manifest, which was reported: only a denied blob fetch is worth an audit line.
        const reply = await judge.authorizeFetch(request.image, request.path, request.resource !== 'blob');
        if (!reply.Allow) return registryError(res, 403, 'DENIED', restrictionMessage(reply));
        return forward(req, res, request.path, clientOrigin);
      }
    }
  };

  let inFlight = 0;
  let drained: (() => void) | undefined;
  const handle = (clientOrigin: (req: IncomingMessage) => string) => (req: IncomingMessage, res: ServerResponse) => {
    inFlight += 1;
    res.once('close', () => {
      inFlight -= 1;
      if (inFlight === 0) drained?.();
    });
    serveRegistry(req, res, clientOrigin(req)).catch((error: unknown) => {
      logger.error('registry gateway: request failed', { error: String(error) });
      registryError(res, 500, 'UNKNOWN', 'image access restricted: the image-access registry gateway failed; see its log');
    });
  };

  // Intercepted TLS connections are handed to this server; it never listens itself.
  const intercepted = createServer(handle((req) => `https://${req.headers.host ?? 'registry-1.docker.io'}`));
  intercepted.on('clientError', (_error, socket) => socket.destroy());

  const serveAsMirror = handle((req) => `http://${req.headers.host ?? `${options.listen.host}:${options.listen.port}`}`);
  const proxy: Server = createServer((req, res) => {
    if (req.url?.startsWith('/')) return serveAsMirror(req, res);
    registryError(res, 405, 'UNSUPPORTED', 'the image-access registry gateway proxies HTTPS (CONNECT) only; set it as HTTPS_PROXY, not HTTP_PROXY');
  });
  proxy.on('connection', track);
  // An HTTP answer, not a dropped connection: BuildKit first tries a loopback mirror with TLS, and falls back to
  // plain HTTP only when the server's reply is not TLS.
  proxy.on('clientError', (_error, socket: Socket) => socket.end('HTTP/1.1 400 Bad Request\r\nConnection: close\r\n\r\n'));

  const refuseConnect = (socket: Socket, status: number, message: string) => {
    const body = `${message}\n`;
    socket.end(`HTTP/1.1 ${status} ${reasonPhrase(message)}\r\nContent-Type: text/plain; charset=utf-8\r\nContent-Length: ${Buffer.byteLength(body)}\r\nConnection: close\r\n\r\n${body}`);
  };

  proxy.on('connect', (req: IncomingMessage, socket: Socket, head: Buffer) => {
    socket.on('error', (error) => logger.debug('registry gateway: client connection error', { error: error.message }));
    const target = parseConnectTarget(req.url ?? '');
    if (target === undefined) return refuseConnect(socket, 400, 'image-access registry gateway: CONNECT needs host:port');
    const route = connectRoute(target, options.mirrors);
    if (route.kind === 'intercept') {
      options.serverContextFor(route.host).then(
        (secureContext) => {
          socket.write('HTTP/1.1 200 Connection Established\r\n\r\n');
          if (head.length > 0) socket.unshift(head);
          const tls = new TLSSocket(socket, { isServer: true, secureContext, ALPNProtocols: ['http/1.1'] });
          tls.on('error', (error) => logger.debug('registry gateway: TLS error from client', { host: route.host, error: error.message }));
          intercepted.emit('connection', tls);
        },
        (error: unknown) => {
          logger.error('registry gateway: no certificate for an intercepted host', { host: route.host, error: String(error) });
          refuseConnect(socket, 500, 'image-access registry gateway has no certificate; see its log');
        },
      );
      return;
    }
    if (route.kind === 'mirror') {
      logger.warn('registry gateway: refused a registry mirror reached around it; dockerd falls back to Docker Hub', { host: route.host });
      return refuseConnect(socket, 403, `image access restricted: registry mirror ${route.host} bypasses the image-access registry gateway; front it with the gateway (README: registry mirrors)`);
    }
    const host = `${target.host}:${target.port}`;
    judge
      .authorizeConnection(host, route.registry)
      .then((reply) => {
        if (!reply.Allow) return refuseConnect(socket, 403, reply.Msg);
        tunnel(socket, target.host.replace(/^\[(.*)\]$/, '$1'), target.port, head);
      })
      .catch((error: unknown) => {
        logger.error('registry gateway: connection check failed', { host, error: String(error) });
        refuseConnect(socket, 500, 'image-access registry gateway failed; see its log');
      });
  });

  const tunnel = (client: Socket, host: string, port: number, head: Buffer) => {
    dial(host, port).then(
      (server) => {
        if (server instanceof Socket) track(server);
        server.on('error', () => client.destroy());
        client.on('close', () => server.destroy());
        server.on('close', () => client.destroy());
        if (client.destroyed) return server.destroy();
        client.write('HTTP/1.1 200 Connection Established\r\n\r\n');
        if (head.length > 0) server.write(head);
        server.pipe(client);
        client.pipe(server);
      },
      (error: Error) => refuseConnect(client, 502, `image-access registry gateway: cannot reach ${host}:${port} (${error.message})`),
    );
  };

  await new Promise<void>((resolve, reject) => {
    proxy.once('error', reject);
    proxy.listen(options.listen.port, options.listen.host, () => {
      proxy.off('error', reject);
      resolve();
    });
  });
  proxy.on('error', (error) => logger.error('registry gateway: listener error', { error: error.message }));
  const address = proxy.address();
  const port = typeof address === 'object' && address !== null ? address.port : options.listen.port;
  return {
    port,
    stop: async (graceMs = 0) => {
      const closed = new Promise<void>((resolve) => proxy.close(() => resolve()));
      if (inFlight > 0 && graceMs > 0) {
        let timer: NodeJS.Timeout | undefined;
        await new Promise<void>((resolve) => {
          drained = resolve;
          timer = setTimeout(resolve, graceMs);
        });
        clearTimeout(timer);
      }
      for (const socket of sockets) socket.destroy();
      agent.destroy();
      await closed;
    },
  };
}
