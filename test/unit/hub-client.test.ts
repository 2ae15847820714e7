import { RemoteError } from '../../src/policy/remote-error';
import { HubClient } from '../../src/policy/hub-client';
import { startStandInHub, type StandInHub } from '../hub';

const ALICE_PASSWORD = 'alice-password-1';
const ALICE_PAT = 'dckr_pat_aliceAAAAAAAAAAAAAAAAAAAAAA';

let hub: StandInHub;

beforeEach(async () => {
  hub = await startStandInHub({
    users: [
      { username: 'alice', secrets: [ALICE_PASSWORD, ALICE_PAT] },
      { username: 'bob', secrets: ['bob-password'] },
    ],
    orgs: [
      {
        orgname: 'acme',
        members: { alice: 'Owner', bob: 'Member' },
        settings: { enabled: true, allowOfficialImages: true, allowVerifiedPublishers: false },
      },
      { orgname: 'bitnami', badge: 'verified_publisher' },
      { orgname: 'apache', badge: 'open_source' },
      { orgname: 'plainorg', members: { alice: 'Member' } },
      { orgname: 'oddbadge', badge: 'none' },
    ],
  });
});

afterEach(async () => {
  await hub.stop();
});

const client = (timeoutMs = 2_000) => new HubClient(hub.url, timeoutMs);
const password = (secret: string) => ({ kind: 'password' as const, secret });

async function failure(promise: Promise<unknown>): Promise<RemoteError> {
  try {
    await promise;
  } catch (error) {
    if (error instanceof RemoteError) return error;
    throw error;
  }
  throw new Error('expected a RemoteError');
}

describe('HubClient.signIn', () => {
  it('exchanges a password or a PAT for an access token at /v2/auth/token', async () => {
    const token = await client().signIn('alice', password(ALICE_PASSWORD));
    expect(token).toMatch(/^[\w-]+\.[\w-]+\.[\w-]+$/);
    expect(await client().signIn('alice', password(ALICE_PAT))).toMatch(/^[\w-]+\./);
    expect(hub.requests('token')).toBe(2);
    expect(hub.requests('login')).toBe(0);
  });

  it('falls back to /v2/users/login when /v2/auth/token does not exist', async () => {
    hub.fail('token', { kind: 'status', status: 404 });
    const token = await client().signIn('bob', password('bob-password'));
    expect(hub.issuedTokens()).toContain(token);
    expect(hub.requests('login')).toBe(1);
  });

  it('reports a refused secret as unauthorized, without the secret in the message', async () => {
    const error = await failure(client().signIn('alice', password('wrong-secret')));
    expect(error.kind).toBe('unauthorized');
    expect(error.message).toBe('POST /v2/auth/token: HTTP 401');
    expect(hub.requests('login')).toBe(0);
  });

  it('does not fall back on a server error', async () => {
    hub.fail('token', { kind: 'status', status: 500 });
    expect((await failure(client().signIn('alice', password(ALICE_PASSWORD)))).kind).toBe('unavailable');
    expect(hub.requests('login')).toBe(0);
  });
});

