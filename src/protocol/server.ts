import express, { type NextFunction, type Request, type Response } from 'express';
import { createServer, type Server } from 'node:http';
import type { Logger } from '../audit/logger';
import { ACTIVATE_REPLY, parseAuthZRequest, type AuthZReply, type AuthZRequest } from './wire';

/** Larger than any body the daemon sends (4 MiB of request body, base64-encoded, plus headers). */
export const MAX_BODY_BYTES = 8 * 1024 * 1024;

export interface AuthZHandler {
  authorizeRequest(request: AuthZRequest): Promise<AuthZReply>;
}

const ALLOW: AuthZReply = { Allow: true, Msg: '' };

/**
 * The plugin's HTTP surface. Every AuthZ call is answered 200 with a verdict: a non-200 reply makes the daemon fail
 * the user's command with an opaque plugin error, so even garbage gets a clear, logged answer.
 */
export function createPluginApp(handler: AuthZHandler, logger: Logger): express.Express {
  const app = express();
  app.disable('x-powered-by');
  app.disable('etag');
  // The daemon sends no Content-Type: take every body raw and parse it ourselves.
  app.use(express.raw({ type: () => true, limit: MAX_BODY_BYTES }));

  app.post('/Plugin.Activate', (_req, res) => {
    res.json(ACTIVATE_REPLY);
  });

  app.post('/AuthZPlugin.AuthZReq', (req: Request, res: Response) => {
    const parsed = parseAuthZRequest(bodyText(req));
    if (!parsed.ok) {
      logger.warn('malformed AuthZReq refused', { error: parsed.error });
      res.json({ Allow: false, Msg: `image-access: malformed authorization request (${parsed.error})` });
      return;
    }
    handler.authorizeRequest(parsed.request).then(
      (reply) => res.json(reply),
      (error: unknown) => {
        logger.error('authorization failed', { error: String(error), uri: parsed.request.requestUri });
        res.json({ Allow: false, Msg: 'image-access: internal error while checking this request; see the plugin log' });
      },
    );
  });

  // Enforcement happens on the request: the response phase is always allowed (a pull has already happened by then).
  app.post('/AuthZPlugin.AuthZRes', (_req, res) => {
    res.json(ALLOW);
  });

  app.use((req: Request, res: Response) => {
    res.status(404).json({ Err: `image-access: unknown plugin endpoint ${req.method} ${req.path}` });
  });

  app.use((error: Error & { type?: string }, req: Request, res: Response, _next: NextFunction) => {
    const tooLarge = error.type === 'entity.too.large';
    logger.warn('unreadable plugin request', { path: req.path, error: error.message });
    if (req.path === '/AuthZPlugin.AuthZRes') {
      res.status(200).json(ALLOW);
      return;
    }
    const why = tooLarge ? `request larger than ${MAX_BODY_BYTES} bytes` : 'unreadable request body';
    res.status(200).json({ Allow: false, Msg: `image-access: ${why}` });
  });
  return app;
}

function bodyText(req: Request): string {
  return Buffer.isBuffer(req.body) ? req.body.toString('utf8') : '';
}

export function createPluginServer(handler: AuthZHandler, logger: Logger): Server {
  const server = createServer(createPluginApp(handler, logger));
  // The daemon keeps connections alive; idle ones must not pile up.
  server.keepAliveTimeout = 60_000;
  server.headersTimeout = 10_000;
  server.requestTimeout = 30_000;
  return server;
}
