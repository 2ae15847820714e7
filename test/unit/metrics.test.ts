import { mkdtempSync, rmSync, statSync } from 'node:fs';
import type { Server } from 'node:http';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { silentLogger } from '../../src/audit/logger';
import { runCheck } from '../../src/commands/check';
import type { Explanation, NotJudged } from '../../src/commands/explain';
import { fetchFromAdmin, runStatus } from '../../src/commands/status';
import { loadSettings, SettingsError, type AdminListen } from '../../src/config/settings';
import { startAdminServer } from '../../src/observability/admin-server';
import type { DecisionEvent } from '../../src/observability/events';
import { PluginMetrics } from '../../src/observability/metrics';
import { healthReport, policyStatusProbe, type PolicyStatus } from '../../src/observability/policy-status';
import { REFRESHING } from '../../src/policy/cache';
import { defaultPolicy } from '../../src/policy/default-policy';
import { healthReportSchema, statusReportSchema } from '../../src/observability/status-report';
import { freePort } from '../harness/wait';
import { sample } from '../prometheus-text';

const NOW = Date.parse('2026-01-02T03:04:05.000Z');
const FRESH: PolicyStatus = {
  source: 'file:/etc/ia/policy.json',
  organization: 'acme',
  fetchedAt: NOW - 42_000,
  version: '"v7"',
  user: 'bob',
  identitySource: 'docker-config',
};
const EVENT: DecisionEvent = {
  time: NOW,
  image: 'docker.io/someone/app:1.0',
  category: 'community',
  decision: 'deny',
  rule: 'category-not-allowed',
  reason: 'no',
  mode: 'enforce',
  latencyMs: 0.7,
};

describe('PluginMetrics', () => {
  test('counts decisions by category, result and rule, and times them', async () => {
    const metrics = new PluginMetrics(() => Promise.resolve(FRESH), () => NOW);
    metrics.decided(EVENT);
    metrics.decided(EVENT);
    metrics.decided({ ...EVENT, decision: 'warn', mode: 'warn' });
    metrics.decided({ ...EVENT, category: 'official', decision: 'allow', rule: 'official-allowed', latencyMs: 30 });
    const text = await metrics.exposition();
    expect(sample(text, 'image_access_decisions_total{category="community",decision="deny",rule="category-not-allowed"}')).toBe(2);
    expect(sample(text, 'image_access_decisions_total{category="community",decision="warn",rule="category-not-allowed"}')).toBe(1);
    expect(sample(text, 'image_access_decisions_total{category="official",decision="allow",rule="official-allowed"}')).toBe(1);
    expect(sample(text, 'image_access_decision_duration_seconds_count{decision="deny"}')).toBe(2);
    expect(sample(text, 'image_access_decision_duration_seconds_bucket{le="0.001",decision="deny"}')).toBe(2);
    expect(sample(text, 'image_access_decision_duration_seconds_bucket{le="0.025",decision="allow"}')).toBe(0);
    expect(sample(text, 'image_access_decision_duration_seconds_bucket{le="0.05",decision="allow"}')).toBe(1);
    expect(await metrics.decisionCounts()).toEqual({ allow: 1, deny: 2, warn: 1 });
  });

  test('counts remote calls and cache lookups reported by the policy sources', async () => {
    const metrics = new PluginMetrics(() => Promise.resolve(FRESH), () => NOW);
    metrics.remoteCall('policy-url', 'not-modified', 0.02);
    metrics.remoteCall('policy-url', 'not-modified', 0.02);
    metrics.remoteCall('hub', 'unavailable', 2);
    metrics.cacheLookup('hub badge', 'fresh');
    metrics.cacheLookup('hub badge', 'miss');
    const text = await metrics.exposition();
    expect(sample(text, 'image_access_remote_requests_total{remote="policy-url",outcome="not-modified"}')).toBe(2);
    expect(sample(text, 'image_access_remote_requests_total{remote="hub",outcome="unavailable"}')).toBe(1);
    expect(sample(text, 'image_access_remote_request_duration_seconds_count{remote="hub"}')).toBe(1);
    expect(sample(text, 'image_access_cache_lookups_total{cache="hub badge",result="fresh"}')).toBe(1);
    expect(sample(text, 'image_access_cache_lookups_total{cache="hub badge",result="miss"}')).toBe(1);
  });

  test.each([
    ['fresh', FRESH, { age: 42, available: 1, stale: 0 }],
    ['stale', { ...FRESH, stale: 'GET https://p.example/policy: unavailable' }, { age: 42, available: 1, stale: 1 }],
    ['unavailable', { source: 'hub', identitySource: 'none', unavailable: 'Hub down' }, { age: Number.NaN, available: 0, stale: 0 }],
  ])('policy gauges when the policy is %s', async (_name, status, expected) => {
    const metrics = new PluginMetrics(() => Promise.resolve(status as PolicyStatus), () => NOW);
    const text = await metrics.exposition();
    expect(sample(text, 'image_access_policy_age_seconds')).toBe(expected.age);
    expect(sample(text, 'image_access_policy_available')).toBe(expected.available);
    expect(sample(text, 'image_access_policy_stale')).toBe(expected.stale);
  });
});

