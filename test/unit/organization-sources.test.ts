import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { runCheck } from '../../src/commands/check';
import type { OrganizationResolver } from '../../src/identity/organization';
import { SIGNED_OUT } from '../../src/identity/identity';
import { DEMO_NOTICE } from '../../src/policy/default-policy';
import type { OrgPolicy } from '../../src/policy/policy';
import { autoSource, demoSource, forConfiguredOrganization, BUILTIN } from '../../src/policy/organization-sources';
import type { PolicySource, PolicyUnavailable, PolicyView } from '../../src/policy/source';

/** The configured organisation, changeable between lookups as a registry.json edit would change it. */
function organization(initial: string | undefined, origin = 'IMAGE_ACCESS_ORG'): OrganizationResolver & { org: string | undefined } {
  const resolver = { org: initial, origin, current: () => Promise.resolve(resolver.org) };
  return resolver;
}

const acmePolicy: OrgPolicy = {
  organization: 'acme',
  restrictedImages: { enabled: true, allowOfficialImages: true, allowVerifiedPublishers: true },
  owners: [],
  badges: new Map([['someone', 'verified_publisher']]),
};

/** A policy source that answers `answer` and names its badges `badge`, recording what it was asked. */
function fixedSource(describe: string, answer: PolicyView | PolicyUnavailable, badge = undefined as 'open_source' | undefined): PolicySource & { closed: boolean } {
  const source = {
    describe,
    closed: false,
    policyFor: () => Promise.resolve(answer),
    badgeOf: () => Promise.resolve(badge),
    close: () => {
      source.closed = true;
    },
  };
  return source;
}

describe('demoSource (IMAGE_ACCESS_POLICY=builtin)', () => {
  test('with no organization configured: the demo organization, marked demo, with the notice', async () => {
    const view = (await demoSource(organization(undefined), 7).policyFor(SIGNED_OUT)) as PolicyView;
    expect(view).toMatchObject({ source: BUILTIN, fetchedAt: 7, note: DEMO_NOTICE, policy: { organization: 'acme', demo: true } });
  });

  test("with registry.json naming widgets: widgets' own images are its own, not the demo organization's", async () => {
    const org = organization('widgets', 'allowedOrgs in /r/registry.json');
    const source = demoSource(org, 0);
    expect(((await source.policyFor(SIGNED_OUT)) as PolicyView).policy.organization).toBe('widgets');
    org.org = 'gadgets';
    expect(((await source.policyFor(SIGNED_OUT)) as PolicyView).policy.organization).toBe('gadgets');
  });
});

describe('forConfiguredOrganization (a policy file or URL)', () => {
  const view: PolicyView = { policy: acmePolicy, source: 'file:/p.json', fetchedAt: 1 };

  test("the configured organization's document is enforced; with none configured, the document's own", async () => {
    expect(await forConfiguredOrganization(fixedSource('file:/p.json', view), organization('acme')).policyFor(SIGNED_OUT)).toBe(view);
    expect(await forConfiguredOrganization(fixedSource('file:/p.json', view), organization(undefined)).policyFor(SIGNED_OUT)).toBe(view);
  });

  test("another organization's document is not enforced: unavailable, naming both and where the organization is set", async () => {
    const guarded = forConfiguredOrganization(fixedSource('file:/p.json', view), organization('widgets', 'allowedOrgs in /r/registry.json'));
    expect(await guarded.policyFor(SIGNED_OUT)).toEqual({
      unavailable:
        'file:/p.json is the policy of organization "acme", but this machine\'s organization is "widgets" (allowedOrgs in /r/registry.json); it is not enforced',
    });
  });

  test('an unavailable policy stays unavailable; badges and close go to the source', async () => {
    const inner = fixedSource('url:https://p/acme.json', { unavailable: 'down' }, 'open_source');
    const guarded = forConfiguredOrganization(inner, organization('widgets'));
    expect(await guarded.policyFor(SIGNED_OUT)).toEqual({ unavailable: 'down' });
    expect(await guarded.badgeOf('x', view)).toBe('open_source');
    guarded.close();
    expect(inner.closed).toBe(true);
  });
});

