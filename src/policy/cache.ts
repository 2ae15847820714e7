/**
 * A bounded cache of remote values (Hub tokens, memberships, settings, badges; a policy document) that:
 * - asks the remote once per key however many lookups wait for it (single-flight);
 * - refreshes a value in the background once it is 75-90% through its TTL (jittered, so a fleet does not refresh in
 *   step), and serves the current value meanwhile;
 * - past its TTL, still serves the value at once, marked stale, while it refreshes in the background
 *   (stale-while-revalidate): a lookup never waits for the refresh of a value it has. When the refresh fails the value
 *   keeps being served until it is `staleMaxMs` old (stale-if-error); only a key never fetched (or no longer usable)
 *   waits for its fetch;
 * - after a failure asks again no sooner than a backoff, or the server's Retry-After when longer (a Retry-After or
 *   repeated failures also hold back every other key of the same remote: RemoteGate).
 * Time comes from the injected clock, so tests need no waiting except for `firstFetchWaitMs`, a real timer.
 */
import type { LRUCache } from 'lru-cache';
import type { Logger } from '../audit/logger';
import type { MaybeAsync } from '../maybe-async';
import type { OutboundAgents } from '../network/agents';
import type { RemoteObserver } from '../observability/events';
import { within } from './deadline';
import { RemoteError } from './remote-error';
import { HeldBack } from './remote-gate';

export interface CacheOptions {
  /** For logs: `hub membership`, `policy url`, ... */
  readonly name: string;
  readonly maxEntries: number;
  readonly ttlMs: number;
  /** Age after which a value is never used, however the refresh went. Equal to ttlMs: never served stale. */
  readonly staleMaxMs: number;
  /**
   * How long a lookup of a key never fetched waits before it gives up (the fetch goes on and fills the cache);
   * absent: as long as the fetch takes. For values whose absence has a safe meaning (a badge: community).
   */
  readonly firstFetchWaitMs?: number;
  /** Quiet time after a failed fetch before the remote is asked again about the same key. */
  readonly failureBackoffMs: number;
  readonly clock: () => number;
  /** Uniform in [0, 1): the refresh jitter. */
  readonly random: () => number;
  readonly logger: Logger;
  /** Told of each lookup: the metrics' cache counters. */
  readonly observer?: Pick<RemoteObserver, 'cacheLookup'>;
}

/** What every remote policy source (Hub, policy URL) takes from the settings and the shell. */
export interface RemoteSourceOptions {
  readonly ttlMs: number;
  readonly staleMaxMs: number;
  /** Longest a pull decision may wait (IMAGE_ACCESS_DECISION_TIMEOUT): bounds each remote call and refresh wait. */
  readonly decisionTimeoutMs: number;
  readonly logger: Logger;
  readonly clock: () => number;
  readonly random?: () => number;
  /** Told of each remote call and cache lookup: the metrics. */
  readonly observer?: RemoteObserver;
  /** Proxy and CA settings for the remote calls (absent: direct). */
  readonly agents?: OutboundAgents;
}

/** Quiet time after a failed fetch before a remote source asks again about the same key. */
const REMOTE_FAILURE_BACKOFF_MS = 5_000;

/** Options for one of a remote source's caches; `ttlMs` and `staleMaxMs` default to the source's. */
export function remoteCacheOptions(
  source: RemoteSourceOptions,
  cache: Pick<CacheOptions, 'name' | 'maxEntries'> & Partial<Pick<CacheOptions, 'ttlMs' | 'staleMaxMs' | 'firstFetchWaitMs'>>,
): CacheOptions {
  return {
    ttlMs: source.ttlMs,
    staleMaxMs: source.staleMaxMs,
    failureBackoffMs: REMOTE_FAILURE_BACKOFF_MS,
    clock: source.clock,
    random: source.random ?? Math.random,
    logger: source.logger,
    ...(source.observer ? { observer: source.observer } : {}),
    ...cache,
  };
}

export interface Found<V> {
  readonly ok: true;
  readonly value: V;
  readonly fetchedAt: number;
  /** Why this value is past its TTL and still used. */
  readonly stale?: string;
}

export type Lookup<V> = Found<V> | { readonly ok: false; readonly error: Error };

/** Fetches a key's value; gets the current value (e.g. to send its ETag), if any. */
export type Loader<V> = (current: V | undefined) => Promise<V>;

interface Good<V> {
  readonly value: V;
  readonly fetchedAt: number;
  readonly refreshAt: number;
  readonly expiresAt: number;
}

interface Entry<V> {
  readonly good?: Good<V>;
  readonly failure?: { readonly error: Error; readonly retryNotBefore: number };
}

/** The `stale` of a value past its TTL whose refresh is under way. */
export const REFRESHING = 'past its TTL; refresh under way';

const REFRESH_FROM = 0.75;
const REFRESH_JITTER = 0.15;