describe('healthReport', () => {
  test('ok with a stale policy (still enforced), reporting the refresh error', () => {
    expect(healthReport({ ...FRESH, stale: 'timeout' }, NOW)).toEqual({
      ok: true,
      policySource: 'file:/etc/ia/policy.json',
      organization: 'acme',
      policyAgeSeconds: 42,
      lastRefreshError: 'timeout',
    });
  });

  test('not ok without a policy', () => {
    expect(healthReport({ source: 'hub', identitySource: 'none', unavailable: 'Hub down' }, NOW)).toMatchObject({
      ok: false,
      policyAgeSeconds: null,
      lastRefreshError: 'Hub down',
    });
  });
});

describe('policyStatusProbe', () => {
  const probe = (stale: string | undefined) =>
    policyStatusProbe({
      policySource: {
        describe: 'url:https://policy.example/acme.json',
        policyFor: () => Promise.resolve({ policy: defaultPolicy('acme'), source: 'url:https://policy.example/acme.json', fetchedAt: NOW - 400_000, ...(stale === undefined ? {} : { stale }) }),
        badgeOf: () => Promise.resolve(undefined),
        close: () => undefined,
      },
      identity: { identify: () => Promise.resolve({ source: 'none' }) },
      timeoutMs: 1_000,
      clock: () => NOW,
    })();

  test('a policy past its TTL whose refresh is under way is no failed refresh; a failed refresh is', async () => {
    expect((await probe(REFRESHING)).stale).toBeUndefined();
    expect(healthReport(await probe(REFRESHING), NOW).lastRefreshError).toBeNull();
    expect((await probe('GET https://policy.example/acme.json: HTTP 503')).stale).toBe('GET https://policy.example/acme.json: HTTP 503');
  });
});

