import type { Express, NextFunction, Request, Response } from 'express';
import { createServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import type { Logger } from '../audit/logger';
import { trackReplies } from './socket';
import { ACTIVATE_REPLY, parseAuthZRequest, type AuthZReply, type AuthZRequest } from './wire';

/** Larger than any body the daemon sends (4 MiB of request body, base64-encoded, plus headers). */
export const MAX_BODY_BYTES = 8 * 1024 * 1024;

export interface AuthZHandler {
  authorizeRequest(request: AuthZRequest): Promise<AuthZReply>;
}

const ALLOW: AuthZReply = { Allow: true, Msg: '' };

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
    void authorizeBody(handler, logger, bodyText(req)).then((reply) => res.json(reply));
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
    res.status(200).json(unreadableReply(req.path, error.type === 'entity.too.large'));
  });
  return app;
}

/** The verdict on one AuthZReq body; never rejects, so the daemon always gets a 200 it can act on. */
async function authorizeBody(handler: AuthZHandler, logger: Logger, body: string): Promise<AuthZReply> {
  if (body.length === 0) {
    logger.warn('AuthZReq without a body refused: the daemon re-sent a call whose connection to the plugin broke');
    return EMPTY_BODY_REPLY;
  }
  const parsed = parseAuthZRequest(body);
  if (!parsed.ok) {
    logger.warn('malformed AuthZReq refused', { error: parsed.error });
    return { Allow: false, Msg: `image-access: malformed authorization request (${parsed.error})` };
  }
  try {
    return await handler.authorizeRequest(parsed.request);
  } catch (error) {
    // The path only: a query may carry a download URL's credentials.
    logger.error('authorization failed', { error: String(error), path: parsed.request.requestUri.split('?', 1)[0] });
    return { Allow: false, Msg: 'image-access: internal error while checking this request; see the plugin log' };
  }
}

/** A body that could not be read: Activate needs none, the response phase is still allowed, a request is denied saying why. */
function unreadableReply(path: string, tooLarge: boolean): AuthZReply | typeof ACTIVATE_REPLY {
  if (path === '/Plugin.Activate') return ACTIVATE_REPLY;
  if (path === '/AuthZPlugin.AuthZRes') return ALLOW;
  const why = tooLarge ? `request larger than ${MAX_BODY_BYTES} bytes` : 'unreadable request body';
  return { Allow: false, Msg: `image-access: ${why}` };
}

function bodyText(req: Request): string {
  return Buffer.isBuffer(req.body) ? req.body.toString('utf8') : '';
}

class UnreadableBody extends Error {
  constructor(
    message: string,
    readonly tooLarge: boolean,
  ) {
    super(message);
  }
}

/**
 * The whole body, up to MAX_BODY_BYTES. A larger one is still read off to its end before it is refused, as express's
 * body parser does, so the client is never cut off mid-write and the connection stays usable.
 */
function readBody(req: IncomingMessage): Promise<Buffer> {
  return new Promise((resolve, reject) => {
    const chunks: Buffer[] = [];
    let size = 0;
    let tooLarge = Number(req.headers['content-length']) > MAX_BODY_BYTES;
    req.on('data', (chunk: Buffer) => {
      size += chunk.length;
      tooLarge ||= size > MAX_BODY_BYTES;
      if (tooLarge) chunks.length = 0;
      else chunks.push(chunk);
    });
    req.on('end', () => (tooLarge ? reject(new UnreadableBody('request entity too large', true)) : resolve(Buffer.concat(chunks))));
    req.on('error', (error) => reject(new UnreadableBody(error.message, false)));
    req.on('close', () => req.complete || reject(new UnreadableBody('request aborted', false)));
  });
}

function sendJson(res: ServerResponse, value: unknown): void {
  const body = JSON.stringify(value);
  res.writeHead(200, { 'Content-Type': 'application/json; charset=utf-8', 'Content-Length': Buffer.byteLength(body) });
  res.end(body);
}

const FAST_PATHS = new Set(['/Plugin.Activate', '/AuthZPlugin.AuthZReq', '/AuthZPlugin.AuthZRes']);

/**
 * The calls the daemon makes on every API request, answered with plain node:http: express's per-request cost alone
 * held the plugin to ~4k AuthZReq/s on one core (bench/results/RESULTS.md). The replies are the ones express gives;
 * anything unusual (other paths or methods, query strings, encoded bodies) still goes through express.
 */
function serveFast(req: IncomingMessage, res: ServerResponse, path: string, handler: AuthZHandler, logger: Logger): void {
  if (path === '/AuthZPlugin.AuthZRes') {
    req.resume();
    req.on('end', () => sendJson(res, ALLOW));
    return;
  }
  readBody(req).then(
    async (body) => sendJson(res, path === '/Plugin.Activate' ? ACTIVATE_REPLY : await authorizeBody(handler, logger, body.toString('utf8'))),
    (error: UnreadableBody) => {
      logger.warn('unreadable plugin request', { path, error: error.message });
      sendJson(res, unreadableReply(path, error.tooLarge));
    },
  );
}

export function createPluginServer(handler: AuthZHandler, logger: Logger): Server {
  let app: Express | undefined;
  const server = createServer((req, res) => {
    const path = req.url ?? '';
    if (req.method === 'POST' && FAST_PATHS.has(path) && req.headers['content-encoding'] === undefined) {
      serveFast(req, res, path, handler, logger);
    } else {
      (app ??= createPluginApp(handler, logger))(req, res);
    }
  });
  // Never close an idle connection: the daemon (whose pool holds at most 2 idle ones) may be sending on it at that very
  // moment, and a call cut off that way comes back with an empty body (EMPTY_BODY_REPLY). Only the daemon closes them.
  server.keepAliveTimeout = 0;
  server.headersTimeout = 10_000;
  server.requestTimeout = 30_000;
  trackReplies(server);
  return server;
}
