/**
 * HTTP for the remote policy sources (Docker Hub, a company policy URL): a hard deadline on every call, a bounded
 * reply size, no redirects (a bearer token must not follow one), and failures turned into RemoteError, whose message
 * names the call but never carries a header, a body or a query string (where secrets live).
 */
import { request as httpRequest, type IncomingHttpHeaders, type IncomingMessage } from 'node:http';
import { request as httpsRequest } from 'node:https';
import type { z } from 'zod';
import type { OutboundAgents } from '../network/agents';
import { RemoteError, type RemoteFailure } from './remote-error';
import type { RemoteGate } from './remote-gate';

/** Larger than any policy document or Hub page the plugin reads. */
export const MAX_REPLY_BYTES = 1024 * 1024;

export interface RemoteReply {
  readonly status: number;
  readonly text: string;
  header(name: string): string | undefined;
  /**
   * Reports a 2xx reply once its body has been read: `ok`, or `bad-reply` when it did not parse (parseReply and
   * statusFailure do this). Other replies are reported by `send`; later calls do nothing.
   */
  settle(outcome: 'ok' | 'bad-reply'): void;
}

export interface RemoteRequest {
  readonly method: 'GET' | 'POST';
  /** Absolute URL. */
  readonly url: string;
  /** What the logs call this call: method and path, never a query or a secret. */
  readonly what: string;
  readonly headers?: Readonly<Record<string, string>>;
  readonly json?: unknown;
}

/** How the remote sources reach their servers: the proxy/CA agents, if any. */
export interface Http {
  readonly agents?: OutboundAgents;
}

/**
 * `agents`: the proxy and CA settings (src/network/agents.ts); without them, direct with Node's own roots.
 * Plain node:http(s): an HTTP library cost the plugin ~50 ms of start-up and ~19 MiB of RSS for a few GETs.
 */
export function createHttp(agents?: OutboundAgents): Http {
  return agents === undefined ? {} : { agents };
}

interface Received {
  readonly status: number;
  readonly headers: IncomingHttpHeaders;
  readonly text: string;
}

/** One request, its whole reply read as text; rejects with RemoteError on a transport failure, a timeout or a reply too large. */
function exchange(http: Http, request: RemoteRequest, timeoutMs: number): Promise<Received> {
  return new Promise((resolve, reject) => {
    const url = new URL(request.url);
    const https = url.protocol === 'https:';
    const body = request.json === undefined ? undefined : Buffer.from(JSON.stringify(request.json));
    const headers: Record<string, string> = { Accept: 'application/json', ...request.headers };
    if (body !== undefined) Object.assign(headers, { 'Content-Type': 'application/json', 'Content-Length': String(body.length) });
    const options = { method: request.method, headers, agent: https ? http.agents?.httpsAgent : http.agents?.httpAgent };
    let settled = false;
    const fail = (error: RemoteError) => {
      if (settled) return;
      settled = true;
      clearTimeout(deadline);
      outgoing.destroy();
      reject(error);
    };
    // One deadline for the whole call, a slowly dripping reply included.
    const deadline = setTimeout(() => fail(new RemoteError('unavailable', `${request.what}: no reply within ${timeoutMs} ms`)), timeoutMs);
    const onReply = (reply: IncomingMessage) => {
      const chunks: Buffer[] = [];
      let bytes = 0;
      reply.on('data', (chunk: Buffer) => {
        bytes += chunk.length;
        if (bytes > MAX_REPLY_BYTES) fail(new RemoteError('bad-reply', `${request.what}: reply larger than ${MAX_REPLY_BYTES} bytes`));
        else chunks.push(chunk);
      });
      reply.on('error', (error: NodeJS.ErrnoException) => fail(new RemoteError('unavailable', `${request.what}: ${error.code ?? 'connection failed'}`)));
      reply.on('end', () => {
        if (settled) return;
        settled = true;
        clearTimeout(deadline);
        resolve({ status: reply.statusCode ?? 0, headers: reply.headers, text: Buffer.concat(chunks).toString('utf8') });
      });
    };
    const outgoing = (https ? httpsRequest : httpRequest)(url, options, onReply);
    outgoing.on('error', (error: NodeJS.ErrnoException) => fail(new RemoteError('unavailable', `${request.what}: ${error.code ?? 'connection failed'}`)));
    outgoing.end(body);
  });
}

