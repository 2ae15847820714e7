/**
 * What a company policy server sees from a fleet of 100,000 plugins on IMAGE_ACCESS_POLICY=https://... at the default
 * TTL: a deterministic discrete-event simulation, no network. Each simulated plugin runs the real RefreshingCache
 * (src/policy/cache.ts: background refresh at a jittered 75-90% of the TTL, single flight, ETag revalidation through
 * the loader's current value) configured as the URL source configures it, on a simulated clock. The policy server
 * answers 304 while the ETag a plugin sends is current, 200 otherwise; the policy changes once, mid-run.
 *
 * Writes bench/results/fleet-simulation.json and fleet-simulation.md. FLEET_PLUGINS overrides the fleet size;
 * BENCH_QUICK=1 simulates a tenth of it.
 */
import { mkdirSync, writeFileSync } from 'node:fs';
import { join, resolve } from 'node:path';
import { silentLogger } from '../src/audit/logger';
import { loadSettings } from '../src/config/settings';
import { RefreshingCache } from '../src/policy/cache';
import { policyUrlCacheOptions, WARM_SPREAD_MS } from '../src/policy/url-source';

const QUICK = process.env['BENCH_QUICK'] === '1';
const PLUGINS = Number(process.env['FLEET_PLUGINS'] ?? (QUICK ? 10_000 : 100_000));
const SEED = 20260101;
const MINUTE = 60_000;
const HOUR = 60 * MINUTE;

/** The settings a fleet runs with when it sets nothing but the policy URL. */
const DEFAULTS = loadSettings({ IMAGE_ACCESS_POLICY: 'https://policy.example.com/acme.json' }, []);

