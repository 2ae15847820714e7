import type { Express, NextFunction, Request, Response } from 'express';
import { createServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import type { Duplex } from 'node:stream';
import { isPromise, then, type MaybeAsync } from '../maybe-async';
import { shownValue } from '../recognition/uri';
import type { Logger } from '../audit/logger';
import { trackReplies } from './socket';
import { answerRawCalls, replyText, type CallPath, type RawCall } from './raw-calls';
import { prepareRequest, type PreparedRequest } from '../recognition/prepared';
import type { RecognizedRequest } from '../recognition/recognized';
import { BodyBudget, BodyParsers } from './body-parsers';
import { ACTIVATE_REPLY, ALLOW, parseAuthZHead, type AuthZHead, type AuthZReply, type AuthZRequest } from './wire';

/** The most request body dockerd forwards: 4 MiB from 26.1 (1 MiB on 20.10), sent base64-encoded. */
const FORWARDED_BODY_MAX = 4 * 1024 * 1024;
/** Go's http.Server DefaultMaxHeaderBytes: the request line and headers dockerd accepts from a client. */
const CLIENT_HEADER_MAX = 1024 * 1024;
/** A header byte can take six in JSON (`<` is `\u003c`). */
const JSON_ESCAPE_MAX = 6;

/**
 * Larger than any AuthZReq the daemon sends: its largest forwarded body in base64, its largest headers and URI with
 * every byte escaped, and room for the rest. A 3.9 MB body with a 1 MB header of `<` (11 MB) exceeded the 8 MiB of old.
 */
export const MAX_BODY_BYTES = Math.ceil(FORWARDED_BODY_MAX / 3) * 4 + JSON_ESCAPE_MAX * (CLIENT_HEADER_MAX + 4096) + 64 * 1024;

/** Large bodies held at once (BodyBudget): a few of the largest AuthZReq the daemon can send. */
const LARGE_BODY_BUDGET_BYTES = 64 * 1024 * 1024;

/** From this size on, an AuthZReq's method and URI are read first, and its body kept only if its route needs it. */
export const READ_HEAD_FIRST_BYTES = 256 * 1024;

export interface AuthZHandler {
  /**
   * `recognized`: the route as recognised when the body was read (the request's body may then be gone). A reply
   * rather than a promise when nothing has to be waited for (a passthrough route): it is written at once.
   */
  authorizeRequest(request: AuthZRequest, recognized?: RecognizedRequest): MaybeAsync<AuthZReply>;
  /**
   * Whether a request's verdict may depend on more than its method and URI. When it does not, a large request is
   * allowed without its body (or headers) being kept or parsed; absent: every body is read.
   */
  needsBody?(head: AuthZHead): boolean;
}

/** The replies of nearly every call, serialised once. */
const ALLOW_JSON = JSON.stringify(ALLOW);
const ACTIVATE_JSON = JSON.stringify(ACTIVATE_REPLY);

/**
 * The daemon never sends an empty AuthZReq of its own: an empty body is its retry of a call whose connection broke
 * before the reply (a plugin killed or crashing mid-decision). moby's plugin client re-sends from the buffer the first
 * attempt drained, so the request it stands for (method, URI, body) is gone. Nothing is known about it, so it is denied
 * whatever the fail mode: allowing it would let through anything whose first attempt someone managed to cut off, and
 * the fail mode is about a policy that cannot be had, not about a request that cannot be read. The message says to run
 * the command again, which then arrives whole. A graceful stop answers every call in flight first (closeServer), so
 * restarts and upgrades never produce one.
 */
export const EMPTY_BODY_REPLY: AuthZReply = {
  Allow: false,
  Msg: 'image-access: this request reached the plugin empty: docker re-sent it after its connection to the plugin broke (the plugin was killed or crashed mid-decision), and an unknown request is never allowed. Run the command again.',
};

/**
 * The plugin's HTTP surface. Every AuthZ call is answered 200 with a verdict: a non-200 reply makes the daemon fail
 * the user's command with an opaque plugin error, so even garbage gets a clear, logged answer.
 */
export function createPluginApp(handler: AuthZHandler, logger: Logger): Express {
  // Loaded on first use: the daemon's own calls take the fast path, and loading express is a large part of start-up.
  const express = require('express') as typeof import('express');
  const app = express();
  app.disable('x-powered-by');
  app.disable('etag');
  // The daemon sends no Content-Type: take every body raw and parse it ourselves.
  app.use(express.raw({ type: () => true, limit: MAX_BODY_BYTES }));

  app.post('/Plugin.Activate', (_req, res) => {
    res.json(ACTIVATE_REPLY);
  });

  app.post('/AuthZPlugin.AuthZReq', (req: Request, res: Response) => {
    void Promise.resolve(authorizeBody(handler, logger, Buffer.isBuffer(req.body) ? req.body : Buffer.alloc(0))).then((reply) => res.json(reply));
  });

  // Enforcement happens on the request: the response phase is always allowed (a pull has already happened by then).
  app.post('/AuthZPlugin.AuthZRes', (_req, res) => {
    res.json(ALLOW);
  });

  app.use((req: Request, res: Response) => {
    res.status(404).json({ Err: `image-access: unknown plugin endpoint ${req.method} ${req.path}` });
  });

  app.use((error: Error & { type?: string }, req: Request, res: Response, _next: NextFunction) => {
    logger.warn('unreadable plugin request', { path: req.path, error: error.message });
    res.status(200).json(unreadableReply(req.path, error.type === 'entity.too.large' ? TOO_LARGE : 'unreadable request body'));
  });
  return app;
}

/**
 * The verdict on one AuthZReq body; never rejects or throws, so the daemon always gets a 200 it can act on. A reply at
 * once when nothing is waited for (a passthrough route, a malformed body), so that `docker ps` is answered in the turn
 * its body arrived in. A large body is prepared by a body worker, when `parsers` are given.
 */
function authorizeBody(handler: AuthZHandler, logger: Logger, body: Buffer, parsers?: BodyParsers): MaybeAsync<AuthZReply> {
  if (body.length === 0) {
    logger.warn('AuthZReq without a body refused: the daemon re-sent a call whose connection to the plugin broke');
    return EMPTY_BODY_REPLY;
  }
  const prepared = parsers === undefined ? prepareRequest(body.toString('utf8')) : parsers.prepare(body);
  return then(prepared, (ready) => judgePrepared(handler, logger, ready));
}

function judgePrepared(handler: AuthZHandler, logger: Logger, prepared: PreparedRequest): MaybeAsync<AuthZReply> {
  if (!prepared.ok) {
    logger.warn('malformed AuthZReq refused', { error: prepared.error });
    return { Allow: false, Msg: `image-access: malformed authorization request (${prepared.error})` };
  }
  const failed = (error: unknown): AuthZReply => {
    // The path only: a query may carry a download URL's credentials.
    logger.error('authorization failed', { error: String(error), path: prepared.request.requestUri.split('?', 1)[0] });
    return { Allow: false, Msg: 'image-access: internal error while checking this request; see the plugin log' };
  };
  try {
    const reply = handler.authorizeRequest(prepared.request, prepared.recognized);
    return isPromise(reply) ? reply.catch(failed) : reply;
  } catch (error) {
    return failed(error);
  }
}

const TOO_LARGE = `request larger than ${MAX_BODY_BYTES} bytes`;

/**
 * A call that could not be read (`why`): Activate needs nothing, the response phase is still allowed, a request is
 * denied saying why.
 */
function unreadableReply(path: string, why: string): AuthZReply | typeof ACTIVATE_REPLY {
  if (path === '/Plugin.Activate') return ACTIVATE_REPLY;
  if (path === '/AuthZPlugin.AuthZRes') return ALLOW;
  return { Allow: false, Msg: `image-access: ${why}` };
}

class UnreadableBody extends Error {
  constructor(
    message: string,
    readonly tooLarge: boolean,
  ) {
    super(message);
  }
}

/** A request read whole, or one whose head showed its body does not matter (read off and dropped). */
type ReadRequest = { readonly body: Buffer } | { readonly head: AuthZHead };

/**
 * Calls `done` once with the whole body, up to MAX_BODY_BYTES, or with why it could not be read. A larger one is still
 * read off to its end before it is refused, as express's body parser does, so the client is never cut off mid-write
 * and the connection stays usable. With `needsBody`, a body past READ_HEAD_FIRST_BYTES is looked into for its method
 * and URI (each time it has doubled) and, when they say the rest does not matter, the rest is dropped as it arrives: a
 * 4 MiB `containers/create` costs no memory and no parsing, whatever its size.
 */
function readBody(req: IncomingMessage, needsBody: ((head: AuthZHead) => boolean) | undefined, done: (read: ReadRequest | UnreadableBody) => void): void {
  let settled = false;
  const settle = (read: ReadRequest | UnreadableBody) => {
    if (settled) return;
    settled = true;
    done(read);
  };
  let chunks: Buffer[] = [];
  // A large body of declared length (dockerd always declares it; the budget has reserved it) is read into one
  // buffer of that size: no list of socket chunks kept alive and no copy joining them (or its head) at the end.
  const declared = Number(req.headers['content-length']);
  let whole = declared >= READ_HEAD_FIRST_BYTES && declared <= MAX_BODY_BYTES ? Buffer.allocUnsafeSlow(declared) : undefined;
  let size = 0;
  let headLookedAt = needsBody === undefined ? Infinity : READ_HEAD_FIRST_BYTES / 2;
  let head: AuthZHead | undefined;
  let tooLarge = false;
  req.on('data', (chunk: Buffer) => {
    size += chunk.length;
    if (head !== undefined || tooLarge) return;
    if (whole === undefined) chunks.push(chunk);
    else chunk.copy(whole, size - chunk.length);
    if (size >= 2 * headLookedAt) {
      headLookedAt = size;
      const found = parseAuthZHead((whole?.subarray(0, size) ?? Buffer.concat(chunks)).toString('utf8'));
      // Once its head is read, a body is not copied and looked into again as it grows (a 1 MiB spec was, twice more).
      if (found !== undefined) headLookedAt = Infinity;
      if (found !== undefined && !needsBody!(found)) {
        head = found;
        chunks = [];
        whole = undefined;
        return;
      }
    }
    if (size > MAX_BODY_BYTES) {
      tooLarge = true;
      chunks = [];
    }
  });
  req.on('end', () => {
    if (head !== undefined) settle({ head });
    else if (tooLarge) settle(new UnreadableBody('request entity too large', true));
    else settle({ body: whole ?? (chunks.length === 1 ? chunks[0]! : Buffer.concat(chunks)) });
  });
  req.on('error', (error) => settle(new UnreadableBody(error.message, false)));
  req.on('close', () => req.complete || settle(new UnreadableBody('request aborted', false)));
}

/** A 200 with `body`, JSON text: headers and body go out in one write. */
function sendJsonText(res: ServerResponse, body: string): void {
  res.writeHead(200, ['Content-Type', 'application/json; charset=utf-8', 'Content-Length', String(Buffer.byteLength(body))]);
  res.end(body);
}

const jsonText = (value: unknown): string => (value === ALLOW ? ALLOW_JSON : JSON.stringify(value));

function sendJson(res: ServerResponse, value: unknown): void {
  sendJsonText(res, jsonText(value));
}

/** The reply's JSON text for a plugin call that could not be read whole (`code`: node:http's error code). */
const unreadableCallJson = (path: string, code: string | undefined): string => jsonText(unreadableReply(path, clientErrorReason(code)));

/** Why Node's HTTP parser gave up on a request, in words for the denial. */
function clientErrorReason(code: string | undefined): string {
  switch (code) {
    case 'HPE_HEADER_OVERFLOW':
      return 'request headers too large';
    case 'ERR_HTTP_REQUEST_TIMEOUT':
      return 'request not received in full in time';
    default:
      return `malformed HTTP request (${code ?? 'unreadable'})`;
  }
}

/** Node's own replies, kept for paths that are not the plugin's. */
const PLAIN_STATUS: Readonly<Record<string, string>> = Object.assign(Object.create(null) as Record<string, string>, {
  HPE_HEADER_OVERFLOW: '431 Request Header Fields Too Large',
  ERR_HTTP_REQUEST_TIMEOUT: '408 Request Timeout',
});

const REQUEST_LINE = /^[A-Z]+ (\S+) HTTP\/1\.[01]\r?\n/;

const FAST_PATHS = new Set(['/Plugin.Activate', '/AuthZPlugin.AuthZReq', '/AuthZPlugin.AuthZRes']);

/**
 * The plugin's calls that node:http is given (large bodies, or sent otherwise than dockerd sends them: raw-calls.ts),
 * answered without express, whose per-request cost alone held the plugin to ~4k AuthZReq/s on one core
 * (bench/results/RESULTS.md). The replies are the ones express gives; anything unusual (other paths or methods, query
 * strings, encoded bodies) still goes through express.
 */
function serveFast(
  req: IncomingMessage,
  res: ServerResponse,
  path: string,
  handler: AuthZHandler,
  logger: Logger,
  { parsers, budget }: { parsers: BodyParsers; budget: BodyBudget },
): void {
  if (path === '/AuthZPlugin.AuthZRes') {
    // Enforcement is on the request: the response phase is allowed, and its body (the API's reply) never decoded.
    req.on('end', () => sendJsonText(res, ALLOW_JSON));
    req.resume();
    return;
  }
  const needsBody = path === '/AuthZPlugin.AuthZReq' ? handler.needsBody?.bind(handler) : undefined;
  /** Reads the request and replies; `replied` runs once the reply is written. */
  const serve = (replied?: () => void) =>
    readBody(req, needsBody, (read) => {
      if (read instanceof UnreadableBody) {
        logger.warn('unreadable plugin request', { path, error: read.message });
        sendJson(res, unreadableReply(path, read.tooLarge ? TOO_LARGE : 'unreadable request body'));
      } else if (path === '/Plugin.Activate') {
        sendJsonText(res, ACTIVATE_JSON);
      } else if ('head' in read) {
        sendJsonText(res, ALLOW_JSON);
      } else {
        const verdict = authorizeBody(handler, logger, read.body, parsers);
        if (isPromise(verdict)) {
          void verdict.then((reply) => {
            sendJson(res, reply);
            replied?.();
          });
          return;
        }
        sendJson(res, verdict);
      }
      replied?.();
    });
  // The daemon always sends a Content-Length; small requests (`docker ps`) never wait for the budget.
  const declared = Number(req.headers['content-length']);
  if (!(declared >= READ_HEAD_FIRST_BYTES)) return serve();
  void budget.reserve(Math.min(declared, MAX_BODY_BYTES)).then((release) => {
    // Unread until now: a sender that went away meanwhile has nothing left to answer.
    if (req.destroyed) return release();
    serve(release);
  });
}

/** A call dockerd sent as it always does, answered on the socket (raw-calls.ts): as serveFast answers a small one. */
function answerRawCall({ path, body }: RawCall, handler: AuthZHandler, logger: Logger, parsers: BodyParsers): MaybeAsync<string> {
  if (path === '/Plugin.Activate') return ACTIVATE_JSON;
  if (path === '/AuthZPlugin.AuthZRes') return ALLOW_JSON;
  return then(authorizeBody(handler, logger, body, parsers), jsonText);
}

/** How long a call may take to arrive whole before node:http takes its connection over (and its timeouts apply). */
const RAW_CALL_WAIT_MS = 1_000;

/** How long a sender may take over a request's head, and over the whole request; how often that is checked. */
export interface ServerTimeouts {
  readonly headersMs: number;
  readonly requestMs: number;
  readonly checkEveryMs: number;
}

const DEFAULT_TIMEOUTS: ServerTimeouts = { headersMs: 10_000, requestMs: 30_000, checkEveryMs: 5_000 };

/**
 * Every request on an AuthZ path gets the AuthZ reply where HTTP lets one be sent: a denial saying why for another
 * method, headers too large, a broken chunked body, a sender that stalls (Node's own replies were 404, 431, 400, 408).
 * dockerd's own calls are answered on the socket (raw-calls.ts), everything else by node:http; `rawCalls` false: all
 * by node:http (what tests compare the raw answers with).
 */
export function createPluginServer(handler: AuthZHandler, logger: Logger, timeouts: ServerTimeouts = DEFAULT_TIMEOUTS, rawCalls = true): Server {
  let app: Express | undefined;
  const parsers = new BodyParsers();
  const large = { parsers, budget: new BodyBudget(LARGE_BODY_BUDGET_BYTES) };
  const server = createServer({ connectionsCheckingInterval: timeouts.checkEveryMs }, (req, res) => {
    const path = req.url ?? '';
    if (req.method === 'POST' && FAST_PATHS.has(path) && req.headers['content-encoding'] === undefined) {
      serveFast(req, res, path, handler, logger, large);
    } else if (FAST_PATHS.has(path) && req.method !== 'POST') {
      req.resume();
      logger.warn('plugin call with another method refused', { path, method: req.method });
      req.on('end', () => sendJson(res, unreadableReply(path, `a plugin call is a POST, not ${shownValue(req.method ?? '')}`)));
    } else {
      (app ??= createPluginApp(handler, logger))(req, res);
    }
  });
  server.on('clientError', (error: NodeJS.ErrnoException & { rawPacket?: Buffer }, socket: Duplex) => {
    // The reply in progress on the connection (Node detaches it once written): a parse error that came after its head.
    const reply = (socket as Duplex & { _httpMessage?: ServerResponse | null })._httpMessage ?? undefined;
    const path = reply?.req.url ?? REQUEST_LINE.exec(error.rawPacket?.toString('latin1') ?? '')?.[1];
    if (!socket.writable || reply?.headersSent) return void socket.destroy();
    logger.warn('unreadable plugin request', { path: path === undefined ? undefined : shownValue(path), error: error.code ?? error.message });
    if (path !== undefined && FAST_PATHS.has(path)) socket.end(replyText(unreadableCallJson(path, error.code), true));
    else socket.end(`HTTP/1.1 ${PLAIN_STATUS[error.code ?? ''] ?? '400 Bad Request'}\r\nConnection: close\r\n\r\n`);
  });
  // Never close an idle connection: the daemon (whose pool holds at most 2 idle ones) may be sending on it at that very
  // moment, and a call cut off that way comes back with an empty body (EMPTY_BODY_REPLY). Only the daemon closes them.
  server.keepAliveTimeout = 0;
  server.headersTimeout = timeouts.headersMs;
  server.requestTimeout = timeouts.requestMs;
  server.on('close', () => parsers.close());
  const traffic = trackReplies(server);
  if (rawCalls) {
    answerRawCalls(
      server,
      traffic,
      { waitMs: Math.min(RAW_CALL_WAIT_MS, timeouts.checkEveryMs), requestMs: timeouts.requestMs },
      {
        answer: (call) => answerRawCall(call, handler, logger, parsers),
        unfinished: (path: CallPath, code) => (logger.warn('unreadable plugin request', { path, error: code }), unreadableCallJson(path, code)),
      },
    );
  }
  return server;
}
