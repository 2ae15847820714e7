import { silentLogger } from '../../src/audit/logger';
import { auditLine } from '../../src/audit/audit-log';
import { Authorizer } from '../../src/authorizer';
import type { DecisionEvent } from '../../src/observability/events';
import { PluginMetrics } from '../../src/observability/metrics';
import { RefreshingCache } from '../../src/policy/cache';
import { defaultPolicy } from '../../src/policy/default-policy';
import { catalogueBadge, staticSource } from '../../src/policy/file-source';
import { parsePolicyText, type OrgPolicy } from '../../src/policy/policy';
import { bareRequest } from '../../src/protocol/wire';

/**
 * Names that are members of Object.prototype, used as Hub namespaces, users and organisations: no lookup may find
 * the prototype's member instead of "not listed" (`docker pull constructor/app:1` was answered "... is undefined").
 */
const PROTOTYPE_KEYS = ['constructor', '__proto__', 'toString', 'hasOwnProperty', 'valueOf'];
/** The one of them that is a valid (lowercase) Hub namespace, so a pull can name it. */
const PULLABLE = 'constructor';

const pull = (image: string) => bareRequest('POST', `/v1.41/images/create?fromImage=${encodeURIComponent(image)}`);

function judge(policy: OrgPolicy, username?: string) {
  const events: DecisionEvent[] = [];
  const authz = new Authorizer({
    policySource: staticSource(policy, 'test', 0),
    identity: { identify: () => Promise.resolve(username === undefined ? { source: 'none' } : { username, source: 'test' }) },
    logger: silentLogger(),
    mode: 'enforce',
    failMode: 'closed',
    clock: () => 0,
    routes: { allowImport: false, allowLoad: false, allowBuild: true, protectPlugin: false, pluginName: 'image-access' },
    observers: [{ decided: (event) => events.push(event) }],
  });
  return { authz, events };
}

describe.each(PROTOTYPE_KEYS)('the name %s', (key) => {
  test('as a Hub namespace has no badge in a policy catalogue', async () => {
    const policy = defaultPolicy('acme');
    expect(await catalogueBadge(key, { policy, source: 'test', fetchedAt: 0 })).toBeUndefined();
  });

  test('as a badge catalogue key in a policy document is an ordinary entry', () => {
    const parsed = parsePolicyText(`{"organization":"acme","restricted_images":{"enabled":true},"badges":{"${key}":"verified_publisher"}}`);
    if (!parsed.ok) throw new Error(parsed.error);
    expect(parsed.policy.badges.get('someone')).toBeUndefined();
    // zod drops a `__proto__` member rather than let it set a prototype; every other name is an entry.
    expect(parsed.policy.badges.get(key.toLowerCase())).toBe(key === '__proto__' ? undefined : 'verified_publisher');
  });

});

describe(`${PULLABLE}, a namespace a pull can name`, () => {
  const key = PULLABLE;
  test('as a namespace is a community image: denied with a message, audited and counted with its category', async () => {
    const { authz, events } = judge(defaultPolicy('acme'), 'dev');
    const reply = await authz.authorizeRequest(pull(`${key}/app:1`));
    expect(reply).toEqual({ Allow: false, Msg: expect.stringContaining(`docker.io/${key}/app:1 is a community image`) });
    expect(events).toEqual([expect.objectContaining({ category: 'community', rule: 'category-not-allowed' })]);
    expect(JSON.parse(auditLine(events[0]!, 'h'))).toEqual(expect.objectContaining({ category: 'community' }));
    const metrics = new PluginMetrics(() => Promise.resolve({ source: 'test', identitySource: 'none' }), () => 0);
    metrics.decided(events[0]!);
    const exposition = await metrics.exposition();
    expect(exposition).toContain('image_access_decisions_total{category="community",decision="deny",rule="category-not-allowed"} 1');
    expect(exposition).not.toContain('native code');
  });

  test('as an organisation owns only its own namespace', async () => {
    const { authz, events } = judge(defaultPolicy(key), 'dev');
    expect((await authz.authorizeRequest(pull('someone/app:1'))).Allow).toBe(false);
    expect((await authz.authorizeRequest(pull(`${key}/app:1`))).Allow).toBe(true);
    expect(events.map((event) => event.rule)).toEqual(['category-not-allowed', 'own-organization']);
  });
});

describe.each(PROTOTYPE_KEYS)('the name %s, again', (key) => {
  test('as a user is no owner', async () => {
    const { authz, events } = judge({ ...defaultPolicy('acme'), owners: ['olivia'] }, key);
    expect((await authz.authorizeRequest(pull('someone/app:1'))).Allow).toBe(false);
    expect(events[0]?.rule).toBe('category-not-allowed');
  });

  test('as a cache key (a namespace, an organisation) is fetched and kept like any other', async () => {
    const cache = new RefreshingCache<string>({
      name: 'test',
      maxEntries: 10,
      ttlMs: 60_000,
      staleMaxMs: 60_000,
      failureBackoffMs: 1_000,
      clock: () => 0,
      random: () => 0,
      logger: silentLogger(),
    });
    expect(cache.peek(key)).toBeUndefined();
    let loads = 0;
    const load = () => Promise.resolve(`value of ${key}-${++loads}`);
    expect(await cache.get(key, key, load)).toEqual({ ok: true, value: `value of ${key}-1`, fetchedAt: 0 });
    expect(await cache.get(key, key, load)).toEqual({ ok: true, value: `value of ${key}-1`, fetchedAt: 0 });
    expect(loads).toBe(1);
  });
});