/** mulberry32: a small seeded PRNG, so every run of the simulation is the same. */
function seededRandom(seed: number): () => number {
  let state = seed >>> 0;
  return () => {
    state = (state + 0x6d2b79f5) >>> 0;
    let t = state;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

/** Min-heap of (time, plugin) events. */
class EventQueue {
  private times: number[] = [];
  private ids: number[] = [];

  get size(): number {
    return this.times.length;
  }

  push(time: number, id: number): void {
    const { times, ids } = this;
    let i = times.length;
    times.push(time);
    ids.push(id);
    while (i > 0) {
      const parent = (i - 1) >> 1;
      if (times[parent]! <= time) break;
      times[i] = times[parent]!;
      ids[i] = ids[parent]!;
      i = parent;
    }
    times[i] = time;
    ids[i] = id;
  }

  pop(): { time: number; id: number } {
    const { times, ids } = this;
    const top = { time: times[0]!, id: ids[0]! };
    const lastTime = times.pop()!;
    const lastId = ids.pop()!;
    const n = times.length;
    if (n > 0) {
      let i = 0;
      for (;;) {
        const left = 2 * i + 1;
        if (left >= n) break;
        const child = left + 1 < n && times[left + 1]! < times[left]! ? left + 1 : left;
        if (times[child]! >= lastTime) break;
        times[i] = times[child]!;
        ids[i] = ids[child]!;
        i = child;
      }
      times[i] = lastTime;
      ids[i] = lastId;
    }
    return top;
  }
}

interface Scenario {
  readonly name: string;
  readonly description: string;
  /** When each plugin starts; it fetches the policy at its first pull or its warm-up (within WARM_SPREAD_MS), whichever is first. */
  readonly startWindowMs: number;
  /** Mean time between policy lookups of one plugin: pulls, plus /healthz polls when fleet tooling polls them. */
  readonly meanLookupIntervalMs: number;
  readonly durationMs: number;
  /** The policy document changes (new ETag) at this time. */
  readonly policyChangeAtMs: number;
  /** Rates are averaged from here on, after the start-up transient. */
  readonly steadyFromMs: number;
}

const SCENARIOS: readonly Scenario[] = [
  {
    name: 'steady, busy hosts',
    description: 'plugins started at random over the past TTL; each host asks the policy every minute on average (CI runners, or /healthz polled)',
    startWindowMs: DEFAULTS.cacheTtlMs,
    meanLookupIntervalMs: MINUTE,
    durationMs: HOUR,
    policyChangeAtMs: 40 * MINUTE,
    steadyFromMs: 20 * MINUTE,
  },
  {
    name: 'steady, quiet hosts',
    description: 'plugins started at random; a developer laptop pulls twice an hour on average, so most lookups find the policy expired',
    startWindowMs: DEFAULTS.cacheTtlMs,
    meanLookupIntervalMs: 30 * MINUTE,
    durationMs: 4 * HOUR,
    policyChangeAtMs: 3 * HOUR,
    steadyFromMs: HOUR,
  },
  {
    name: 'whole fleet restarted at once',
    description: 'every plugin restarted within the same 10 s (a fleet-wide upgrade); then lookups every minute on average',
    startWindowMs: 10_000,
    meanLookupIntervalMs: MINUTE,
    durationMs: HOUR,
    policyChangeAtMs: 40 * MINUTE,
    steadyFromMs: 20 * MINUTE,
  },
];

interface Policy {
  readonly etag: number;
}

interface ScenarioResult {
  readonly scenario: string;
  readonly description: string;
  readonly plugins: number;
  readonly simulatedHours: number;
  readonly lookups: number;
  readonly requests: number;
  readonly notModified: number;
  readonly notModifiedShare: number;
  readonly steadyRequestsPerSecond: number;
  readonly peakRequestsPerSecond: number;
  readonly peakSecondAtMinute: number;
  /** Highest one-minute average after the start-up transient. */
  readonly steadyPeakMinuteRequestsPerSecond: number;
  /** Minutes after the policy change until half, 99% and all of the plugins that were asked again had fetched it. */
  readonly propagationMinutes: { readonly p50: number; readonly p99: number; readonly max: number };
  /** The latest a lookup was still answered with the old policy, in minutes after the change: the enforcement lag. */
  readonly oldPolicyLastUsedMinutes: number;
}

const quantile = (sorted: Float64Array, q: number) => sorted[Math.min(sorted.length - 1, Math.max(0, Math.ceil(q * sorted.length) - 1))]!;

async function simulate(scenario: Scenario): Promise<ScenarioResult> {
  const random = seededRandom(SEED);
  let now = 0;
  let serverEtag = 1;
  const perSecond = new Uint32Array(Math.ceil(scenario.durationMs / 1000) + 1);
  let requests = 0;
  let notModified = 0;
  let lookups = 0;
  let oldPolicyLastUsed = 0;
  const updatedAt = new Float64Array(PLUGINS).fill(Number.NaN);
  const logger = silentLogger();
  const caches: Array<RefreshingCache<Policy>> = [];
  const loaders: Array<(current: Policy | undefined) => Promise<Policy>> = [];
  const queue = new EventQueue();

  for (let id = 0; id < PLUGINS; id++) {
    // The URL source's own cache (src/policy/url-source.ts), on the simulated clock.
    const { cacheTtlMs: ttlMs, staleMaxMs, decisionTimeoutMs } = DEFAULTS;
    caches.push(new RefreshingCache<Policy>(policyUrlCacheOptions({ ttlMs, staleMaxMs, decisionTimeoutMs, clock: () => now, random, logger })));
    loaders.push((current) => {
      requests++;
      perSecond[Math.floor(now / 1000)]!++;
      if (current?.etag === serverEtag) {
        notModified++;
        return Promise.resolve(current);
      }
      if (serverEtag > 1 && Number.isNaN(updatedAt[id]!)) updatedAt[id] = now;
      return Promise.resolve({ etag: serverEtag });
    });
  }
  const nextLookup = () => -Math.log(1 - random()) * scenario.meanLookupIntervalMs;
  for (let id = 0; id < PLUGINS; id++) {
    queue.push(random() * scenario.startWindowMs + Math.min(random() * WARM_SPREAD_MS, nextLookup()), id);
  }

  while (queue.size > 0) {
    const { time, id } = queue.pop();
    if (time > scenario.durationMs) break;
    if (serverEtag === 1 && time >= scenario.policyChangeAtMs) serverEtag = 2;
    now = time;
    lookups++;
    const found = await caches[id]!.get('policy', 'policy url', loaders[id]!);
    if (serverEtag > 1 && found.ok && found.value.etag < serverEtag) oldPolicyLastUsed = now - scenario.policyChangeAtMs;
    queue.push(time + nextLookup(), id);
  }

  const steadyFrom = Math.floor(scenario.steadyFromMs / 1000);
  const steady = perSecond.subarray(steadyFrom, Math.floor(scenario.durationMs / 1000));
  let peak = 0;
  let peakAt = 0;
  perSecond.forEach((count, second) => {
    if (count > peak) [peak, peakAt] = [count, second];
  });
  let peakMinute = 0;
  for (let start = 0; start + 60 <= steady.length; start += 60) {
    peakMinute = Math.max(peakMinute, steady.subarray(start, start + 60).reduce((a, b) => a + b, 0) / 60);
  }
  const delays = Float64Array.from(updatedAt.filter((at) => !Number.isNaN(at)), (at) => at - scenario.policyChangeAtMs).sort();
  const minutes = (ms: number) => Math.round((ms / MINUTE) * 10) / 10;
  return {
    scenario: scenario.name,
    description: scenario.description,
    plugins: PLUGINS,
    simulatedHours: scenario.durationMs / HOUR,
    lookups,
    requests,
    notModified,
    notModifiedShare: Math.round((notModified / requests) * 1000) / 1000,
    steadyRequestsPerSecond: Math.round(steady.reduce((a, b) => a + b, 0) / steady.length),
    peakRequestsPerSecond: peak,
    peakSecondAtMinute: minutes(peakAt * 1000),
    steadyPeakMinuteRequestsPerSecond: Math.round(peakMinute),
    propagationMinutes: { p50: minutes(quantile(delays, 0.5)), p99: minutes(quantile(delays, 0.99)), max: minutes(delays[delays.length - 1]!) },
    oldPolicyLastUsedMinutes: minutes(oldPolicyLastUsed),
  };
}

function markdown(results: readonly ScenarioResult[]): string {
  const rows = results.map(
    (r) =>
      `| ${r.scenario} | ${r.steadyRequestsPerSecond} | ${r.steadyPeakMinuteRequestsPerSecond} | ${r.peakRequestsPerSecond} (min ${r.peakSecondAtMinute}) | ` +
      `${(r.notModifiedShare * 100).toFixed(1)}% | ${r.propagationMinutes.p50} / ${r.propagationMinutes.p99} / ${r.propagationMinutes.max} | ${r.oldPolicyLastUsedMinutes} |`,
  );
  return [
    `# Fleet simulation: ${PLUGINS.toLocaleString('en')} plugins on one policy URL`,
    '',
    `Default settings: TTL ${DEFAULTS.cacheTtlMs / 1000} s (IMAGE_ACCESS_CACHE_TTL), background refresh at a jittered 75-90% of it,`,
    `first fetch at the first pull or a warm-up within ${WARM_SPREAD_MS / 1000} s of start, ETag revalidation (If-None-Match).`,
    'Deterministic (seeded), simulated clock, the real RefreshingCache; no network.',
    '',
    '| scenario | steady req/s | busiest minute, req/s | peak second, req/s | 304 share | new policy fetched by 50% / 99% / 100% of active plugins (min) | old policy last enforced (min after change) |',
    '|---|---|---|---|---|---|---|',
    ...rows,
    '',
    ...results.map((r) => `- **${r.scenario}**: ${r.description}; ${r.simulatedHours} h simulated, ${r.lookups.toLocaleString('en')} lookups, ${r.requests.toLocaleString('en')} requests.`),
    '',
  ].join('\n');
}

async function main(): Promise<void> {
  const results: ScenarioResult[] = [];
  for (const scenario of SCENARIOS) {
    const started = Date.now();
    results.push(await simulate(scenario));
    process.stderr.write(`fleet simulation: ${scenario.name} done in ${((Date.now() - started) / 1000).toFixed(1)} s\n`);
  }
  // Compiled to bench/dist/bench/; results go to the source tree's bench/results.
  const out = resolve(__dirname, '..', '..', 'results');
  mkdirSync(out, { recursive: true });
  writeFileSync(join(out, 'fleet-simulation.json'), `${JSON.stringify({ plugins: PLUGINS, ttlMs: DEFAULTS.cacheTtlMs, results }, null, 2)}\n`);
  const text = markdown(results);
  writeFileSync(join(out, 'fleet-simulation.md'), text);
  process.stdout.write(text);
}

void main();
