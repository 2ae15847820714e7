import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { runCheck } from '../../src/commands/check';
import { SIGNED_OUT } from '../../src/identity/identity';
import { fileSource } from '../../src/policy/file-source';
import { HubBadges, hubClient, LOOKUPS_AT_ONCE, MAX_BADGES, withHubBadges } from '../../src/policy/hub-badges';
import { isUnavailable, type PolicySource, type PolicyView } from '../../src/policy/source';
import { captureLog } from '../hub/log-capture';
import { startStandInHub, type StandInHub } from '../hub';

/** File and URL policies learn namespace badges from Docker Hub; their own `badges` override and answer offline. */

let hub: StandInHub;
let dir: string;
const sources: PolicySource[] = [];

beforeEach(async () => {
  hub = await startStandInHub({
    users: [],
    orgs: [
      { orgname: 'bitnami', badge: 'verified_publisher' },
      { orgname: 'someoss', badge: 'open_source' },
      { orgname: 'grafana', badge: 'open_source' },
    ],
  });
  dir = mkdtempSync(join(tmpdir(), 'ia-hub-badges-'));
  writeFileSync(
    join(dir, 'policy.json'),
    JSON.stringify({ organization: 'acme', restricted_images: { enabled: true, allow_verified_publishers: true }, badges: { grafana: 'verified_publisher' } }),
  );
});

afterEach(async () => {
  for (const source of sources.splice(0)) source.close();
  await hub.stop();
  rmSync(dir, { recursive: true, force: true });
});

function learning(): { source: PolicySource; view: () => Promise<PolicyView> } {
  const log = captureLog();
  const options = { ttlMs: 300_000, staleMaxMs: 86_400_000, decisionTimeoutMs: 2_000, logger: log.logger, clock: Date.now };
  const source = withHubBadges(fileSource(join(dir, 'policy.json'), log.logger, Date.now), new HubBadges(hubClient(hub.url, options), options, 1_000));
  sources.push(source);
  return {
    source,
    view: async () => {
      const view = await source.policyFor(SIGNED_OUT);
      if (isUnavailable(view)) throw new Error(view.unavailable);
      return view;
    },
  };
}

test("a namespace's badge is Docker Hub's, asked once and cached; a namespace without one is community", async () => {
  const { source, view } = learning();
  const policy = await view();
  expect(await source.badgeOf('bitnami', policy)).toBe('verified_publisher');
  expect(await source.badgeOf('someoss', policy)).toBe('open_source');
  expect(await source.badgeOf('someone', policy)).toBeUndefined();
  expect(hub.requests('namespace')).toBe(3);
  expect(await source.badgeOf('bitnami', policy)).toBe('verified_publisher');
  expect(hub.requests('namespace')).toBe(3);
});

test("the policy's own badges override the Hub's, without asking it", async () => {
  const { source, view } = learning();
  expect(await source.badgeOf('grafana', await view())).toBe('verified_publisher');
  expect(hub.requests('namespace')).toBe(0);
});

test("with the Hub down: the policy's badges still answer, a badge learnt before is kept, an unknown namespace is community", async () => {
  const { source, view } = learning();
  const policy = await view();
  expect(await source.badgeOf('bitnami', policy)).toBe('verified_publisher');
  hub.fail('all', { kind: 'down' });
  expect(await source.badgeOf('grafana', policy)).toBe('verified_publisher');
  expect(await source.badgeOf('bitnami', policy)).toBe('verified_publisher');
  expect(await source.badgeOf('someoss', policy)).toBeUndefined();
});

test('a flood of distinct namespaces keeps a few lookups in flight; each one not known in time counts as community', async () => {
  const log = captureLog();
  const options = { ttlMs: 300_000, staleMaxMs: 86_400_000, decisionTimeoutMs: 2_000, logger: log.logger, clock: Date.now };
  const badges = new HubBadges(hubClient(hub.url, options), options, 50);
  // Replies come long after every lookup has given up waiting: no turn frees before the test ends.
  hub.fail('namespace', { kind: 'slow', delayMs: 60_000 });
  const flood = Array.from({ length: 4 * LOOKUPS_AT_ONCE }, (_, i) => badges.badgeOf(`flood${i}`));
  expect(await Promise.all(flood)).toEqual(flood.map(() => undefined));
  expect(hub.requests('namespace')).toBeGreaterThan(0);
  expect(hub.requests('namespace')).toBeLessThanOrEqual(LOOKUPS_AT_ONCE);
  // The same namespace again joins its lookup under way or waiting: nothing more is asked.
  expect(await badges.badgeOf('flood0')).toBeUndefined();
  expect(hub.requests('namespace')).toBeLessThanOrEqual(LOOKUPS_AT_ONCE);
});

test('the badges kept are bounded: past MAX_BADGES namespaces the least recently used is asked again', async () => {
  const log = captureLog();
  const options = { ttlMs: 300_000, staleMaxMs: 86_400_000, decisionTimeoutMs: 2_000, logger: log.logger, clock: Date.now };
  const badges = new HubBadges(hubClient(hub.url, options), options, 2_000);
  await badges.badgeOf('ns0');
  // In batches: a thousand lookups waiting at once would be refused (the flood limit), not cached.
  for (let first = 1; first < MAX_BADGES - 1; first += 100) {
    const batch = Array.from({ length: Math.min(100, MAX_BADGES - 1 - first) }, (_, i) => badges.badgeOf(`ns${first + i}`));
    await Promise.all(batch);
  }
  expect(await badges.badgeOf('bitnami')).toBe('verified_publisher');
  expect(hub.requests('namespace')).toBe(MAX_BADGES);
  // All kept: asked again, none goes to the Hub.
  expect(await badges.badgeOf('bitnami')).toBe('verified_publisher');
  expect(hub.requests('namespace')).toBe(MAX_BADGES);
  // One more namespace drops the least recently used (ns0), not bitnami, which was just used.
  await badges.badgeOf('one-more');
  expect(await badges.badgeOf('bitnami')).toBe('verified_publisher');
  expect(hub.requests('namespace')).toBe(MAX_BADGES + 1);
  await badges.badgeOf('ns0');
  expect(hub.requests('namespace')).toBe(MAX_BADGES + 2);
}, 30_000);

test('through the plugin: a file policy without badges classifies a Hub Verified Publisher as Docker Hub does', async () => {
  const out: string[] = [];
  const env = {
    IMAGE_ACCESS_POLICY: join(dir, 'policy.json'),
    IMAGE_ACCESS_HUB_URL: hub.url,
    IMAGE_ACCESS_DOCKER_CONFIG: dir,
    IMAGE_ACCESS_REGISTRY_JSON: '',
    IMAGE_ACCESS_DAEMON_JSON: '',
  };
  const code = await runCheck(['--offline', 'bitnami/redis:7', '--user', 'bob'], { env, out: (t) => out.push(t), err: (t) => out.push(t), clock: Date.now });
  expect(out.join('')).toContain('category: verified_publisher');
  expect(out.join('')).toContain('rule:     verified-publisher-allowed');
  expect(code).toBe(0);
});
