import { mkdtempSync, rmSync } from 'node:fs';
import type { Server } from 'node:http';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { silentLogger } from '../../src/audit/logger';
import { runPolicy } from '../../src/commands/policy';
import { fetchFromAdmin } from '../../src/commands/status';
import type { AdminListen } from '../../src/config/settings';
import { startAdminServer } from '../../src/observability/admin-server';
import type { DecisionEvent } from '../../src/observability/events';
import { PluginMetrics } from '../../src/observability/metrics';
import { escapeHtml, policyPage } from '../../src/observability/policy-page';
import type { PolicyStatus } from '../../src/observability/policy-status';
import { policySummarySchema, summarizePolicy } from '../../src/observability/policy-summary';
import { RECENT_DENIALS_KEPT, RecentDenials } from '../../src/observability/recent-denials';
import { parsePolicyDocument, type OrgPolicy } from '../../src/policy/policy';

const NOW = Date.parse('2026-01-02T03:04:05.000Z');

function documentPolicy(extra: Record<string, unknown> = {}): OrgPolicy {
  const parsed = parsePolicyDocument({
    organization: 'acme',
    restricted_images: { enabled: true, allow_official_images: true, allow_verified_publishers: false },
    owners: ['alice', 'olivia'],
    repository_allowlist: ['mlrun/mlrun', 'bitnami/redis:7', 'someoss/*'],
    registry_allowlist: ['docker.io', 'ghcr.io'],
    ...extra,
  });
  if (!parsed.ok) throw new Error(parsed.error);
  return parsed.policy;
}

const STATUS: PolicyStatus = {
  source: 'file:/etc/ia/policy.json',
  organization: 'acme',
  fetchedAt: NOW - 60_000,
  user: 'bob',
  identitySource: 'docker-config',
  lookedIn: '/root/.docker/config.json',
  policy: documentPolicy(),
};

const event = (image: string, decision: DecisionEvent['decision'], user?: string): DecisionEvent => ({
  time: NOW,
  image,
  category: 'community',
  decision,
  rule: 'category-not-allowed',
  reason: 'r',
  ...(user === undefined ? {} : { user }),
  mode: 'enforce',
  latencyMs: 1,
});

describe('RecentDenials', () => {
  test(`keeps denials and would-be denials, newest first, at most ${RECENT_DENIALS_KEPT}; allowed pulls are not kept`, () => {
    const denials = new RecentDenials();
    denials.decided(event('docker.io/library/alpine:latest', 'allow'));
    for (let i = 0; i < RECENT_DENIALS_KEPT + 5; i++) denials.decided(event(`docker.io/someone/app:${i}`, i % 2 === 0 ? 'deny' : 'warn', 'bob'));
    const list = denials.list();
    expect(list).toHaveLength(RECENT_DENIALS_KEPT);
    expect(list[0]).toEqual({ time: NOW, image: `docker.io/someone/app:${RECENT_DENIALS_KEPT + 4}`, decision: 'deny', rule: 'category-not-allowed', user: 'bob' });
    expect(list.some((d) => d.image.includes('alpine'))).toBe(false);
  });
});

describe('summarizePolicy', () => {
  test('organization, what members may pull, owners count, normalised allowlists, who is signed in, recent denials', () => {
    const summary = summarizePolicy(STATUS, [{ time: NOW, image: 'docker.io/someone/app:1.0', decision: 'deny', rule: 'category-not-allowed' }]);
    expect(policySummarySchema.parse(summary)).toEqual({
      organization: 'acme',
      unavailable: null,
      source: 'file:/etc/ia/policy.json',
      note: null,
      fetchedAt: '2026-01-02T03:03:05.000Z',
      stale: null,
      imageAccessManagement: true,
      allowed: [
        'images outside Docker Hub (other registries are not governed by Image Access Management)',
        "the organization's own images (acme/...)",
        'Docker Official Images',
        'the repositories in the repository allowlist',
        "everything, for the organization's owners",
      ],
      ownersCount: 2,
      repositoryAllowlist: ['docker.io/mlrun/mlrun', 'docker.io/bitnami/redis:7', 'docker.io/someoss/*'],
      registryAllowlist: ['docker.io', 'ghcr.io'],
      signedIn: { user: 'bob', source: 'docker-config', lookedIn: '/root/.docker/config.json' },
      recentDenials: [{ time: '2026-01-02T03:04:05.000Z', image: 'docker.io/someone/app:1.0', decision: 'deny', rule: 'category-not-allowed', user: null }],
    });
  });

  test('Image Access Management off; the Hub source does not count owners; no policy at all', () => {
    const off = summarizePolicy({ ...STATUS, source: 'hub', policy: documentPolicy({ restricted_images: { enabled: false } }) }, []);
    expect(off).toMatchObject({ imageAccessManagement: false, allowed: ['every Docker Hub image (Image Access Management is off)'], ownersCount: null });
    const none = summarizePolicy({ source: 'hub', identitySource: 'none', unavailable: 'Hub down' }, []);
    expect(none).toMatchObject({ organization: null, unavailable: 'Hub down', allowed: [], ownersCount: null, repositoryAllowlist: null });
  });
});