describe('IMAGE_ACCESS_METRICS', () => {
  const parse = (value: string) => loadSettings({ IMAGE_ACCESS_METRICS: value }, []).metrics;

  test.each([
    ['', undefined],
    ['127.0.0.1:9323', { kind: 'tcp', host: '127.0.0.1', port: 9323 }],
    ['127.5.6.7:1', { kind: 'tcp', host: '127.5.6.7', port: 1 }],
    ['localhost:9323', { kind: 'tcp', host: '127.0.0.1', port: 9323 }],
    ['[::1]:9323', { kind: 'tcp', host: '::1', port: 9323 }],
    ['/run/image-access/admin.sock', { kind: 'unix', path: '/run/image-access/admin.sock' }],
  ])('%j is accepted', (value, expected) => {
    expect(parse(value)).toEqual(expected);
  });

  test.each(['0.0.0.0:9323', '10.0.0.5:9323', '[::]:9323', 'localhost.evil.com:9323', '127.0.0.1.nip.io:80', '127.0.0.1', '127.0.0.1:0', '127.0.0.1:70000', 'admin.sock', ':9323'])(
    '%j is refused',
    (value) => {
      expect(() => parse(value)).toThrow(SettingsError);
    },
  );

  test('audit rotation settings', () => {
    expect(loadSettings({ IMAGE_ACCESS_AUDIT_MAX_BYTES: '512K', IMAGE_ACCESS_AUDIT_FILES: '0' }, [])).toMatchObject({ auditMaxBytes: 524288, auditFiles: 0 });
    expect(loadSettings({}, [])).toMatchObject({ auditMaxBytes: 10 * 1024 * 1024, auditFiles: 5 });
    expect(() => loadSettings({ IMAGE_ACCESS_AUDIT_MAX_BYTES: '10' }, [])).toThrow(/at least 1KiB/);
    expect(() => loadSettings({ IMAGE_ACCESS_AUDIT_FILES: '-1' }, [])).toThrow(/whole number/);
  });
});

describe('admin listener on loopback TCP', () => {
  test('serves /healthz on the port it is given, and `status` finds it by the same setting', async () => {
    const metrics = new PluginMetrics(() => Promise.resolve(FRESH), () => NOW);
    const deps = { metrics, policyStatus: () => Promise.resolve(FRESH), explain: () => Promise.resolve({ notJudged: 'unused' }), recentDenials: () => [], clock: () => NOW, version: '1', mode: 'enforce' as const, failMode: 'open' as const, startedAt: NOW, logger: silentLogger() };
    // Another process may take a free port before we bind it: try a few.
    let server: Server | undefined;
    let listen: AdminListen | undefined;
    for (let attempt = 0; server === undefined && attempt < 5; attempt++) {
      listen = { kind: 'tcp', host: '127.0.0.1', port: await freePort() };
      server = await startAdminServer(listen, deps).catch(() => undefined);
    }
    try {
      expect(server).toBeDefined();
      const health = await fetchFromAdmin(listen!, '/healthz');
      expect(health.status).toBe(200);
      const out: string[] = [];
      const env = { IMAGE_ACCESS_METRICS: `127.0.0.1:${listen!.kind === 'tcp' ? listen!.port : 0}` };
      expect(await runStatus([], { env, out: (t) => out.push(t), err: () => undefined, clock: () => NOW })).toBe(0);
      expect(out.join('')).toContain('mode enforce, fail mode open');
    } finally {
      await new Promise<void>((resolve) => (server ? server.close(() => resolve()) : resolve()));
    }
  });
});

