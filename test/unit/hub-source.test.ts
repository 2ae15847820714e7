import type { SignedInUser } from '../../src/identity/identity';
import { HubPolicySource, type HubSourceOptions } from '../../src/policy/hub-source';
import { REFRESHING } from '../../src/policy/cache';
import { isUnavailable } from '../../src/policy/source';
import { afterRefresh, view } from '../policy-refresh';
import { captureLog, type CapturedLog } from '../hub/log-capture';
import { startStandInHub, type StandInHub } from '../hub';

const TTL = 300_000;
const STALE_MAX = 86_400_000;
const OWNER_PAT = 'dckr_pat_ownerOWNEROWNEROWNER0001';
const MEMBER_PASSWORD = 'member-password-2';
const OUTSIDER_PASSWORD = 'outsider-password-3';

let hub: StandInHub;
let log: CapturedLog;
let now: number;
let organization: string | undefined;
const sources: HubPolicySource[] = [];

beforeEach(async () => {
  now = 5_000_000;
  organization = 'acme';
  log = captureLog();
  hub = await startStandInHub({
    users: [
      { username: 'olivia', secrets: [OWNER_PAT] },
      { username: 'mike', secrets: [MEMBER_PASSWORD] },
      { username: 'oscar', secrets: [OUTSIDER_PASSWORD] },
    ],
    orgs: [
      {
        orgname: 'acme',
        members: { olivia: 'Owner', mike: 'Member' },
        settings: { enabled: true, allowOfficialImages: true, allowVerifiedPublishers: false },
      },
      { orgname: 'other', members: { oscar: 'Owner' } },
      { orgname: 'bitnami', badge: 'verified_publisher' },
    ],
  });
});

afterEach(async () => {
  for (const source of sources.splice(0)) source.close();
  await hub.stop();
});

function source(overrides: Partial<HubSourceOptions> = {}): HubPolicySource {
  const created = new HubPolicySource({
    hubUrl: hub.url,
    organization: { current: () => Promise.resolve(organization), origin: 'IMAGE_ACCESS_ORG' },
    ttlMs: TTL,
    staleMaxMs: STALE_MAX,
    decisionTimeoutMs: 2_000,
    logger: log.logger,
    clock: () => now,
    random: () => 0,
    ...overrides,
  });
  sources.push(created);
  return created;
}

const user = (username: string, secret: string): SignedInUser => ({
  username,
  source: 'docker-config',
  credential: { kind: 'password', secret },
});
const owner = user('olivia', OWNER_PAT);
const member = user('mike', MEMBER_PASSWORD);
const signedOut: SignedInUser = { source: 'none' };

