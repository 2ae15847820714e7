/**
 * Prometheus metrics, fed by the same events as the audit log (decisions) and by the remote policy sources (calls to
 * Docker Hub or a policy URL, cache lookups). Label values come from small fixed sets: never an image or user name,
 * which would make the series unbounded.
 */
import { collectDefaultMetrics, Counter, Gauge, Histogram, Registry } from 'prom-client';
import type { CallOutcome } from '../policy/http-client';
import type { CacheLookupResult, DecisionEvent, DecisionObserver, DecisionResult, RemoteName, RemoteObserver } from './events';
import type { PolicyStatus } from './policy-status';

/** Decisions are sub-millisecond from a warm cache and up to seconds when a Hub round trip is needed. */
const DECISION_BUCKETS = [0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10];
const REMOTE_BUCKETS = [0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10];

export type DecisionCounts = Record<DecisionResult, number>;

export class PluginMetrics implements DecisionObserver, RemoteObserver {
  readonly registry = new Registry();
  private readonly decisions: Counter<'category' | 'decision' | 'rule'>;
  private readonly decisionSeconds: Histogram<'decision'>;
  private readonly remoteCalls: Counter<'remote' | 'outcome'>;
  private readonly remoteSeconds: Histogram<'remote'>;
  private readonly cacheLookups: Counter<'cache' | 'result'>;

  /** `policyStatus` is asked at each scrape, for the policy gauges; `clock` gives epoch milliseconds. */
  constructor(policyStatus: () => Promise<PolicyStatus>, clock: () => number) {
    const registers = [this.registry];
    collectDefaultMetrics({ register: this.registry });
    this.decisions = new Counter({
      name: 'image_access_decisions_total',
      help: 'Image decisions, by image category, result (allow, deny, or warn: denied by the policy, let through in warn mode) and rule',
      labelNames: ['category', 'decision', 'rule'],
      registers,
    });
    this.decisionSeconds = new Histogram({
      name: 'image_access_decision_duration_seconds',
      help: 'Time from an image request reaching the plugin to its verdict, policy and badge lookups included',
      labelNames: ['decision'],
      buckets: DECISION_BUCKETS,
      registers,
    });
    this.remoteCalls = new Counter({
      name: 'image_access_remote_requests_total',
      help: 'HTTP calls to Docker Hub (remote="hub") or the policy URL (remote="policy-url"), by outcome',
      labelNames: ['remote', 'outcome'],
      registers,
    });
    this.remoteSeconds = new Histogram({
      name: 'image_access_remote_request_duration_seconds',
      help: 'Duration of HTTP calls to Docker Hub or the policy URL',
      labelNames: ['remote'],
      buckets: REMOTE_BUCKETS,
      registers,
    });
    this.cacheLookups = new Counter({
      name: 'image_access_cache_lookups_total',
      help: 'Lookups in the policy, membership, token and badge caches: fresh is a hit; expired and miss needed a remote call',
      labelNames: ['cache', 'result'],
      registers,
    });
    const policyGauge = (name: string, help: string, read: (status: PolicyStatus, now: number) => number) =>
      new Gauge({
        name,
        help,
        registers,
        async collect() {
          this.set(read(await policyStatus(), clock()));
        },
      });
    policyGauge('image_access_policy_age_seconds', 'Age of the policy in force; NaN when there is none', (status, now) =>
      status.fetchedAt === undefined ? Number.NaN : Math.max(0, (now - status.fetchedAt) / 1000),
    );
    policyGauge('image_access_policy_available', '1 when a policy is in force, 0 when none could be had', (status) =>
      status.unavailable === undefined ? 1 : 0,
    );
    policyGauge('image_access_policy_stale', '1 when the last policy refresh failed and an older policy is in force', (status) =>
      status.stale === undefined ? 0 : 1,
    );
  }

  decided(event: DecisionEvent): void {
    this.decisions.inc({ category: event.category, decision: event.decision, rule: event.rule });
    this.decisionSeconds.observe({ decision: event.decision }, event.latencyMs / 1000);
  }

  remoteCall(remote: RemoteName, outcome: CallOutcome, seconds: number): void {
    this.remoteCalls.inc({ remote, outcome });
    this.remoteSeconds.observe({ remote }, seconds);
  }

  cacheLookup(cache: string, result: CacheLookupResult): void {
    this.cacheLookups.inc({ cache, result });
  }

  /** Decisions since start, by result: for `image-access status`. */
  async decisionCounts(): Promise<DecisionCounts> {
    const counts: DecisionCounts = { allow: 0, deny: 0, warn: 0 };
    for (const { labels, value } of (await this.decisions.get()).values) {
      const { decision } = labels;
      if (decision === 'allow' || decision === 'deny' || decision === 'warn') counts[decision] += value;
    }
    return counts;
  }

  /** The Prometheus text exposition. */
  exposition(): Promise<string> {
    return this.registry.metrics();
  }

  get contentType(): string {
    return this.registry.contentType;
  }
}
