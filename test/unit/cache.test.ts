import { isPromise } from '../../src/maybe-async';
import { RefreshingCache, type CacheOptions, type Lookup } from '../../src/policy/cache';
import { RemoteError } from '../../src/policy/remote-error';
import { captureLog, type CapturedLog } from '../hub/log-capture';

const TTL = 60_000;
const STALE_MAX = 3_600_000;

let now: number;
let log: CapturedLog;

function cache(overrides: Partial<CacheOptions> = {}): RefreshingCache<string> {
  return new RefreshingCache<string>({
    name: 'test',
    maxEntries: 100,
    ttlMs: TTL,
    staleMaxMs: STALE_MAX,
    failureBackoffMs: 5_000,
    clock: () => now,
    random: () => 0,
    logger: log.logger,
    ...overrides,
  });
}

/** A loader that answers from a script of results, counting calls. */
function loader(...results: Array<string | Error | Promise<string>>) {
  const calls: Array<string | undefined> = [];
  const load = (current: string | undefined) => {
    calls.push(current);
    const next = results.length > 1 ? results.shift()! : results[0]!;
    if (next instanceof Error) return Promise.reject(next);
    return Promise.resolve(next);
  };
  return { load, calls };
}

const value = (lookup: Lookup<string>) => (lookup.ok ? lookup.value : `error: ${lookup.error.message}`);
const settle = () => new Promise((resolve) => setImmediate(resolve));

beforeEach(() => {
  now = 1_000_000;
  log = captureLog();
});