describe('HubPolicySource', () => {
  it("builds a member's policy from the organisation's Hub settings", async () => {
    const policy = view(await source().policyFor(member));
    expect(policy).toEqual({
      policy: {
        organization: 'acme',
        restrictedImages: { enabled: true, allowOfficialImages: true, allowVerifiedPublishers: false },
        owners: [],
        badges: new Map(),
      },
      membership: 'member',
      source: 'hub',
      fetchedAt: now,
    });
  });

  it('lists an owner among the owners', async () => {
    const policy = view(await source().policyFor(owner));
    expect(policy.membership).toBe('owner');
    expect(policy.policy.owners).toEqual(['olivia']);
  });

  it('answers each user with their own view when pulls alternate, and a repeated pull with the view it had', async () => {
    const s = source();
    const first = view(await s.policyFor(owner));
    const asMember = view(await s.policyFor(member));
    const again = view(await s.policyFor(owner));
    expect([first.policy.owners, asMember.policy.owners, again.policy.owners]).toEqual([['olivia'], [], ['olivia']]);
    expect([first.membership, asMember.membership, again.membership]).toEqual(['owner', 'member', 'owner']);
    expect(view(await s.policyFor(owner))).toBe(again);
    now += TTL;
    const refreshed = view(await s.policyFor(owner));
    expect(refreshed.stale).toBeDefined();
    expect(refreshed).not.toBe(again);
  });

  it('asks the Hub once per key for 100 concurrent pulls', async () => {
    const s = source();
    const results = await Promise.all(Array.from({ length: 100 }, () => s.policyFor(member)));
    expect(results.every((r) => !isUnavailable(r) && r.membership === 'member')).toBe(true);
    expect(hub.requests('token')).toBe(1);
    expect(hub.requests('orgs')).toBe(1);
    expect(hub.requests('settings')).toBe(1);
    const badges = await Promise.all(Array.from({ length: 100 }, () => s.badgeOf('bitnami')));
    expect(new Set(badges)).toEqual(new Set(['verified_publisher']));
    expect(hub.requests('namespace')).toBe(1);
  });

  it('does not share cached membership between two secrets claiming one name', async () => {
    const s = source();
    view(await s.policyFor(member));
    const impostor = await s.policyFor(user('mike', 'guessed-password'));
    expect(view(impostor).membership).toBeUndefined();
    expect(hub.requests('token')).toBe(2);
  });

  it('judges a signed-out pull on the settings last read for a member, membership unknown', async () => {
    const s = source();
    const before = await s.policyFor(signedOut);
    expect(isUnavailable(before) && before.unavailable).toMatch(/nobody is signed in.*only a signed-in member of "acme"/);
    view(await s.policyFor(member));
    const after = view(await s.policyFor(signedOut));
    expect(after.membership).toBeUndefined();
    expect(after.policy.restrictedImages.enabled).toBe(true);
    expect(hub.requests('settings')).toBe(1);
  });

  it('says a signed-in non-member is not a member', async () => {
    const s = source();
    view(await s.policyFor(member));
    expect(view(await s.policyFor(user('oscar', OUTSIDER_PASSWORD))).membership).toBe('none');
  });

  it('follows the organisation resolver on every pull', async () => {
    const s = source();
    organization = undefined;
    const none = await s.policyFor(member);
    expect(isUnavailable(none) && none.unavailable).toMatch(/no organization is set/);
    organization = 'acme';
    expect(view(await s.policyFor(member)).policy.organization).toBe('acme');
  });

  it('renews a token the Hub no longer accepts, once', async () => {
    const s = source();
    view(await s.policyFor(member));
    hub.revokeTokens();
    now += TTL + 1;
    expect((await afterRefresh(() => s.policyFor(member))).stale).toBeUndefined();
    expect(hub.requests('token')).toBe(2);
  });

  it('uses the POST /v2/users/login fallback when /v2/auth/token is missing', async () => {
    hub.fail('token', { kind: 'status', status: 404 });
    expect(view(await source().policyFor(owner)).membership).toBe('owner');
    expect(hub.requests('login')).toBe(1);
  });

  describe('when the Hub fails after a first fetch', () => {
    it.each([
      ['down', { kind: 'down' as const }, /ECONNRESET|ECONNREFUSED|socket hang up/],
      ['500', { kind: 'status' as const, status: 500 }, /HTTP 500/],
      ['429', { kind: 'status' as const, status: 429, retryAfterSeconds: 120 }, /HTTP 429/],
      ['malformed', { kind: 'malformed' as const }, /reply is not JSON/],
      ['wrong shape', { kind: 'wrong-shape' as const }, /unexpected reply/],
      ['huge', { kind: 'huge' as const, bytes: 2 * 1024 * 1024 }, /reply larger than/],
    ])('keeps enforcing the cached policy (%s), marked stale, and logs the failure without secrets', async (_name, fault, why) => {
      const s = source();
      const first = view(await s.policyFor(member));
      hub.fail('all', fault);
      now += TTL + 1;
      const later = await afterRefresh(() => s.policyFor(member));
      expect(later.policy).toEqual(first.policy);
      expect(later.membership).toBe('member');
      // The stale mark says what failed: the Hub request and its fault.
      expect(later.stale).toMatch(/^POST \/v2\/auth\/token: /);
      expect(later.stale).toMatch(why);
      expect(later.fetchedAt).toBe(first.fetchedAt);
      expect(log.find('warn', 'refresh failed; using the last good value').length).toBeGreaterThan(0);
      for (const secret of [MEMBER_PASSWORD, ...hub.issuedTokens()]) expect(log.text()).not.toContain(secret);
    });

    it('marks the policy stale, as old as its older part, when only the membership refresh fails', async () => {
      const s = source();
      const first = view(await s.policyFor(member));
      hub.fail('orgs', { kind: 'status', status: 500 });
      hub.resetCounts();
      now += TTL + 1;
      const later = await afterRefresh(() => s.policyFor(member));
      // The settings were fetched afresh; the membership behind this policy is the old one.
      expect(hub.requests('settings')).toBe(1);
      expect(later.membership).toBe('member');
      expect(later.stale).toMatch(/HTTP 500/);
      expect(later.fetchedAt).toBe(first.fetchedAt);
    });

    it('honours Retry-After: no Hub request until it has passed', async () => {
      const s = source();
      view(await s.policyFor(member));
      hub.fail('all', { kind: 'status', status: 429, retryAfterSeconds: 120 });
      now += TTL + 1;
      await afterRefresh(() => s.policyFor(member));
      hub.resetCounts();
      now += 60_000;
      expect(view(await s.policyFor(member)).stale).toMatch(/429/);
      expect(hub.requests('token') + hub.requests('orgs') + hub.requests('settings')).toBe(0);
      hub.heal();
      now += 61_000;
      expect((await afterRefresh(() => s.policyFor(member))).stale).toBeUndefined();
    });

    it('serves the cached policy at once when the Hub is slow, refreshing behind it', async () => {
      const s = source({ decisionTimeoutMs: 400 });
      view(await s.policyFor(member));
      hub.fail('all', { kind: 'slow', delayMs: 5_000 });
      now += TTL + 1;
      // Stale because it did not wait: after waiting it would be fresh, or marked with the failure.
      const later = view(await s.policyFor(member));
      expect(later.stale).toBe(REFRESHING);
      expect(later.membership).toBe('member');
    });

    it('gives up the cached policy after the stale maximum', async () => {
      const s = source();
      view(await s.policyFor(member));
      hub.fail('all', { kind: 'down' });
      now += STALE_MAX + 1;
      expect(isUnavailable(await s.policyFor(member))).toBe(true);
    });

    it('counts a namespace whose badge cannot be read as community', async () => {
      hub.fail('namespace', { kind: 'status', status: 500 });
      expect(await source().badgeOf('bitnami')).toBeUndefined();
      expect(log.find('warn', 'fetch failed and there is no earlier value')[0]).toMatchObject({ key: 'badge of bitnami' });
    });
  });

  it('has no policy when the Hub is down before the first fetch', async () => {
    hub.fail('all', { kind: 'down' });
    const result = await source().policyFor(member);
    expect(isUnavailable(result)).toBe(true);
  });
});