describe('policyPage', () => {
  test('escapes everything it shows: a hostile image name or note cannot become markup', () => {
    const summary = summarizePolicy({ ...STATUS, note: '<b>demo</b>' }, [{ time: NOW, image: 'docker.io/x/"><script>alert(1)</script>', decision: 'deny', rule: 'r' }]);
    const page = policyPage(summary);
    expect(page).not.toContain('<script>');
    expect(page).not.toContain('<b>demo</b>');
    expect(page).toContain(escapeHtml('"><script>alert(1)</script>'));
    expect(page).toContain('&lt;b&gt;demo&lt;/b&gt;');
  });

  test('no external asset: no src, no href, no script', () => {
    const page = policyPage(summarizePolicy(STATUS, []));
    expect(page).not.toMatch(/\bsrc=|\bhref=|<script|<link|@import|url\(/i);
  });
});

describe('the admin listener serves the policy, and `image-access policy` prints it', () => {
  let dir: string;
  let server: Server;
  let listen: AdminListen & { kind: 'unix' };
  let status: PolicyStatus;
  const denials = new RecentDenials();

  beforeAll(async () => {
    dir = mkdtempSync(join(tmpdir(), 'ia-policy-page-'));
    listen = { kind: 'unix', path: join(dir, 'admin.sock') };
    denials.decided(event('docker.io/someone/app:1.0', 'deny', 'bob'));
    server = await startAdminServer(listen, {
      metrics: new PluginMetrics(() => Promise.resolve(status), () => NOW),
      policyStatus: () => Promise.resolve(status),
      explain: () => Promise.resolve({ notJudged: 'unused' }),
      recentDenials: () => denials.list(),
      clock: () => NOW,
      version: '1',
      mode: 'enforce',
      failMode: 'closed',
      startedAt: NOW,
      logger: silentLogger(),
    });
  });
  beforeEach(() => {
    status = STATUS;
  });
  afterAll(async () => {
    await new Promise<void>((resolve) => server.close(() => resolve()));
    rmSync(dir, { recursive: true, force: true });
  });

  const io = (env = { IMAGE_ACCESS_METRICS: listen.path }) => {
    const out: string[] = [];
    const err: string[] = [];
    return { out, err, io: { env, out: (t: string) => out.push(t), err: (t: string) => err.push(t), clock: () => NOW } };
  };

  test('GET / is the page, with a policy that lets nothing load', async () => {
    const page = await fetchFromAdmin(listen, '/');
    expect(page.status).toBe(200);
    expect(page.body).toContain('<h1>Image Access Management: acme</h1>');
    expect(page.body).toContain('docker.io/someone/app:1.0');
  });

  test('`image-access policy` prints the summary; --json prints /policy', async () => {
    const text = io();
    expect(await runPolicy([], text.io)).toBe(0);
    const printed = text.out.join('');
    expect(printed).toContain('Image Access Management policy of organization acme: on');
    expect(printed).toContain('  owners:      2');
    expect(printed).toContain('  repository allowlist: docker.io/mlrun/mlrun, docker.io/bitnami/redis:7, docker.io/someoss/*');
    expect(printed).toContain('  signed in:   bob [docker-config] in /root/.docker/config.json');
    expect(printed).toContain('2026-01-02T03:04:05.000Z DENY docker.io/someone/app:1.0 (category-not-allowed, bob)');
    const json = io();
    expect(await runPolicy(['--json'], json.io)).toBe(0);
    expect(policySummarySchema.parse(JSON.parse(json.out.join('')))).toMatchObject({ organization: 'acme', ownersCount: 2 });
  });

  test('no policy in force: exit 1 saying why; nothing answering: exit 2', async () => {
    status = { source: 'hub', identitySource: 'none', unavailable: 'Hub down' };
    const none = io();
    expect(await runPolicy([], none.io)).toBe(1);
    expect(none.out.join('')).toContain('NO POLICY IN FORCE: Hub down');
    const nobody = io({ IMAGE_ACCESS_METRICS: join(dir, 'nobody.sock') });
    expect(await runPolicy([], nobody.io)).toBe(2);
    expect(nobody.err.join('')).toMatch(/no plugin answers/);
  });
});
