import { PluginMetrics } from '../../src/observability/metrics';
import { HubPolicySource } from '../../src/policy/hub-source';
import { startStandInHub, type StandInHub } from '../hub';
import { captureLog, type CapturedLog } from '../hub/log-capture';
import { sample } from '../prometheus-text';

/**
 * A Retry-After, or failures in a row, hold back the whole Hub client: not one namespace, user or organisation after
 * another, each asking the Hub again and logging its own warning. Checked against the stand-in Docker Hub.
 */
let hub: StandInHub;
let log: CapturedLog;
let now: number;
const sources: HubPolicySource[] = [];

beforeEach(async () => {
  now = 1_000_000;
  log = captureLog();
  hub = await startStandInHub({ orgs: [{ orgname: 'bitnami', badge: 'verified_publisher' }] });
});

afterEach(async () => {
  for (const source of sources.splice(0)) source.close();
  await hub.stop();
});

function source(metrics?: PluginMetrics): HubPolicySource {
  const created = new HubPolicySource({
    hubUrl: hub.url,
    organization: { current: () => Promise.resolve('acme'), origin: 'IMAGE_ACCESS_ORG' },
    ttlMs: 300_000,
    staleMaxMs: 86_400_000,
    decisionTimeoutMs: 2_000,
    logger: log.logger,
    clock: () => now,
    random: () => 0,
    ...(metrics ? { observer: metrics } : {}),
  });
  sources.push(created);
  return created;
}

const namespaces = (count: number) => Array.from({ length: count }, (_, n) => `ns${n}`);
const cacheWarnings = () => log.lines.filter((line) => line['level'] === 'warn' && line['cache'] !== undefined);

test('a 429 with Retry-After holds back every namespace until then, with one log line', async () => {
  const s = source();
  hub.fail('namespace', { kind: 'status', status: 429, retryAfterSeconds: 30 });
  for (const namespace of namespaces(20)) await s.badgeOf(namespace);
  expect(hub.requests('namespace')).toBe(1);
  expect(log.find('warn', 'Docker Hub held back: no call to it until the hold ends')).toEqual([
    expect.objectContaining({ holdMs: 30_000, cause: 'GET /v2/orgs/ns0/: HTTP 429' }),
  ]);
  // The namespace that met the 429 says so; the 19 held back say nothing more.
  expect(cacheWarnings()).toHaveLength(1);

  now += 29_000;
  await s.badgeOf('late');
  expect(hub.requests('namespace')).toBe(1);

  hub.heal();
  now += 1_001;
  expect(await s.badgeOf('bitnami')).toBe('verified_publisher');
  expect(hub.requests('namespace')).toBe(2);
  expect(log.find('info', 'Docker Hub answers again; no longer held back')).toHaveLength(1);
});

test('failures in a row hold back the Hub for a backoff that grows while they go on', async () => {
  const s = source();
  hub.fail('namespace', { kind: 'status', status: 500 });
  for (const namespace of namespaces(10)) await s.badgeOf(namespace);
  expect(hub.requests('namespace')).toBe(3);
  expect(log.find('warn', 'Docker Hub held back: no call to it until the hold ends')).toEqual([expect.objectContaining({ holdMs: 5_000 })]);

  now += 5_000;
  for (const namespace of namespaces(10).map((name) => `${name}-b`)) await s.badgeOf(namespace);
  // One call after the hold, failing again: held back for twice as long.
  expect(hub.requests('namespace')).toBe(4);
  now += 5_000;
  await s.badgeOf('still-held');
  expect(hub.requests('namespace')).toBe(4);
  now += 5_000;
  await s.badgeOf('probe');
  expect(hub.requests('namespace')).toBe(5);
  expect(log.find('warn', 'Docker Hub held back: no call to it until the hold ends').map((line) => line['holdMs'])).toEqual([5_000, 10_000, 20_000]);
});

test('an answer, even a 404 (a user namespace), is no failure: the count starts again', async () => {
  const s = source();
  hub.fail('namespace', { kind: 'status', status: 500 }, 2);
  for (const namespace of namespaces(4)) await s.badgeOf(namespace);
  hub.fail('namespace', { kind: 'status', status: 500 }, 2);
  for (const namespace of namespaces(4).map((name) => `${name}-b`)) await s.badgeOf(namespace);
  expect(hub.requests('namespace')).toBe(8);
  expect(log.find('warn', 'Docker Hub held back: no call to it until the hold ends')).toEqual([]);
});

test('a 200 whose body does not parse is counted as a bad reply, not ok', async () => {
  const metrics = new PluginMetrics(() => Promise.resolve({ source: 'hub', identitySource: 'none' }), () => now);
  const s = source(metrics);
  hub.fail('namespace', { kind: 'malformed' }, 1);
  await s.badgeOf('ns0');
  hub.fail('namespace', { kind: 'wrong-shape' }, 1);
  await s.badgeOf('ns1');
  await s.badgeOf('bitnami');
  const text = await metrics.exposition();
  expect(sample(text, 'image_access_remote_requests_total{remote="hub",outcome="bad-reply"}')).toBe(2);
  expect(sample(text, 'image_access_remote_requests_total{remote="hub",outcome="ok"}')).toBe(1);
  expect(sample(text, 'image_access_remote_request_duration_seconds_count{remote="hub"}')).toBe(3);
});
