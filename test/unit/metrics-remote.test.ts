import { silentLogger } from '../../src/audit/logger';
import { PluginMetrics } from '../../src/observability/metrics';
import { HubPolicySource } from '../../src/policy/hub-source';
import { isUnavailable } from '../../src/policy/source';
import { startStandInHub, type StandInHub } from '../hub';
import { sample } from '../prometheus-text';

/** The Hub source reports its calls and cache lookups to the metrics; checked against the stand-in Docker Hub. */
const PASSWORD = 'member-password-1';
const TTL = 300_000;
let hub: StandInHub;
let now: number;
let source: HubPolicySource | undefined;

beforeEach(async () => {
  now = 1_000_000;
  hub = await startStandInHub({
    users: [{ username: 'mike', secrets: [PASSWORD] }],
    orgs: [{ orgname: 'acme', members: { mike: 'Member' }, settings: { enabled: true, allowOfficialImages: true, allowVerifiedPublishers: true } }],
  });
});

afterEach(async () => {
  source?.close();
  await hub.stop();
});

test('Hub calls are counted by outcome, cache lookups by result', async () => {
  const metrics = new PluginMetrics(() => Promise.resolve({ source: 'hub', identitySource: 'none' }), () => now);
  source = new HubPolicySource({
    hubUrl: hub.url,
    organization: { current: () => Promise.resolve('acme'), origin: 'IMAGE_ACCESS_ORG' },
    ttlMs: TTL,
    staleMaxMs: 86_400_000,
    decisionTimeoutMs: 2_000,
    logger: silentLogger(),
    clock: () => now,
    random: () => 0,
    observer: metrics,
  });
  const mike = { username: 'mike', source: 'test', credential: { kind: 'password' as const, secret: PASSWORD } };
  expect(isUnavailable(await source.policyFor(mike))).toBe(false);
  expect(isUnavailable(await source.policyFor(mike))).toBe(false);
  now += TTL + 1;
  hub.fail('settings', { kind: 'status', status: 503 });
  await source.policyFor(mike);
  // The refresh runs behind that lookup.
  const unavailable = async () => sample(await metrics.exposition(), 'image_access_remote_requests_total{remote="hub",outcome="unavailable"}');
  while ((await unavailable()) === undefined) await new Promise((resolve) => setTimeout(resolve, 5));

  const text = await metrics.exposition();
  const okCalls = sample(text, 'image_access_remote_requests_total{remote="hub",outcome="ok"}');
  expect(okCalls).toBe(hub.requests('token') + hub.requests('orgs') + 1);
  expect(sample(text, 'image_access_remote_requests_total{remote="hub",outcome="unavailable"}')).toBe(1);
  expect(sample(text, 'image_access_remote_request_duration_seconds_count{remote="hub"}')).toBe(okCalls! + 1);
  expect(sample(text, 'image_access_cache_lookups_total{cache="hub org settings",result="miss"}')).toBe(1);
  expect(sample(text, 'image_access_cache_lookups_total{cache="hub org settings",result="fresh"}')).toBe(1);
  expect(sample(text, 'image_access_cache_lookups_total{cache="hub org settings",result="expired"}')).toBe(1);
});