/** `scheme://host/path` of a URL, without credentials or query: safe for logs and messages. */
export function loggableUrl(url: string): string {
  const parsed = new URL(url);
  return `${parsed.origin}${parsed.pathname}`;
}

/** How a call ended: success, an unchanged document (304), or why it failed. */
export type CallOutcome = 'ok' | 'not-modified' | RemoteFailure;

/** Told how each call ended and how long it took: the metrics' remote request counters. */
export type CallReport = (outcome: CallOutcome, seconds: number) => void;

/** Sends one request; a reply of any status resolves, only transport failures reject (with RemoteError). */
export async function send(http: Http, request: RemoteRequest, timeoutMs: number, report?: CallReport, gate?: RemoteGate): Promise<RemoteReply> {
  gate?.admit(request.what);
  const started = performance.now();
  const elapsed = () => (performance.now() - started) / 1000;
  let response: Received;
  try {
    response = await exchange(http, request, timeoutMs);
  } catch (error) {
    const failure = error instanceof RemoteError ? error : new RemoteError('unavailable', `${request.what}: connection failed`);
    report?.(failure.kind, elapsed());
    gate?.failed(failure);
    throw failure;
  }
  const seconds = elapsed();
  let unsettled = response.status < 300;
  const reply: RemoteReply = {
    status: response.status,
    text: response.text,
    header: (name) => {
      const value = response.headers[name.toLowerCase()];
      return typeof value === 'string' ? value : undefined;
    },
    settle: (outcome) => {
      if (unsettled) report?.(outcome, seconds);
      unsettled = false;
    },
  };
  if (reply.status < 300) {
    gate?.answered();
  } else {
    const failure = reply.status === 304 ? undefined : statusFailure(request.what, reply);
    report?.(failure?.kind ?? 'not-modified', seconds);
    if (failure === undefined) gate?.answered();
    else gate?.failed(failure);
  }
  return reply;
}

/** Retry-After is seconds or an HTTP date. */
export function retryAfterMs(value: string | undefined, now: number): number | undefined {
  if (value === undefined) return undefined;
  if (/^\d+$/.test(value.trim())) return Number(value.trim()) * 1000;
  const date = Date.parse(value);
  return Number.isNaN(date) ? undefined : Math.max(0, date - now);
}

/** The RemoteError for a reply whose status is not what the caller wanted. */
export function statusFailure(what: string, reply: RemoteReply): RemoteError {
  reply.settle('bad-reply');
  const message = `${what}: HTTP ${reply.status}`;
  switch (reply.status) {
    case 401:
      return new RemoteError('unauthorized', message);
    case 403:
      return new RemoteError('forbidden', message);
    case 404:
      return new RemoteError('not-found', message);
    case 429:
      return new RemoteError('rate-limited', message, retryAfterMs(reply.header('retry-after'), Date.now()));
    default:
      if (reply.status >= 500) return new RemoteError('unavailable', message, retryAfterMs(reply.header('retry-after'), Date.now()));
      return new RemoteError('bad-reply', message);
  }
}

/** Parses a reply body once, at the edge: JSON, then the schema. */
export function parseReply<T>(what: string, reply: RemoteReply, schema: z.ZodType<T, z.ZodTypeDef, unknown>): T {
  let data: unknown;
  try {
    data = JSON.parse(reply.text);
  } catch {
    reply.settle('bad-reply');
    throw new RemoteError('bad-reply', `${what}: reply is not JSON`);
  }
  const parsed = schema.safeParse(data);
  reply.settle(parsed.success ? 'ok' : 'bad-reply');
  if (!parsed.success) {
    const issue = parsed.error.issues[0];
    const where = issue && issue.path.length > 0 ? ` at ${issue.path.join('.')}` : '';
    throw new RemoteError('bad-reply', `${what}: unexpected reply${where}: ${issue?.message ?? 'wrong shape'}`);
  }
  return parsed.data;
}
