/**
 * The optional admin listener (IMAGE_ACCESS_METRICS), apart from the plugin socket so that scrapers and fleet tooling
 * never queue behind the daemon's calls: `GET /metrics` (Prometheus text), `GET /healthz` (200 while a policy is in
 * force, else 503), `GET /status` (what `image-access status` prints), `GET /check?image=` (what `image-access
 * check` prints), `GET /policy` (what `image-access policy` prints) and `GET /` (the same as a page). Read-only;
 * loopback or a 0600 unix socket.
 */
import express, { type Request, type Response } from 'express';
import { z } from 'zod';
import { createServer, type Server } from 'node:http';
import type { Logger } from '../audit/logger';
import type { AdminListen, EnforcementMode, FailMode } from '../config/settings';
import { listenOnUnixSocket } from '../protocol/socket';
import type { Explanation, NotJudged } from '../commands/explain';
import { optionalUsername } from '../identity/identity';
import type { PluginMetrics } from './metrics';
import { PAGE_CSP, policyPage } from './policy-page';
import { summarizePolicy } from './policy-summary';
import type { DeniedPull } from './recent-denials';
import { healthReport, type PolicyStatus } from './policy-status';
import type { StatusReport } from './status-report';

export interface AdminDeps {
  readonly metrics: PluginMetrics;
  readonly policyStatus: () => Promise<PolicyStatus>;
  /** This machine's latest denials, newest first: for `/policy` and the page. */
  readonly recentDenials: () => readonly DeniedPull[];
  /** `GET /check?image=IMAGE[&user=U]`: what the daemon would answer for `docker pull IMAGE` now. */
  readonly explain: (image: string, user?: string) => Promise<Explanation | NotJudged>;
  readonly clock: () => number;
  readonly version: string;
  readonly mode: EnforcementMode;
  readonly failMode: FailMode;
  readonly startedAt: number;
  readonly logger: Logger;
}

/** One image, one optional user: a repeated parameter (an array) is refused rather than guessed at. */
const checkQuery = z.object({ image: z.string().min(1).max(4096), user: z.string().max(255).optional() });

export function createAdminApp(deps: AdminDeps): express.Express {
  const app = express();
  app.disable('x-powered-by');
  const answer = (handler: (res: Response) => Promise<void>) => (_req: Request, res: Response) => {
    handler(res).catch((error: unknown) => {
      deps.logger.error('admin endpoint failed', { error: String(error) });
      if (!res.headersSent) res.status(500).json({ error: 'internal error; see the plugin log' });
    });
  };

  app.get('/metrics', answer(async (res) => {
    const text = await deps.metrics.exposition();
    res.type(deps.metrics.contentType).send(text);
  }));

  app.get('/healthz', answer(async (res) => {
    const health = healthReport(await deps.policyStatus(), deps.clock());
    res.status(health.ok ? 200 : 503).json(health);
  }));

  app.get('/status', answer(async (res) => {
    const status = await deps.policyStatus();
    const now = deps.clock();
    const report: StatusReport = {
      version: deps.version,
      mode: deps.mode,
      failMode: deps.failMode,
      uptimeSeconds: Math.round((now - deps.startedAt) / 1000),
      identity: { user: status.user ?? null, source: status.identitySource },
      policy: {
        ...healthReport(status, now),
        fetchedAt: status.fetchedAt === undefined ? null : new Date(status.fetchedAt).toISOString(),
        version: status.version ?? null,
        note: status.note ?? null,
      },
      decisions: await deps.metrics.decisionCounts(),
    };
    res.json(report);
  }));

  app.get('/policy', answer(async (res) => {
    res.json(summarizePolicy(await deps.policyStatus(), deps.recentDenials()));
  }));

  app.get('/', answer(async (res) => {
    const page = policyPage(summarizePolicy(await deps.policyStatus(), deps.recentDenials()));
    res.set({ 'Content-Security-Policy': PAGE_CSP, 'X-Content-Type-Options': 'nosniff', 'Cache-Control': 'no-store' }).type('html').send(page);
  }));

  app.get('/check', (req: Request, res: Response) => {
    const query = checkQuery.safeParse(req.query);
    if (!query.success) {
      res.status(400).json({ error: 'expected ?image=IMAGE, and optionally &user=DOCKER_ID' });
      return;
    }
    const user = optionalUsername(query.data.user);
    if (user instanceof Error) {
      res.status(400).json({ error: user.message });
      return;
    }
    answer(async (reply) => {
      const explained = await deps.explain(query.data.image, user);
      if ('notJudged' in explained) reply.status(422).json({ error: explained.notJudged });
      else reply.json(explained);
    })(req, res);
  });

  app.use((_req: Request, res: Response) => {
    res.status(404).json({ error: 'not found: try /, /policy, /metrics, /healthz, /status or /check?image=IMAGE' });
  });
  return app;
}

export async function startAdminServer(listen: AdminListen, deps: AdminDeps): Promise<Server> {
  const server = createServer(createAdminApp(deps));
  server.headersTimeout = 10_000;
  server.requestTimeout = 30_000;
  if (listen.kind === 'unix') {
    await listenOnUnixSocket(server, listen.path);
  } else {
    await new Promise<void>((resolve, reject) => {
      server.once('error', reject);
      server.listen(listen.port, listen.host, () => {
        server.off('error', reject);
        resolve();
      });
    });
  }
  return server;
}