describe('RefreshingCache', () => {
  it('asks once for 100 concurrent lookups of one key (single-flight)', async () => {
    let release!: (v: string) => void;
    const gate = new Promise<string>((resolve) => (release = resolve));
    const { load, calls } = loader(gate);
    const c = cache();
    const lookups = Array.from({ length: 100 }, () => c.get('k', 'k', load));
    release('v1');
    const results = await Promise.all(lookups);
    expect(calls).toHaveLength(1);
    expect(results.every((r) => r.ok && r.value === 'v1')).toBe(true);
  });

  it('serves a fresh value without asking again', async () => {
    const { load, calls } = loader('v1', 'v2');
    const c = cache();
    await c.get('k', 'k', load);
    now += TTL * 0.7;
    expect(value(await c.get('k', 'k', load))).toBe('v1');
    expect(calls).toHaveLength(1);
  });

  it('refreshes in the background from 75% of the TTL, serving the current value meanwhile', async () => {
    const { load, calls } = loader('v1', 'v2');
    const c = cache();
    await c.get('k', 'k', load);
    now += TTL * 0.76;
    expect(value(await c.get('k', 'k', load))).toBe('v1');
    expect(calls).toStrictEqual([undefined, 'v1']);
    await settle();
    expect(value(await c.get('k', 'k', load))).toBe('v2');
  });

  it('does not retry a failed background refresh within the backoff while the value is still fresh', async () => {
    const { load, calls } = loader('v1', new RemoteError('unavailable', 'down'));
    const c = cache();
    await c.get('k', 'k', load);
    now += TTL * 0.76;
    expect(await c.get('k', 'k', load)).toStrictEqual({ ok: true, value: 'v1', fetchedAt: now - TTL * 0.76 });
    await settle();
    expect(calls).toHaveLength(2);
    expect(log.find('warn', 'refresh failed; using the last good value')).toHaveLength(1);
    now += 1_000;
    expect(value(await c.get('k', 'k', load))).toBe('v1');
    await settle();
    expect(calls).toHaveLength(2);
    now += 5_000;
    expect(now).toBeLessThan(1_000_000 + TTL);
    expect(value(await c.get('k', 'k', load))).toBe('v1');
    await settle();
    expect(calls).toHaveLength(3);
  });

  it('jitters the refresh point up to 90% of the TTL', async () => {
    const { load, calls } = loader('v1', 'v2');
    const c = cache({ random: () => 0.99 });
    await c.get('k', 'k', load);
    now += TTL * 0.85;
    await c.get('k', 'k', load);
    expect(calls).toHaveLength(1);
    now += TTL * 0.05;
    await c.get('k', 'k', load);
    expect(calls).toHaveLength(2);
  });

  it('serves an expired value at once, marked stale, while it refreshes in the background (stale-while-revalidate)', async () => {
    const { load, calls } = loader('v1', 'v2');
    const c = cache();
    await c.get('k', 'k', load);
    const fetchedAt = now;
    now += TTL + 1;
    expect(await c.get('k', 'k', load)).toEqual({ ok: true, value: 'v1', fetchedAt, stale: 'past its TTL; refresh under way' });
    expect(calls).toStrictEqual([undefined, 'v1']);
    await settle();
    expect(await c.get('k', 'k', load)).toEqual({ ok: true, value: 'v2', fetchedAt: now });
  });

  it('never makes a lookup of a value it has wait for a slow source: only a key never fetched waits', async () => {
    const gates: Array<(value: string) => void> = [];
    const slow = () => new Promise<string>((resolve) => gates.push(resolve));
    const c = cache();
    const first = c.get('k', 'k', slow);
    let firstDone = false;
    void Promise.resolve(first).then(() => (firstDone = true));
    await settle();
    expect(firstDone).toBe(false);
    gates.shift()!('v1');
    expect(value(await first)).toBe('v1');
    // From now on the source never answers; each lookup, before and after the TTL, resolves without it.
    for (const step of [TTL * 0.8, TTL * 0.3, TTL * 5]) {
      now += step;
      const lookup = c.get('k', 'k', slow);
      // Answered at once from what the cache holds: not even a promise to wait on.
      expect(isPromise(lookup)).toBe(false);
      expect(value(await lookup)).toBe('v1');
    }
    // One refresh under way the whole time (single-flight), not one per lookup.
    expect(gates).toHaveLength(1);
  });

  it('keeps serving the last good value, marked stale, when the refresh fails, and logs each failure once', async () => {
    const { load, calls } = loader('v1', new RemoteError('unavailable', 'GET /x: HTTP 500'));
    const c = cache();
    await c.get('k', 'label-k', load);
    const fetchedAt = now;
    now += TTL + 1;
    await c.get('k', 'label-k', load);
    await settle();
    expect(await c.get('k', 'label-k', load)).toEqual({ ok: true, value: 'v1', fetchedAt, stale: 'GET /x: HTTP 500' });
    // Within the backoff the remote is not asked again, and nothing more is logged.
    now += 1_000;
    expect(await c.get('k', 'label-k', load)).toMatchObject({ value: 'v1', stale: 'GET /x: HTTP 500' });
    expect(calls).toHaveLength(2);
    const warnings = log.find('warn', 'refresh failed; using the last good value');
    expect(warnings).toHaveLength(1);
    expect(warnings[0]).toMatchObject({ cache: 'test', key: 'label-k', error: 'GET /x: HTTP 500' });
    // After the backoff it tries again, and logs that failure too.
    now += 5_000;
    await c.get('k', 'label-k', load);
    expect(calls).toHaveLength(3);
    expect(log.find('warn', 'refresh failed; using the last good value')).toHaveLength(2);
  });

  it('stops using a value once it is older than the stale maximum', async () => {
    const { load } = loader('v1', new RemoteError('unavailable', 'down'));
    const c = cache();
    await c.get('k', 'k', load);
    now += STALE_MAX - 1;
    expect(value(await c.get('k', 'k', load))).toBe('v1');
    now += 10_000;
    expect(value(await c.get('k', 'k', load))).toBe('error: down');
  });

  it('never serves stale when the stale maximum is the TTL (tokens)', async () => {
    const { load } = loader('t1', new RemoteError('unavailable', 'down'));
    const c = cache({ staleMaxMs: TTL });
    await c.get('k', 'k', load);
    now += TTL + 1;
    expect(value(await c.get('k', 'k', load))).toBe('error: down');
  });

  it('honours a Retry-After longer than the backoff', async () => {
    const { load, calls } = loader('v1', new RemoteError('rate-limited', 'GET /x: HTTP 429', 60_000), 'v2');
    const c = cache();
    await c.get('k', 'k', load);
    now += TTL + 1;
    await c.get('k', 'k', load);
    await settle();
    expect(await c.get('k', 'k', load)).toMatchObject({ value: 'v1', stale: 'GET /x: HTTP 429' });
    now += 30_000;
    expect(await c.get('k', 'k', load)).toMatchObject({ value: 'v1', stale: 'GET /x: HTTP 429' });
    expect(calls).toHaveLength(2);
    now += 30_001;
    await c.get('k', 'k', load);
    await settle();
    expect(value(await c.get('k', 'k', load))).toBe('v2');
  });

  it('reports a failure when there is no earlier value, and does not retry within the backoff', async () => {
    const { load, calls } = loader(new RemoteError('unavailable', 'down'), 'v1');
    const c = cache();
    expect(value(await c.get('k', 'k', load))).toBe('error: down');
    expect(value(await c.get('k', 'k', load))).toBe('error: down');
    expect(calls).toHaveLength(1);
    expect(log.find('warn', 'fetch failed and there is no earlier value')).toHaveLength(1);
    now += 5_000;
    expect(value(await c.get('k', 'k', load))).toBe('v1');
  });

  it('passes the current value to the loader (for ETags) and peeks without fetching', async () => {
    const { load, calls } = loader('v1', 'v2');
    const c = cache();
    expect(c.peek('k')).toBeUndefined();
    await c.get('k', 'k', load);
    expect(c.peek('k')).toEqual({ ok: true, value: 'v1', fetchedAt: now });
    now += TTL + 1;
    expect(c.peek('k')).toMatchObject({ value: 'v1', stale: 'not refreshed since it expired' });
    await c.get('k', 'k', load);
    expect(calls).toStrictEqual([undefined, 'v1']);
  });

  it('gives up on a first fetch after firstFetchWaitMs, and keeps what it brings', async () => {
    let release!: (v: string) => void;
    const { load, calls } = loader(new Promise<string>((resolve) => (release = resolve)));
    const c = cache({ firstFetchWaitMs: 20 });
    expect(value(await c.get('k', 'badge of k', load))).toBe('error: badge of k: still waiting after 20 ms');
    release('v1');
    await settle();
    expect(value(await c.get('k', 'badge of k', load))).toBe('v1');
    expect(calls).toHaveLength(1);
  });

  it('holds at most maxEntries keys', async () => {
    const { load, calls } = loader('v');
    const c = cache({ maxEntries: 2 });
    await c.get('a', 'a', load);
    await c.get('b', 'b', load);
    await c.get('c', 'c', load);
    expect(c.peek('a')).toBeUndefined();
    await c.get('a', 'a', load);
    expect(calls).toHaveLength(4);
  });
});