describe('admin listener and `image-access status`', () => {
  let dir: string;
  let server: Server | undefined;
  let listen: AdminListen;
  let status: PolicyStatus;
  let metrics: PluginMetrics;
  let explained: Explanation | NotJudged;
  const asked: Array<[string, string | undefined]> = [];

  beforeEach(async () => {
    dir = mkdtempSync(join(tmpdir(), 'ia-admin-'));
    listen = { kind: 'unix', path: join(dir, 'admin.sock') };
    status = FRESH;
    metrics = new PluginMetrics(() => Promise.resolve(status), () => NOW);
    server = await startAdminServer(listen, {
      metrics,
      policyStatus: () => Promise.resolve(status),
      explain: (image, user) => {
        asked.push([image, user]);
        return Promise.resolve(explained);
      },
      recentDenials: () => [],
      clock: () => NOW,
      version: '9.9.9',
      mode: 'warn',
      failMode: 'closed',
      startedAt: NOW - 3_600_000,
      logger: silentLogger(),
    });
  });

  afterEach(async () => {
    if (server) await new Promise<void>((resolve) => server!.close(() => resolve()));
    server = undefined;
    rmSync(dir, { recursive: true, force: true });
  });

  test('the unix socket is private to its owner', () => {
    expect(statSync(join(dir, 'admin.sock')).mode & 0o777).toBe(0o600);
  });

  test('/metrics serves the Prometheus text format', async () => {
    metrics.decided(EVENT);
    const reply = await fetchFromAdmin(listen, '/metrics');
    expect(reply.status).toBe(200);
    expect(reply.body).toContain('# TYPE image_access_decisions_total counter');
    expect(sample(reply.body, 'image_access_decisions_total{category="community",decision="deny",rule="category-not-allowed"}')).toBe(1);
    expect(sample(reply.body, 'image_access_policy_age_seconds')).toBe(42);
  });

  test('/healthz is 200 with a policy in force and 503 without one', async () => {
    const healthy = await fetchFromAdmin(listen, '/healthz');
    expect(healthy.status).toBe(200);
    expect(healthReportSchema.parse(JSON.parse(healthy.body))).toMatchObject({ ok: true, policyAgeSeconds: 42 });
    status = { source: 'hub', identitySource: 'none', unavailable: 'Hub down' };
    const sick = await fetchFromAdmin(listen, '/healthz');
    expect(sick.status).toBe(503);
    expect(JSON.parse(sick.body)).toMatchObject({ ok: false, lastRefreshError: 'Hub down' });
  });

  test('/status reports version, mode, identity, policy and counters', async () => {
    metrics.decided({ ...EVENT, decision: 'warn' });
    const reply = await fetchFromAdmin(listen, '/status');
    expect(statusReportSchema.parse(JSON.parse(reply.body))).toEqual({
      version: '9.9.9',
      mode: 'warn',
      failMode: 'closed',
      uptimeSeconds: 3600,
      identity: { user: 'bob', source: 'docker-config' },
      policy: {
        ok: true,
        policySource: 'file:/etc/ia/policy.json',
        organization: 'acme',
        policyAgeSeconds: 42,
        lastRefreshError: null,
        fetchedAt: '2026-01-02T03:03:23.000Z',
        version: '"v7"',
        note: null,
      },
      decisions: { allow: 0, deny: 0, warn: 1 },
    });
  });

  test('`status --json` prints the report as JSON', async () => {
    const run = io();
    expect(await runStatus(['--json'], run.io)).toBe(0);
    expect(statusReportSchema.parse(JSON.parse(run.out.join('')))).toMatchObject({ version: '9.9.9', policy: { policySource: 'file:/etc/ia/policy.json' } });
  });

  describe('`check` asks the running plugin (GET /check)', () => {
    const DENIED: Explanation = {
      allow: false,
      message: 'Image Access Management: docker.io/someone/app:1.0 is a community image [image-access: rule category-not-allowed]',
      decision: { ...EVENT, time: NOW, image: 'docker.io/someone/app:1.0', decision: 'deny', mode: 'enforce', policySource: 'hub', organization: 'acme' },
    };
    beforeEach(() => {
      explained = DENIED;
      asked.length = 0;
    });

    test("prints the plugin's decision, exit 1 for a denial; --user is passed on", async () => {
      const run = io();
      expect(await runCheck(['someone/app:1.0', '--user', 'Bob'], run.io)).toBe(1);
      expect(asked).toEqual([['someone/app:1.0', 'bob']]);
      const text = run.out.join('');
      expect(text).toContain('DENIED: docker.io/someone/app:1.0');
      expect(text).toContain('policy:   hub (organization acme)');
      expect(text).toContain(`the developer would read: ${DENIED.message}`);
    });

    test('--json prints the decision as JSON; an allowed image exits 0', async () => {
      explained = { allow: true, message: '', decision: { ...DENIED.decision, decision: 'allow', rule: 'official-allowed' } };
      const run = io();
      expect(await runCheck(['alpine', '--json'], run.io)).toBe(0);
      expect(JSON.parse(run.out.join(''))).toEqual(explained);
      expect(asked).toEqual([['alpine', undefined]]);
    });

    test('not a pull the plugin judges: exit 2 with its reason', async () => {
      explained = { notJudged: 'image-access: an empty image name' };
      const run = io();
      expect(await runCheck([' '], run.io)).toBe(2);
      expect(run.err.join('')).toContain('is not an image pull the plugin judges: image-access: an empty image name');
    });

    test('a settings flag other than --user is refused without --offline: the plugin judges with its own', async () => {
      const run = io();
      expect(await runCheck(['alpine', '--mode', 'warn'], run.io)).toBe(2);
      expect(run.err.join('')).toContain('--mode applies only with --offline');
      expect(asked).toEqual([]);
    });

    test('no listener configured or none answering: exit 2, pointing at --offline', async () => {
      const unset = io();
      expect(await runCheck(['alpine'], { ...unset.io, env: {} })).toBe(2);
      expect(unset.err.join('')).toMatch(/IMAGE_ACCESS_METRICS.*--offline/);
      const nobody = io();
      expect(await runCheck(['alpine', `--metrics=${join(dir, 'nobody.sock')}`], nobody.io)).toBe(2);
      expect(nobody.err.join('')).toMatch(/no plugin answers on .*nobody\.sock.*--offline/);
    });

    test('GET /check refuses a missing image, a repeated one and a bad user', async () => {
      expect((await fetchFromAdmin(listen, '/check')).status).toBe(400);
      expect((await fetchFromAdmin(listen, '/check?image=a&image=b')).status).toBe(400);
      expect((await fetchFromAdmin(listen, `/check?image=a&user=${encodeURIComponent('a\u0001b')}`)).status).toBe(400);
      expect(asked).toEqual([]);
    });
  });

  test('other paths and methods are 404', async () => {
    expect((await fetchFromAdmin(listen, '/AuthZPlugin.AuthZReq')).status).toBe(404);
  });

  function io() {
    const out: string[] = [];
    const err: string[] = [];
    return { out, err, io: { env: { IMAGE_ACCESS_METRICS: listen.kind === 'unix' ? listen.path : '' }, out: (t: string) => out.push(t), err: (t: string) => err.push(t), clock: () => NOW } };
  }

  test('`status` prints what the plugin reports, exit 0 when a policy is in force', async () => {
    metrics.decided(EVENT);
    metrics.decided({ ...EVENT, decision: 'allow' });
    const run = io();
    expect(await runStatus([], run.io)).toBe(0);
    const text = run.out.join('');
    expect(text).toContain('policy in force, mode warn');
    expect(text).toContain('file:/etc/ia/policy.json (organization acme) version "v7"');
    expect(text).toContain('2026-01-02T03:03:23.000Z (42 s old)');
    expect(text).toContain('bob [docker-config]');
    expect(text).toContain('1 allowed, 1 denied, 0 warned');
    expect(text).not.toContain('note:');
  });

  test('`status` prints why the policy in force is the one in force (the demo policy)', async () => {
    status = { source: 'builtin', organization: 'acme', fetchedAt: NOW, identitySource: 'none', note: 'the demo policy' };
    const run = io();
    expect(await runStatus([], run.io)).toBe(0);
    expect(run.out.join('')).toContain('  note:         the demo policy\n');
  });

  test('`status` exits 1 when the plugin has no policy in force', async () => {
    status = { source: 'hub', identitySource: 'none', unavailable: 'Hub down' };
    const run = io();
    expect(await runStatus([], run.io)).toBe(1);
    expect(run.out.join('')).toContain('NO POLICY IN FORCE');
    expect(run.out.join('')).toContain('refresh error: Hub down');
  });

  test('`status` exits 2 when nothing answers, or when no listener is configured', async () => {
    const nobody = io();
    expect(await runStatus([`--metrics=${join(dir, 'nobody.sock')}`], nobody.io)).toBe(2);
    expect(nobody.err.join('')).toMatch(/no plugin answers on .*nobody\.sock/);
    const unset = io();
    expect(await runStatus([], { ...unset.io, env: {} })).toBe(2);
    expect(unset.err.join('')).toContain('IMAGE_ACCESS_METRICS');
  });
});
