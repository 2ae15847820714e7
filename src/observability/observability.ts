/**
 * Wires the observers from the settings: the audit log (IMAGE_ACCESS_AUDIT_LOG) and the metrics with their admin
 * listener (IMAGE_ACCESS_METRICS). Both hang off the Authorizer's decision hook; the metrics also hear the remote
 * policy sources.
 */
import { statSync } from 'node:fs';
import { hostname } from 'node:os';
import { resolve } from 'node:path';
import type { Server } from 'node:http';
import { AuditLog } from '../audit/audit-log';
import type { Logger } from '../audit/logger';
import type { Settings } from '../config/settings';
import type { IdentityResolver } from '../identity/identity';
import type { PolicySource } from '../policy/source';
import { closeServer, releaseSocketPath } from '../protocol/socket';
import { VERSION } from '../version';
import { IGNORE_REMOTE, type DecisionObserver, type RemoteObserver } from './events';
import type { PluginMetrics } from './metrics';
import type { AdminDeps } from './admin-server';
import { policyStatusProbe, type PolicyStatus } from './policy-status';
import { RecentDenials } from './recent-denials';

/** `/healthz` must answer a fleet poller promptly, whatever the policy source is doing. */
const PROBE_TIMEOUT_MS = 3000;

export interface Observability {
  readonly observers: readonly DecisionObserver[];
  readonly remote: RemoteObserver;
  /** Whether decisions get an audit line now: an audit log is configured and was writable at its last record. */
  readonly audited: () => boolean;
  /** Starts the admin listener, if configured, once the policy source and identity resolver exist. */
  start(parts: { readonly policySource: PolicySource; readonly identity: IdentityResolver; readonly explain: AdminDeps['explain'] }): Promise<void>;
  stop(): Promise<void>;
}

export function createObservability(settings: Settings, logger: Logger, clock: () => number): Observability {
  const startedAt = clock();
  let probe: (() => Promise<PolicyStatus>) | undefined;
  const policyStatus = (): Promise<PolicyStatus> =>
    probe?.() ?? Promise.resolve({ source: 'none', identitySource: 'none', unavailable: 'the plugin is starting' });
  // Required only when asked for: prom-client is a sizeable share of start-up (make bench).
  const metrics =
    settings.metrics === undefined ? undefined : new (require('./metrics') as typeof import('./metrics')).PluginMetrics(policyStatus, clock);
  const audit =
    settings.auditLog === undefined
      ? undefined
      : new AuditLog({ path: resolve(settings.stateDir, settings.auditLog), maxBytes: settings.auditMaxBytes, keepFiles: settings.auditFiles, host: hostname(), logger });
  const denials = new RecentDenials();
  let server: Server | undefined;
  let socketInode: number | undefined;
  return {
    observers: [audit, metrics, settings.metrics === undefined ? undefined : denials].filter(
      (observer): observer is AuditLog | PluginMetrics | RecentDenials => observer !== undefined,
    ),
    remote: metrics ?? IGNORE_REMOTE,
    audited: () => audit?.recording ?? false,
    async start({ policySource, identity, explain }) {
      probe = policyStatusProbe({ policySource, identity, timeoutMs: PROBE_TIMEOUT_MS, clock });
      if (settings.metrics === undefined || metrics === undefined) return;
      // Required here, not at the top: it loads express, a large part of start-up for a plugin without an admin listener.
      const { startAdminServer } = require('./admin-server') as typeof import('./admin-server');
      const deps = { metrics, policyStatus, explain, recentDenials: () => denials.list(), clock, version: VERSION, mode: settings.mode, failMode: settings.failMode, startedAt, logger };
      try {
        server = await startAdminServer(settings.metrics, deps);
      } catch (error) {
        // A plugin that does not start hangs every docker command: enforcing without metrics beats not enforcing.
        logger.error('admin listener not started; /metrics, /healthz and status are unavailable', { listen: settings.metrics, error: String(error) });
        return;
      }
      if (settings.metrics.kind === 'unix') socketInode = statSync(settings.metrics.path).ino;
      logger.info('admin listener serving /metrics, /healthz and /status', { listen: settings.metrics });
    },
    async stop() {
      audit?.close();
      if (server === undefined) return;
      await closeServer(server);
      if (settings.metrics?.kind === 'unix') releaseSocketPath(settings.metrics.path, socketInode);
    },
  };
}
