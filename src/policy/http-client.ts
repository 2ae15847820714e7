/**
 * HTTP for the remote policy sources (Docker Hub, a company policy URL): a hard deadline on every call, a bounded
 * reply size, no redirects (a bearer token must not follow one), and failures turned into RemoteError, whose message
 * names the call but never carries a header, a body or a query string (where secrets live).
 */
import type { AxiosInstance, AxiosResponse, AxiosStatic } from 'axios';
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

/**
 * axios, required on the first remote call rather than at start: its load (~50 ms of CPU, ~10 MiB) is not paid by a
 * plugin on the embedded policy or a file, nor before the daemon's first Activate.
 */
let loadedAxios: AxiosStatic | undefined;
function axios(): AxiosStatic {
  return (loadedAxios ??= withoutFetchGlobals(() => (require('axios') as typeof import('axios')).default));
}

/**
 * The globals axios reads as it loads, to set up its fetch adapter and recognise FormData: in Node each is a getter
 * that loads undici, web streams, http2, perf_hooks and worker_threads on first read (~6.8 MiB resident for good), for
 * an adapter image-access never uses (axios takes its `http` adapter first in Node).
 */
const FETCH_GLOBALS = ['fetch', 'Request', 'Response', 'Headers', 'FormData', 'ReadableStream'] as const;

/**
 * Runs `load` with the fetch globals reading as undefined (so axios notes fetch as unavailable), then puts them back.
 * A global a node made unconfigurable stays as it is: axios then loads what it reads, as before, rather than failing.
 */
function withoutFetchGlobals<T>(load: () => T): T {
  const saved = FETCH_GLOBALS.map((name) => [name, Object.getOwnPropertyDescriptor(globalThis, name)] as const).filter(
    ([, descriptor]) => descriptor?.configurable !== false,
  );
  for (const [name] of saved) Object.defineProperty(globalThis, name, { value: undefined, configurable: true, writable: true });
  try {
    return load();
  } finally {
    for (const [name, descriptor] of saved) {
      if (descriptor === undefined) delete (globalThis as Record<string, unknown>)[name];
      else Object.defineProperty(globalThis, name, descriptor);
    }
  }
}

/** An axios instance made on first use. */
export type Http = () => AxiosInstance;

/** `agents`: the proxy and CA settings (src/network/agents.ts); without them, direct with Node's own roots. */
export function createHttp(timeoutMs: number, agents?: OutboundAgents): Http {
  let instance: AxiosInstance | undefined;
  return () =>
    (instance ??= axios().create({
      ...agents,
      timeout: timeoutMs,
      maxRedirects: 0,
      maxContentLength: MAX_REPLY_BYTES,
      responseType: 'text',
      // The body is parsed by the caller with zod: keep it as the text that arrived.
      transformResponse: [(data: unknown) => data],
      validateStatus: () => true,
      // axios's own proxy support would hand an https request, headers and all, to the proxy: the agents tunnel instead.
      proxy: false,
      adapter: 'http',
    }));
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
  let response: AxiosResponse<unknown>;
  // `timeout` is per socket phase; the signal caps the whole call, a slowly dripping reply included. Its timer is
  // cleared with the call: AbortSignal.timeout's would outlive every call by the whole deadline, thousands of them
  // kept alive (and so moved to V8's old space) under a burst of lookups.
  const deadline = new AbortController();
  const timer = setTimeout(() => deadline.abort(), timeoutMs).unref();
  try {
    response = await http().request({
      method: request.method,
      url: request.url,
      headers: { Accept: 'application/json', ...request.headers },
      data: request.json,
      signal: deadline.signal,
    });
  } catch (error) {
    const failure = transportFailure(request.what, error, timeoutMs);
    report?.(failure.kind, elapsed());
    gate?.failed(failure);
    throw failure;
  } finally {
    clearTimeout(timer);
  }
  const seconds = elapsed();
  let unsettled = response.status < 300;
  // The reply keeps the headers, not axios's response (its request, socket and config) while the caller reads it.
  const headers = response.headers;
  const reply: RemoteReply = {
    status: response.status,
    text: typeof response.data === 'string' ? response.data : '',
    header: (name) => {
      const value: unknown = headers[name.toLowerCase()];
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
    const kind = reply.status === 304 ? 'not-modified' : statusKind(reply.status);
    report?.(kind, seconds);
    // Only a failing or rate-limiting remote holds the gate: a 404 (a community namespace) costs no RemoteError here.
    if (kind === 'unavailable' || kind === 'rate-limited') gate?.failed(statusFailure(request.what, reply));
    else gate?.answered();
  }
  return reply;
}

/** What an HTTP status other than 2xx and 304 says about the call. */
function statusKind(status: number): RemoteFailure {
  switch (status) {
    case 401:
      return 'unauthorized';
    case 403:
      return 'forbidden';
    case 404:
      return 'not-found';
    case 429:
      return 'rate-limited';
    default:
      return status >= 500 ? 'unavailable' : 'bad-reply';
  }
}

function transportFailure(what: string, error: unknown, timeoutMs: number): RemoteError {
  const code = axios().isAxiosError(error) ? error.code : undefined;
  const message = error instanceof Error ? error.message : String(error);
  if (/maxContentLength/.test(message)) return new RemoteError('bad-reply', `${what}: reply larger than ${MAX_REPLY_BYTES} bytes`);
  if (code === 'ECONNABORTED' || code === 'ETIMEDOUT' || code === 'ERR_CANCELED' || /timeout|aborted/i.test(message)) {
    return new RemoteError('unavailable', `${what}: no reply within ${timeoutMs} ms`);
  }
  return new RemoteError('unavailable', `${what}: ${code ?? 'connection failed'}`);
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
  const kind = statusKind(reply.status);
  const retryAfter = kind === 'rate-limited' || kind === 'unavailable' ? retryAfterMs(reply.header('retry-after'), Date.now()) : undefined;
  return new RemoteError(kind, `${what}: HTTP ${reply.status}`, retryAfter);
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
