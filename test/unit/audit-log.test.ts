import { existsSync, mkdirSync, mkdtempSync, readFileSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { silentLogger, type Logger } from '../../src/audit/logger';
import { loadSettings } from '../../src/config/settings';
import { AuditLog, auditLine } from '../../src/audit/audit-log';
import type { DecisionEvent } from '../../src/observability/events';
import { createObservability } from '../../src/observability/observability';
import { createPluginCore } from '../../src/run';
import { pullRequest } from '../../src/commands/explain';
import { captureLog } from '../hub/log-capture';

let dir: string;
beforeEach(() => {
  dir = mkdtempSync(join(tmpdir(), 'ia-audit-'));
});
afterEach(() => rmSync(dir, { recursive: true, force: true }));

const EVENT: DecisionEvent = {
  time: Date.parse('2026-01-02T03:04:05.678Z'),
  image: 'docker.io/someone/app:1.0',
  category: 'community',
  decision: 'deny',
  rule: 'category-not-allowed',
  reason: 'a community image is not allowed by organization "acme"',
  user: 'bob',
  identitySource: 'docker-config',
  organization: 'acme',
  policySource: 'file:/etc/image-access/policy.json',
  policyFetchedAt: Date.parse('2026-01-02T03:00:00.000Z'),
  policyVersion: '"v7"',
  mode: 'enforce',
  latencyMs: 0.41234,
};

const lines = (path: string) => readFileSync(path, 'utf8').split('\n').filter((line) => line !== '').map((line) => JSON.parse(line) as Record<string, unknown>);

describe('audit line', () => {
  test('carries the decision, who, what, which policy and mode, with ISO times', () => {
    expect(JSON.parse(auditLine(EVENT, 'host-1'))).toEqual({
      time: '2026-01-02T03:04:05.678Z',
      host: 'host-1',
      user: 'bob',
      identitySource: 'docker-config',
      organization: 'acme',
      image: 'docker.io/someone/app:1.0',
      category: 'community',
      decision: 'deny',
      rule: 'category-not-allowed',
      reason: 'a community image is not allowed by organization "acme"',
      policySource: 'file:/etc/image-access/policy.json',
      policyFetchedAt: '2026-01-02T03:00:00.000Z',
      policyVersion: '"v7"',
      mode: 'enforce',
      via: 'authz',
      latencyMs: 0.412,
    });
  });

  test('says when the registry gateway saw the image', () => {
    expect(JSON.parse(auditLine({ ...EVENT, via: 'gateway' }, 'h'))).toMatchObject({ image: 'docker.io/someone/app:1.0', via: 'gateway' });
  });

  test('is exactly one line', () => {
    const line = auditLine({ ...EVENT, reason: 'line one\nline two' }, 'h');
    expect(line.endsWith('\n')).toBe(true);
    expect(line.slice(0, -1)).not.toContain('\n');
  });

  test('records nobody and no policy as null, not as missing keys', () => {
    const { user: _user, organization: _org, policySource: _src, policyFetchedAt: _at, policyVersion: _v, ...anonymous } = EVENT;
    const record = JSON.parse(auditLine(anonymous, 'h')) as Record<string, unknown>;
    expect(record).toMatchObject({ user: null, organization: null, policySource: null, policyFetchedAt: null, policyVersion: null });
  });

  test('is the text JSON.stringify gives its fields, as who pulls, the outcome and the policy change and change back', () => {
    const record = (event: DecisionEvent, host: string) => ({
      time: new Date(event.time).toISOString(),
      host,
      user: event.user ?? null,
      identitySource: event.identitySource,
      organization: event.organization ?? null,
      image: event.image,
      category: event.category,
      decision: event.decision,
      rule: event.rule,
      reason: event.reason,
      policySource: event.policySource ?? null,
      policyFetchedAt: event.policyFetchedAt === undefined ? null : new Date(event.policyFetchedAt).toISOString(),
      policyVersion: event.policyVersion ?? null,
      policyStale: event.policyStale,
      mode: event.mode,
      via: event.via ?? 'authz',
      latencyMs: Math.round(event.latencyMs * 1000) / 1000,
    });
    const { identitySource: _source, user: _user, ...signedOut } = EVENT;
    const events: Array<[DecisionEvent, string]> = [
      [EVENT, 'h'],
      [{ ...EVENT, time: EVENT.time + 1, latencyMs: 1.23456 }, 'h'],
      [{ ...EVENT, user: 'alice "the owner"', image: 'docker.io/someone/ünïcode\u2028:1' }, 'h'],
      [signedOut, 'h'],
      [{ ...EVENT, decision: 'allow', rule: 'official-allowed', category: 'official', reason: 'tab\there' }, 'other-host'],
      [{ ...EVENT, policyStale: 'Docker Hub unreachable', policyFetchedAt: EVENT.time - 90_000 }, 'h'],
      [{ ...EVENT, via: 'gateway', mode: 'warn', decision: 'warn' }, 'h'],
      [EVENT, 'h'],
    ];
    for (const [event, host] of events) expect(auditLine(event, host)).toBe(`${JSON.stringify(record(event, host))}\n`);
  });

  test('only names its own fields: anything else an event carries stays out', () => {
    const leaky = { ...EVENT, credential: { kind: 'password', secret: 'dckr_pat_LEAK' } } as DecisionEvent;
    expect(auditLine(leaky, 'h')).not.toContain('dckr_pat_LEAK');
  });
});

describe('AuditLog file', () => {
  test('appends one line per decision to an existing file, mode 0640 when it creates it', () => {
    const path = join(dir, 'audit.log');
    const log = new AuditLog({ path, maxBytes: 1_000_000, keepFiles: 2, host: 'h', logger: silentLogger() });
    log.decided(EVENT);
    log.decided({ ...EVENT, decision: 'allow', rule: 'official-allowed', image: 'docker.io/library/alpine' });
    log.close();
    expect(statSync(path).mode & 0o777).toBe(0o640);
    const reopened = new AuditLog({ path, maxBytes: 1_000_000, keepFiles: 2, host: 'h', logger: silentLogger() });
    reopened.decided({ ...EVENT, decision: 'warn' });
    reopened.close();
    expect(lines(path).map((line) => line.decision)).toEqual(['deny', 'allow', 'warn']);
  });

  test('writes a record of multi-byte characters once and whole, and counts its bytes toward rotation', () => {
    const path = join(dir, 'audit.log');
    const wide = { ...EVENT, image: 'docker.io/someone/ünïcode-名前:1.0' };
    const lineBytes = Buffer.byteLength(auditLine(wide, 'h'));
    const log = new AuditLog({ path, maxBytes: lineBytes * 2, keepFiles: 1, host: 'h', logger: silentLogger() });
    for (let n = 0; n < 3; n++) log.decided(wide);
    log.close();
    expect(readFileSync(`${path}.1`, 'utf8')).toBe(auditLine(wide, 'h').repeat(2));
    expect(readFileSync(path, 'utf8')).toBe(auditLine(wide, 'h'));
  });

  test('rotates by size and keeps only N older files, losing no recent line', () => {
    const path = join(dir, 'audit.log');
    const lineBytes = Buffer.byteLength(auditLine({ ...EVENT, image: 'docker.io/someone/app-000' }, 'h'));
    const maxBytes = lineBytes * 3 + 10; // three lines per file
    const log = new AuditLog({ path, maxBytes, keepFiles: 2, host: 'h', logger: silentLogger() });
    const images = Array.from({ length: 20 }, (_, i) => `docker.io/someone/app-${String(i).padStart(3, '0')}`);
    for (const image of images) log.decided({ ...EVENT, image });
    log.close();
    expect(existsSync(`${path}.1`)).toBe(true);
    expect(existsSync(`${path}.2`)).toBe(true);
    expect(existsSync(`${path}.3`)).toBe(false);
    for (const file of [path, `${path}.1`, `${path}.2`]) expect(statSync(file).size).toBeLessThanOrEqual(maxBytes);
    const kept = [...lines(`${path}.2`), ...lines(`${path}.1`), ...lines(path)].map((line) => line.image);
    // The newest lines, contiguous and in order.
    expect(kept).toEqual(images.slice(images.length - kept.length));
    expect(kept.length).toBeGreaterThanOrEqual(7);
  });

  test('keepFiles 0 keeps just the live file', () => {
    const path = join(dir, 'audit.log');
    const log = new AuditLog({ path, maxBytes: 600, keepFiles: 0, host: 'h', logger: silentLogger() });
    for (let i = 0; i < 10; i++) log.decided(EVENT);
    log.close();
    expect(existsSync(`${path}.1`)).toBe(false);
    expect(statSync(path).size).toBeLessThanOrEqual(600);
    expect(lines(path).length).toBeGreaterThan(0);
  });

  test('a line larger than the limit is still written, alone in its file', () => {
    const path = join(dir, 'audit.log');
    const log = new AuditLog({ path, maxBytes: 100, keepFiles: 1, host: 'h', logger: silentLogger() });
    log.decided(EVENT);
    log.decided({ ...EVENT, decision: 'allow' });
    log.close();
    expect(lines(`${path}.1`).map((line) => line.decision)).toEqual(['deny']);
    expect(lines(path).map((line) => line.decision)).toEqual(['allow']);
  });

  test('a missing directory is created, private to root and its group (a fresh state directory)', () => {
    const path = join(dir, 'state', 'logs', 'audit.log');
    const log = new AuditLog({ path, maxBytes: 1_000_000, keepFiles: 1, host: 'h', logger: silentLogger() });
    log.decided(EVENT);
    log.close();
    expect(lines(path).map((line) => line.decision)).toEqual(['deny']);
    expect(statSync(join(dir, 'state', 'logs')).mode & 0o777).toBe(0o750);
  });

  test('an unwritable location never throws, is reported once, and recovers when it becomes writable', () => {
    // A file where the directory should be: the directory cannot be created.
    writeFileSync(join(dir, 'missing-dir'), '');
    const path = join(dir, 'missing-dir', 'audit.log');
    const captured = captureLog();
    const log = new AuditLog({ path, maxBytes: 1_000_000, keepFiles: 1, host: 'h', logger: captured.logger });
    expect(() => {
      log.decided(EVENT);
      log.decided(EVENT);
    }).not.toThrow();
    expect(captured.lines.filter((entry) => entry.level === 'error')).toHaveLength(1);
    rmSync(join(dir, 'missing-dir'));
    mkdirSync(join(dir, 'missing-dir'));
    log.decided({ ...EVENT, decision: 'warn' });
    log.close();
    expect(lines(path).map((line) => line.decision)).toEqual(['warn']);
    expect(captured.find('warn', 'audit log writable again; records were lost while it was not')).toEqual([
      expect.objectContaining({ path, lostRecords: 2, since: '2026-01-02T03:04:05.678Z' }),
    ]);
  });
});

describe('where the plugin writes its audit log', () => {
  test.each([
    ['audit.log', 'state/audit.log'],
    ['logs/decisions.log', 'state/logs/decisions.log'],
  ])('a relative IMAGE_ACCESS_AUDIT_LOG %s is under IMAGE_ACCESS_STATE_DIR, created on the first decision', async (setting, expected) => {
    const settings = loadSettings({ IMAGE_ACCESS_STATE_DIR: join(dir, 'state'), IMAGE_ACCESS_AUDIT_LOG: setting }, []);
    const observability = createObservability(settings, silentLogger(), () => Date.now());
    for (const observer of observability.observers) observer.decided(EVENT);
    await observability.stop();
    expect(lines(join(dir, expected)).map((line) => line.decision)).toEqual(['deny']);
  });

  test('decisions are audited with an audit log, while it can be written', async () => {
    const without = createObservability(loadSettings({ IMAGE_ACCESS_STATE_DIR: dir }, []), silentLogger(), () => Date.now());
    expect(without.audited()).toBe(false);
    const settings = loadSettings({ IMAGE_ACCESS_STATE_DIR: dir, IMAGE_ACCESS_AUDIT_LOG: 'audit.log' }, []);
    const observability = createObservability(settings, silentLogger(), () => Date.now());
    expect(observability.audited()).toBe(true);
    mkdirSync(join(dir, 'audit.log'));
    for (const observer of observability.observers) observer.decided(EVENT);
    expect(observability.audited()).toBe(false);
    rmSync(join(dir, 'audit.log'), { recursive: true });
    for (const observer of observability.observers) observer.decided(EVENT);
    expect(observability.audited()).toBe(true);
    await observability.stop();
  });

  test('an absolute one is used as it is', async () => {
    const settings = loadSettings({ IMAGE_ACCESS_STATE_DIR: join(dir, 'state'), IMAGE_ACCESS_AUDIT_LOG: join(dir, 'elsewhere.log') }, []);
    const observability = createObservability(settings, silentLogger(), () => Date.now());
    for (const observer of observability.observers) observer.decided(EVENT);
    await observability.stop();
    expect(lines(join(dir, 'elsewhere.log'))).toHaveLength(1);
    expect(existsSync(join(dir, 'state'))).toBe(false);
  });
});

describe('the audit log hangs off the Authorizer', () => {
  function core(env: Record<string, string>, identity?: { username: string; secret: string }, logger: Logger = silentLogger()) {
    const policy = join(dir, 'policy.json');
    writeFileSync(policy, JSON.stringify({ organization: 'acme', restricted_images: { enabled: true }, owners: ['alice'] }));
    const settings = loadSettings(
      {
        IMAGE_ACCESS_POLICY: policy,
        IMAGE_ACCESS_DOCKER_CONFIG: dir,
        IMAGE_ACCESS_REGISTRY_JSON: '',
        IMAGE_ACCESS_REQUIRE_SIGNIN: 'off',
        ...env,
      },
      [],
    );
    const audit = new AuditLog({ path: join(dir, 'audit.log'), maxBytes: 1_000_000, keepFiles: 1, host: 'h', logger });
    const user = identity && { username: identity.username, source: 'test', credential: { kind: 'password' as const, secret: identity.secret } };
    const built = createPluginCore(settings, logger, () => Date.now(), {
      observers: [audit],
      audited: () => audit.recording,
      ...(user ? { identity: { identify: () => Promise.resolve(user) } } : {}),
    });
    return { ...built, audit };
  }

  test('warn mode lets a denied image through, and the audit line says warn', async () => {
    const { authorizer, audit, close } = core({ IMAGE_ACCESS_MODE: 'warn' });
    const reply = await authorizer.authorizeRequest(pullRequest('someone/app:1.0'));
    close();
    audit.close();
    expect(reply.Allow).toBe(true);
    expect(lines(join(dir, 'audit.log'))).toEqual([
      expect.objectContaining({
        image: 'docker.io/someone/app:1.0',
        decision: 'warn',
        rule: 'category-not-allowed',
        mode: 'warn',
        policySource: `file:${join(dir, 'policy.json')}`,
        policyVersion: expect.stringMatching(/^sha256:[0-9a-f]{16}$/),
      }),
    ]);
  });

  test('enforce mode denies and audits deny; requests that are not image decisions are not audited', async () => {
    const { authorizer, audit, close } = core({});
    const denied = await authorizer.authorizeRequest(pullRequest('someone/app:1.0'));
    await authorizer.authorizeRequest({ ...pullRequest('x'), requestMethod: 'GET', requestUri: '/v1.41/containers/json' });
    close();
    audit.close();
    expect(denied.Allow).toBe(false);
    expect(lines(join(dir, 'audit.log')).map((line) => line.decision)).toEqual(['deny']);
  });

  test.each([
    ['an allowed image is logged at debug (its audit line is the record), a denied one at info', {}, 'debug', 'info'],
    ['in warn mode, a would-be denial at warn', { IMAGE_ACCESS_MODE: 'warn' }, 'debug', 'warn'],
  ])('with an audit log, %s', async (_name, env, allowedLevel, deniedLevel) => {
    const captured = captureLog();
    const { authorizer, audit, close } = core(env, undefined, captured.logger);
    await authorizer.authorizeRequest(pullRequest('alpine:latest'));
    await authorizer.authorizeRequest(pullRequest('someone/app:1.0'));
    await Promise.resolve();
    close();
    audit.close();
    expect(lines(join(dir, 'audit.log')).map((line) => line.decision)).toEqual(['allow', deniedLevel === 'warn' ? 'warn' : 'deny']);
    expect(captured.lines.filter((line) => line['message'] === 'image decision').map((line) => [line['image'], line['level']])).toEqual([
      ['docker.io/library/alpine:latest', allowedLevel],
      ['docker.io/someone/app:1.0', deniedLevel],
    ]);
  });

  test('while the audit log cannot be written, an allowed image is logged at info again', async () => {
    mkdirSync(join(dir, 'audit.log'));
    const captured = captureLog();
    const { authorizer, audit, close } = core({}, undefined, captured.logger);
    await authorizer.authorizeRequest(pullRequest('alpine:latest'));
    await Promise.resolve();
    close();
    audit.close();
    expect(captured.find('error', 'cannot write the audit log; decisions go unaudited until it is writable')).toHaveLength(1);
    expect(captured.find('info', 'image decision')).toEqual([expect.objectContaining({ image: 'docker.io/library/alpine:latest', decision: 'allow' })]);
  });

  test("the puller's credential never reaches the audit file", async () => {
    const { authorizer, audit, close } = core({}, { username: 'alice', secret: 'dckr_pat_TOPSECRET' });
    await authorizer.authorizeRequest(pullRequest('someone/app:1.0'));
    close();
    audit.close();
    const text = readFileSync(join(dir, 'audit.log'), 'utf8');
    expect(text).toContain('"user":"alice"');
    expect(text).toContain('"rule":"owner"');
    expect(text).not.toContain('TOPSECRET');
  });
});
