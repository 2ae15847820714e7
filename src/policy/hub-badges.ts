/**
 * Docker Hub namespace badges (Verified Publisher, Sponsored OSS) as Docker Hub itself states them
 * (`GET /v2/orgs/{namespace}/`), cached: for the Hub policy, and for file and URL policies so that nobody types badges
 * by hand. A policy document's own `badges` override the Hub's and answer when the Hub cannot.
 */
import { then, type MaybeAsync } from '../maybe-async';
import { RefreshingCache, remoteCacheOptions, type RemoteSourceOptions } from './cache';
import { ConcurrencyLimit } from './concurrency-limit';
import type { CallOutcome } from './http-client';
import { HubClient } from './hub-client';
import type { Badge } from './policy';
import { RemoteGate } from './remote-gate';
import type { PolicySource } from './source';

/**
 * Namespaces whose badge is kept. A host pulls from tens to a few hundred namespaces a day (a CI runner's base images
 * and tools); the least recently used past this many is asked again when next pulled. Each entry is a few hundred
 * bytes of V8's old space, and V8 lets that space grow to several times what is live: 10,000 cost ~8 MiB of RSS after
 * a flood of distinct namespaces (bench), 2,000 still keep a day's namespaces through a Hub outage (stale-if-error).
 */
export const MAX_BADGES = 2_000;
/**
 * Badge lookups under way at once. A host rarely pulls more than a few new namespaces at once (a compose file, a CI
 * job's images); a flood of distinct ones (a scan, a misbehaving script) keeps this many requests and sockets in
 * flight, not one per namespace, and does not burst into Docker Hub's rate limit. The others wait in order.
 */
export const LOOKUPS_AT_ONCE = 8;
/** Lookups waiting for a turn at most: at LOOKUPS_AT_ONCE per Hub round trip, more would not start in time anyway. */
const MAX_WAITING = 1_000;

/** A Hub client for `hubUrl` with the source's timeouts, agents, metrics and one gate for all its calls. */
export function hubClient(hubUrl: string, options: RemoteSourceOptions): HubClient {
  const observer = options.observer;
  const report = observer && ((outcome: CallOutcome, seconds: number) => observer.remoteCall('hub', outcome, seconds));
  const gate = new RemoteGate({ name: 'Docker Hub', clock: options.clock, logger: options.logger });
  return new HubClient(hubUrl, options.decisionTimeoutMs, report, options.agents, gate);
}

export class HubBadges {
  private readonly cache: RefreshingCache<Badge | undefined>;
  private readonly lookups: ConcurrencyLimit;

  /** `waitMs`: how long a decision waits for a badge not yet known; past it the namespace counts as community. */
  constructor(private readonly client: HubClient, options: RemoteSourceOptions, waitMs: number) {
    const common = remoteCacheOptions(options, { name: 'hub badge', maxEntries: MAX_BADGES });
    this.cache = new RefreshingCache({ ...common, firstFetchWaitMs: Math.max(1, waitMs) });
    // A lookup that cannot start within the decision timeout is not made: the decision that wanted it is long answered.
    this.lookups = new ConcurrencyLimit({
      name: 'Docker Hub badge lookups',
      limit: LOOKUPS_AT_ONCE,
      maxWaiting: MAX_WAITING,
      maxWaitMs: options.decisionTimeoutMs,
      clock: options.clock,
      logger: options.logger,
    });
  }

  badgeOf(namespace: string): MaybeAsync<Badge | undefined> {
    const badge = this.cache.get(namespace, `badge of ${namespace}`, () =>
      this.lookups.run(`badge of ${namespace}`, () => this.client.namespaceBadge(namespace)),
    );
    // Unknown (Hub unreachable and nothing cached) counts as community: the cache has logged why.
    return then(badge, (found) => (found.ok ? found.value : undefined));
  }
}

/** A file or URL policy whose badges are learnt from Docker Hub; the document's `badges` first. */
export function withHubBadges(inner: PolicySource, hub: HubBadges): PolicySource {
  return {
    describe: inner.describe,
    policyFor: (user) => inner.policyFor(user),
    badgeOf: (namespace, view) => view.policy.badges.get(namespace) ?? hub.badgeOf(namespace),
    close: () => inner.close(),
  };
}