export class RefreshingCache<V> {
  private store: LRUCache<string, Entry<V>> | undefined;
  private readonly inFlight = new Map<string, Promise<Lookup<V>>>();

  constructor(private readonly options: CacheOptions) {}

  /** Made on first use: lru-cache allocates slots for all maxEntries keys at once, which a starting plugin need not pay. */
  private get entries(): LRUCache<string, Entry<V>> {
    return (this.store ??= new (require('lru-cache') as typeof import('lru-cache')).LRUCache<string, Entry<V>>({ max: this.options.maxEntries }));
  }

  /**
   * The value of `key`, fetched with `load` when needed. `label` names the key in logs: it must hold no secret
   * (keys may be derived from one). At once (no promise) when a usable value is cached or a backoff answers.
   */
  get(key: string, label: string, load: Loader<V>): MaybeAsync<Lookup<V>> {
    const now = this.options.clock();
    const entry = this.entries.get(key);
    const good = this.usable(entry, now);
    const backingOff = entry?.failure !== undefined && entry.failure.retryNotBefore > now;
    this.options.observer?.cacheLookup(this.options.name, good === undefined ? 'miss' : now < good.expiresAt ? 'fresh' : 'expired');
    if (good) {
      if (now >= good.refreshAt && !backingOff) void this.refresh(key, label, load, good.value);
      const found = { ok: true, value: good.value, fetchedAt: good.fetchedAt } as const;
      if (now < good.expiresAt) return found;
      return { ...found, stale: backingOff ? entry!.failure!.error.message : REFRESHING };
    }
    if (backingOff) return { ok: false, error: entry!.failure!.error };
    const fetching = this.refresh(key, label, load, undefined);
    const { firstFetchWaitMs } = this.options;
    if (firstFetchWaitMs === undefined) return fetching;
    return within(fetching, firstFetchWaitMs).then((fetched) => fetched ?? { ok: false, error: new Error(`${label}: still waiting after ${firstFetchWaitMs} ms`) });
  }

  /** The value of `key` if one is usable, without fetching: for callers that cannot fetch it themselves. */
  peek(key: string): Found<V> | undefined {
    const now = this.options.clock();
    const good = this.usable(this.entries.get(key), now);
    if (!good) return undefined;
    const failure = this.entries.get(key)?.failure;
    const stale = now >= good.expiresAt ? { stale: failure?.error.message ?? 'not refreshed since it expired' } : {};
    return { ok: true, value: good.value, fetchedAt: good.fetchedAt, ...stale };
  }

  delete(key: string): void {
    this.entries.delete(key);
  }

  private usable(entry: Entry<V> | undefined, now: number): Good<V> | undefined {
    const good = entry?.good;
    return good && now - good.fetchedAt < Math.max(this.options.staleMaxMs, this.options.ttlMs) ? good : undefined;
  }

  /** One fetch per key at a time: later callers join the one under way. */
  private refresh(key: string, label: string, load: Loader<V>, current: V | undefined): Promise<Lookup<V>> {
    const running = this.inFlight.get(key);
    if (running) return running;
    const attempt = this.fetch(key, label, load, current).finally(() => this.inFlight.delete(key));
    this.inFlight.set(key, attempt);
    return attempt;
  }

  private async fetch(key: string, label: string, load: Loader<V>, current: V | undefined): Promise<Lookup<V>> {
    try {
      const value = await load(current);
      const fetchedAt = this.options.clock();
      const { ttlMs } = this.options;
      const refreshAt = fetchedAt + Math.floor(ttlMs * (REFRESH_FROM + REFRESH_JITTER * this.options.random()));
      this.entries.set(key, { good: { value, fetchedAt, refreshAt, expiresAt: fetchedAt + ttlMs } });
      return { ok: true, value, fetchedAt };
    } catch (thrown) {
      const error = thrown instanceof Error ? thrown : new Error(String(thrown));
      this.recordFailure(key, label, error);
      return { ok: false, error };
    }
  }

  private recordFailure(key: string, label: string, error: Error): void {
    const now = this.options.clock();
    const retryAfter = error instanceof RemoteError ? (error.retryAfterMs ?? 0) : 0;
    const retryNotBefore = now + Math.max(this.options.failureBackoffMs, retryAfter);
    const previous = this.entries.get(key);
    const good = this.usable(previous, now);
    this.entries.set(key, { ...(good ? { good } : {}), failure: { error, retryNotBefore } });
    // A call held back for its whole remote was logged once, by the RemoteGate: not again for every key.
    if (error instanceof HeldBack) return;
    const fields = { cache: this.options.name, key: label, error: error.message, retryInMs: retryNotBefore - now };
    if (good) {
      this.options.logger.warn('refresh failed; using the last good value', {
        ...fields,
        ageMs: now - good.fetchedAt,
        usableForMs: good.fetchedAt + Math.max(this.options.staleMaxMs, this.options.ttlMs) - now,
      });
    } else {
      this.options.logger.warn('fetch failed and there is no earlier value', fields);
    }
  }
}
