import { then, type MaybeAsync } from '../maybe-async';
import { RefreshingCache, remoteCacheOptions, type CacheOptions, type RemoteSourceOptions } from './cache';
import { catalogueBadge } from './file-source';
import { createHttp, loggableUrl, send, statusFailure, type Http } from './http-client';
import { RemoteError } from './remote-error';
import { RemoteGate } from './remote-gate';
import { parsePolicyText, type OrgPolicy } from './policy';
import type { PolicySource, PolicyUnavailable, PolicyView } from './source';

export interface UrlSourceOptions extends RemoteSourceOptions {
  readonly url: string;
}

interface FetchedPolicy {
  readonly policy: OrgPolicy;
  readonly etag?: string;
}

const KEY = 'policy';

/**
 * A fleet restarted at once (an upgrade) would otherwise fetch its policy in one burst: each plugin fetches ahead of
 * its first pull at a random moment within this spread; a pull that comes first fetches for itself.
 */
export const WARM_SPREAD_MS = 30_000;

/** The cache behind the policy URL; the fleet simulation (bench/) runs the same one. */
export function policyUrlCacheOptions(options: RemoteSourceOptions): CacheOptions {
  return remoteCacheOptions(options, { name: 'policy url', maxEntries: 1 });
}

/**
 * A policy document (the file source's format) served by a company endpoint (`IMAGE_ACCESS_POLICY=https://...`),
 * fetched with If-None-Match so an unchanged policy costs a 304, refreshed on the cache TTL, and kept in force when
 * the endpoint fails (stale-if-error, up to IMAGE_ACCESS_STALE_MAX).
 */
export class UrlPolicySource implements PolicySource {
  readonly describe: string;
  private readonly http: Http;
  private readonly cache: RefreshingCache<FetchedPolicy>;
  private readonly gate: RemoteGate;
  private warmTimer: NodeJS.Timeout | undefined;

  constructor(private readonly options: UrlSourceOptions) {
    // The URL may carry a token in its query: logs and messages name only its origin and path.
    this.describe = `url:${loggableUrl(options.url)}`;
    this.http = createHttp(options.decisionTimeoutMs, options.agents);
    this.cache = new RefreshingCache(policyUrlCacheOptions(options));
    this.gate = new RemoteGate({ name: `the policy URL ${loggableUrl(options.url)}`, clock: options.clock, logger: options.logger });
  }

  /** Fetches the policy ahead of the first pull, so that pull need not wait. */
  async warm(): Promise<void> {
    await this.lookup();
  }

  /** warm(), at a random moment within `spreadMs` from now. */
  warmSoon(spreadMs = WARM_SPREAD_MS): void {
    this.warmTimer = setTimeout(() => void this.warm(), (this.options.random ?? Math.random)() * spreadMs);
    this.warmTimer.unref();
  }

  policyFor(): MaybeAsync<PolicyView | PolicyUnavailable> {
    return then(this.lookup(), (found): PolicyView | PolicyUnavailable => {
      if (!found.ok) return { unavailable: found.error.message };
      return {
        policy: found.value.policy,
        source: this.describe,
        fetchedAt: found.fetchedAt,
        ...(found.value.etag === undefined ? {} : { version: found.value.etag }),
        ...(found.stale === undefined ? {} : { stale: found.stale }),
      };
    });
  }

  badgeOf = catalogueBadge;

  close(): void {
    // Refreshes are driven by lookups; the only timer is the first fetch's.
    clearTimeout(this.warmTimer);
  }

  private lookup() {
    return this.cache.get(KEY, this.describe, (current) => this.fetch(current));
  }

  private async fetch(current: FetchedPolicy | undefined): Promise<FetchedPolicy> {
    const what = `GET ${loggableUrl(this.options.url)}`;
    const reply = await send(
      this.http,
      { method: 'GET', url: this.options.url, what, headers: current?.etag ? { 'If-None-Match': current.etag } : {} },
      this.options.decisionTimeoutMs,
      (outcome, seconds) => this.options.observer?.remoteCall('policy-url', outcome, seconds),
      this.gate,
    );
    if (reply.status === 304 && current) return current;
    if (reply.status !== 200) throw statusFailure(what, reply);
    const parsed = parsePolicyText(reply.text);
    reply.settle(parsed.ok ? 'ok' : 'bad-reply');
    if (!parsed.ok) throw new RemoteError('bad-reply', `${what}: ${parsed.error}`);
    const etag = reply.header('etag');
    return etag === undefined ? { policy: parsed.policy } : { policy: parsed.policy, etag };
  }
}