describe('autoSource (IMAGE_ACCESS_POLICY unset)', () => {
  const hubView: PolicyView = { policy: acmePolicy, source: 'hub', fetchedAt: 3, membership: 'member' };

  test('an organization configured: its policy from the Hub, with a note saying so; never the demo', async () => {
    const hub = fixedSource('hub:https://hub', hubView, 'open_source');
    const source = autoSource(organization('acme'), hub, demoSource(organization('acme'), 0));
    const view = (await source.policyFor(SIGNED_OUT)) as PolicyView;
    expect(view).toEqual({ ...hubView, note: 'IMAGE_ACCESS_POLICY is not set: the policy of organization "acme" is read from Docker Hub' });
    expect(view.policy.demo).toBeUndefined();
    expect(await source.badgeOf('someoss', view)).toBe('open_source');
  });

  test('the Hub without a policy: unavailable, saying it was the fallback', async () => {
    const source = autoSource(organization('acme'), fixedSource('hub', { unavailable: 'nobody is signed in' }), demoSource(organization('acme'), 0));
    expect(await source.policyFor(SIGNED_OUT)).toEqual({
      unavailable: 'IMAGE_ACCESS_POLICY is not set: the policy of organization "acme" is read from Docker Hub: nobody is signed in',
    });
  });

  test('no organization configured: the demo, saying why; an organization appearing later switches to the Hub', async () => {
    const org = organization(undefined);
    const hub = fixedSource('hub', hubView);
    const source = autoSource(org, hub, demoSource(org, 0));
    const demo = (await source.policyFor(SIGNED_OUT)) as PolicyView;
    expect(demo.policy.demo).toBe(true);
    expect(demo.note).toBe(`no organization is configured (IMAGE_ACCESS_ORG or registry.json): ${DEMO_NOTICE}`);
    // The demo's badges are its own catalogue, not the Hub's.
    expect(await source.badgeOf('bitnami', demo)).toBe('verified_publisher');
    org.org = 'acme';
    expect(((await source.policyFor(SIGNED_OUT)) as PolicyView).source).toBe('hub');
    source.close();
    expect(hub.closed).toBe(true);
  });
});

/** The scenarios, end to end through `image-access check` (the plugin's own wiring) with no network. */
describe('which organization a configuration enforces', () => {
  let dir: string;
  beforeAll(() => {
    dir = mkdtempSync(join(tmpdir(), 'ia-org-'));
    writeFileSync(join(dir, 'registry.json'), '{"allowedOrgs":["widgets"]}');
    writeFileSync(join(dir, 'acme.json'), JSON.stringify({ organization: 'acme', restricted_images: { enabled: true } }));
  });
  afterAll(() => rmSync(dir, { recursive: true, force: true }));

  async function check(env: Record<string, string>, ...args: string[]) {
    const out: string[] = [];
    const io = { env: { IMAGE_ACCESS_DOCKER_CONFIG: dir, IMAGE_ACCESS_REGISTRY_JSON: '', IMAGE_ACCESS_DAEMON_JSON: '', ...env }, out: (t: string) => out.push(t), err: (t: string) => out.push(t), clock: () => 0 };
    const code = await runCheck(['--offline', ...args], io);
    return { code, out: out.join('') };
  }

  test('only IMAGE_ACCESS_ORG=acme: the policy of acme from Docker Hub, not the demo (here none could be read: fail closed, saying why)', async () => {
    const result = await check({ IMAGE_ACCESS_ORG: 'acme', IMAGE_ACCESS_HUB_URL: 'http://127.0.0.1:9' }, 'nginxinc/nginx-unprivileged', '--user', 'bob');
    expect(result.code).toBe(1);
    expect(result.out).toContain('rule:     fail-closed');
    expect(result.out).toContain('IMAGE_ACCESS_POLICY is not set: the policy of organization "acme" is read from Docker Hub');
    expect(result.out).not.toContain('demo');
  });

  test("registry.json naming widgets with the demo policy: widgets' images are its own, and denials name widgets and the demo", async () => {
    const env = { IMAGE_ACCESS_POLICY: 'builtin', IMAGE_ACCESS_REGISTRY_JSON: join(dir, 'registry.json') };
    const own = await check(env, 'widgets/app', '--user', 'bob');
    expect(own.code).toBe(0);
    expect(own.out).toContain('rule:     own-organization');
    expect(own.out).toContain('(organization widgets)');
    const denied = await check(env, 'acme/app', '--user', 'bob');
    expect(denied.code).toBe(1);
    expect(denied.out).toContain('organization "widgets" only allows');
    expect(denied.out).toContain(DEMO_NOTICE);
  });

  test("a policy file of acme on a machine of widgets (registry.json) is not enforced", async () => {
    const env = { IMAGE_ACCESS_POLICY: join(dir, 'acme.json'), IMAGE_ACCESS_REGISTRY_JSON: join(dir, 'registry.json') };
    const result = await check(env, 'alpine', '--user', 'bob');
    expect(result.code).toBe(1);
    expect(result.out).toContain('rule:     fail-closed');
    expect(result.out).toContain('is the policy of organization "acme", but this machine\'s organization is "widgets"');
  });

  test('nothing configured (make run): the demo policy, and its denials say it is the demo', async () => {
    const result = await check({}, 'someone/app', '--user', 'bob');
    expect(result.code).toBe(1);
    expect(result.out).toContain('rule:     category-not-allowed');
    expect(result.out).toContain(`Note: ${DEMO_NOTICE}.`);
  });
});