describe('HubClient reads', () => {
  it("lists the user's organisations and roles, following next links", async () => {
    await hub.stop();
    hub = await startStandInHub({
      users: [{ username: 'alice', secrets: [ALICE_PASSWORD] }],
      orgs: ['o1', 'o2', 'o3', 'o4', 'o5'].map((orgname, i) => ({ orgname, members: { alice: i === 2 ? 'Owner' : 'Member' } })),
      maxPageSize: 2,
    });
    const token = await client().signIn('alice', password(ALICE_PASSWORD));
    const orgs = await client().userOrgs(token);
    expect(orgs).toEqual([
      { orgname: 'o1', role: 'member' },
      { orgname: 'o2', role: 'member' },
      { orgname: 'o3', role: 'owner' },
      { orgname: 'o4', role: 'member' },
      { orgname: 'o5', role: 'member' },
    ]);
    expect(hub.requests('orgs')).toBe(3);
  });

  it('refuses a next link to another origin (it would receive the bearer token)', async () => {
    await hub.stop();
    hub = await startStandInHub({
      users: [{ username: 'alice', secrets: [ALICE_PASSWORD] }],
      orgs: ['o1', 'o2'].map((orgname) => ({ orgname, members: { alice: 'Member' } })),
      maxPageSize: 1,
      nextOrigin: 'http://127.0.0.2:9',
    });
    const token = await client().signIn('alice', password(ALICE_PASSWORD));
    const error = await failure(client().userOrgs(token));
    expect(error.kind).toBe('bad-reply');
    expect(error.message).toMatch(/next link leaves/);
  });

  it('follows at most 50 pages of organisations, then fails rather than keep paging', async () => {
    await hub.stop();
    const orgs = (count: number) => Array.from({ length: count }, (_, i) => ({ orgname: `o${i}`, members: { alice: 'Member' as const } }));
    hub = await startStandInHub({ users: [{ username: 'alice', secrets: [ALICE_PASSWORD] }], orgs: orgs(50), maxPageSize: 1 });
    expect(await client().userOrgs(await client().signIn('alice', password(ALICE_PASSWORD)))).toHaveLength(50);
    await hub.stop();
    hub = await startStandInHub({ users: [{ username: 'alice', secrets: [ALICE_PASSWORD] }], orgs: orgs(51), maxPageSize: 1 });
    const error = await failure(client().userOrgs(await client().signIn('alice', password(ALICE_PASSWORD))));
    expect(error.kind).toBe('bad-reply');
    expect(error.message).toMatch(/more than 50 pages/);
    expect(hub.requests('orgs')).toBe(50);
  });

  it("reads an organisation's restricted_images settings", async () => {
    const token = await client().signIn('bob', password('bob-password'));
    expect(await client().orgSettings('acme', token)).toEqual({
      enabled: true,
      allowOfficialImages: true,
      allowVerifiedPublishers: false,
    });
    expect((await failure(client().orgSettings('acme', 'not-a-token'))).kind).toBe('unauthorized');
    expect((await failure(client().orgSettings('bitnami', token))).kind).toBe('forbidden');
  });

  it('reads namespace badges; user namespaces and unknown badges are community', async () => {
    expect(await client().namespaceBadge('bitnami')).toBe('verified_publisher');
    expect(await client().namespaceBadge('apache')).toBe('open_source');
    expect(await client().namespaceBadge('acme')).toBeUndefined();
    expect(await client().namespaceBadge('oddbadge')).toBeUndefined();
    expect(await client().namespaceBadge('some-user')).toBeUndefined();
  });
});

describe('HubClient under Hub faults', () => {
  it('reports a closed connection as unavailable', async () => {
    hub.fail('namespace', { kind: 'down' });
    expect((await failure(client().namespaceBadge('bitnami'))).kind).toBe('unavailable');
  });

  it('gives up on a slow Hub at its timeout', async () => {
    hub.fail('namespace', { kind: 'slow', delayMs: 5_000 });
    const error = await failure(client(200).namespaceBadge('bitnami'));
    expect(error.kind).toBe('unavailable');
    expect(error.message).toMatch(/no reply within 200 ms/);
  });

  it("reports 429 as rate-limited with the Retry-After delay", async () => {
    hub.fail('namespace', { kind: 'status', status: 429, retryAfterSeconds: 30 });
    const error = await failure(client().namespaceBadge('bitnami'));
    expect(error.kind).toBe('rate-limited');
    expect(error.retryAfterMs).toBe(30_000);
  });

  it.each([
    [{ kind: 'malformed' as const }, /not JSON/],
    [{ kind: 'wrong-shape' as const }, /unexpected reply at restricted_images/],
    [{ kind: 'huge' as const, bytes: 2 * 1024 * 1024 }, /larger than/],
  ])('reports a bad reply (%j) as bad-reply', async (fault, message) => {
    const token = await client().signIn('bob', password('bob-password'));
    hub.fail('settings', fault);
    const error = await failure(client().orgSettings('acme', token));
    expect(error.kind).toBe('bad-reply');
    expect(error.message).toMatch(message);
  });

  it('fails a fault only as many times as asked', async () => {
    hub.fail('namespace', { kind: 'status', status: 500 }, 1);
    expect((await failure(client().namespaceBadge('bitnami'))).kind).toBe('unavailable');
    expect(await client().namespaceBadge('bitnami')).toBe('verified_publisher');
  });
});
