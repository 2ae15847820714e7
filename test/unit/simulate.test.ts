import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { auditLine } from '../../src/audit/audit-log';
import { runSimulate, auditFiles } from '../../src/commands/simulate';
import { replay, type RecordedPull } from '../../src/decision/replay';
import type { DecisionEvent } from '../../src/observability/events';
import { parsePolicyDocument, type OrgPolicy } from '../../src/policy/policy';

function candidate(document: Record<string, unknown>): OrgPolicy {
  const parsed = parsePolicyDocument({ organization: 'acme', ...document });
  if (!parsed.ok) throw new Error(parsed.error);
  return parsed.policy;
}

const pull = (image: string, decision: RecordedPull['decision'], rule: string, category = 'community', user: string | null = 'bob'): RecordedPull => ({
  image,
  user,
  category,
  decision,
  rule,
});

describe('replay', () => {
  const strict = candidate({ restricted_images: { enabled: true, allow_official_images: true, allow_verified_publishers: false }, owners: ['alice'] });

  test('a stricter policy: a Verified Publisher pull is newly denied; official, own and owner pulls are unchanged', () => {
    const result = replay(
      [
        pull('docker.io/bitnami/redis:7', 'allow', 'verified-publisher-allowed', 'verified_publisher'),
        pull('docker.io/library/alpine:3.20', 'allow', 'official-allowed', 'official'),
        pull('docker.io/acme/app:1', 'allow', 'own-organization', 'organization'),
        pull('docker.io/someone/app:1.0', 'allow', 'owner', 'community', 'alice'),
        pull('docker.io/someone/app:1.0', 'deny', 'category-not-allowed'),
      ],
      strict,
    );
    expect(result).toEqual({
      replayed: 5,
      skipped: 0,
      newlyDenied: [{ image: 'docker.io/bitnami/redis:7', user: 'bob', before: 'verified-publisher-allowed', after: 'category-not-allowed' }],
      newlyAllowed: [],
    });
  });

  test('a looser one: a denied (or warned) community pull newly allowed by an allowlist entry', () => {
    const loose = candidate({ restricted_images: { enabled: true }, repository_allowlist: ['someone/app:1.0'] });
    const result = replay([pull('docker.io/someone/app:1.0', 'warn', 'category-not-allowed'), pull('docker.io/someone/app:2.0', 'deny', 'category-not-allowed')], loose);
    expect(result.newlyAllowed).toEqual([{ image: 'docker.io/someone/app:1.0', user: 'bob', before: 'category-not-allowed', after: 'repository-allowlisted' }]);
    expect(result.newlyDenied).toEqual([]);
  });

  test("the candidate's own badges win over the recorded category", () => {
    const withBadge = candidate({ restricted_images: { enabled: true }, badges: { someone: 'verified_publisher' } });
    expect(replay([pull('docker.io/someone/app:1.0', 'deny', 'category-not-allowed')], withBadge).newlyAllowed).toHaveLength(1);
  });

  test('enforced sign-in stays as it was; activities and odd names are skipped', () => {
    const off = candidate({ restricted_images: { enabled: false } });
    const result = replay(
      [
        pull('docker.io/library/alpine:latest', 'deny', 'sign-in-required', 'official', null),
        pull('load: an archive', 'deny', 'activity-not-allowed'),
        pull('Not A Reference', 'deny', 'invalid-reference'),
      ],
      off,
    );
    expect(result).toEqual({ replayed: 1, skipped: 2, newlyDenied: [], newlyAllowed: [] });
  });
});

describe('image-access simulate', () => {
  let dir: string;
  const event = (image: string, decision: DecisionEvent['decision'], rule: DecisionEvent['rule'], category: DecisionEvent['category'], user?: string): DecisionEvent => ({
    time: 0,
    image,
    category,
    decision,
    rule,
    reason: 'r',
    ...(user === undefined ? {} : { user }),
    identitySource: 'docker-config',
    mode: 'enforce',
    latencyMs: 0,
  });

  beforeEach(() => {
    dir = mkdtempSync(join(tmpdir(), 'ia-simulate-'));
    // Rotated files hold the older records: FILE.2 oldest, then FILE.1, then FILE.
    writeFileSync(join(dir, 'audit.log.2'), auditLine(event('docker.io/bitnami/redis:7', 'allow', 'verified-publisher-allowed', 'verified_publisher', 'bob'), 'h'));
    writeFileSync(
      join(dir, 'audit.log.1'),
      auditLine(event('docker.io/bitnami/redis:7', 'allow', 'verified-publisher-allowed', 'verified_publisher', 'carol'), 'h') + 'not json\n',
    );
    writeFileSync(join(dir, 'audit.log'), auditLine(event('docker.io/library/alpine:latest', 'allow', 'official-allowed', 'official', 'bob'), 'h'));
    writeFileSync(join(dir, 'strict.json'), JSON.stringify({ organization: 'acme', restricted_images: { enabled: true, allow_verified_publishers: false } }));
    writeFileSync(join(dir, 'same.json'), JSON.stringify({ organization: 'acme', restricted_images: { enabled: true } }));
  });
  afterEach(() => rmSync(dir, { recursive: true, force: true }));

  async function simulate(...args: string[]) {
    const out: string[] = [];
    const err: string[] = [];
    const code = await runSimulate(args, { env: {}, out: (t) => out.push(t), err: (t) => err.push(t), clock: () => 0 });
    return { code, out: out.join(''), err: err.join('') };
  }

  test('the rotated files are read too, oldest first', () => {
    const log = join(dir, 'audit.log');
    expect(auditFiles(log)).toEqual([`${log}.2`, `${log}.1`, log]);
  });

  test('prints what a stricter policy would newly deny, counted by image and user; exit 1', async () => {
    const result = await simulate(join(dir, 'strict.json'), '--audit-log', join(dir, 'audit.log'));
    expect(result.code).toBe(1);
    expect(result.out).toContain('on 3 recorded pulls from');
    expect(result.out).toContain('1 unreadable lines skipped');
    expect(result.out).toContain('  newly denied: 2 pulls');
    expect(result.out).toContain('          2  docker.io/bitnami/redis:7');
    expect(result.out).toMatch(/ {10}1 {2}bob\n/);
    expect(result.out).toMatch(/ {10}1 {2}carol\n/);
    expect(result.out).toContain('verified-publisher-allowed -> category-not-allowed');
    expect(result.out).toContain('  newly allowed: none');
  });

  test('nothing would change: exit 0; --json for scripts', async () => {
    const result = await simulate(join(dir, 'same.json'), `--audit-log=${join(dir, 'audit.log')}`, '--json');
    expect(result.code).toBe(0);
    expect(JSON.parse(result.out)).toMatchObject({ organization: 'acme', replayed: 3, skipped: 0, unreadable: 1, newlyDenied: [], newlyAllowed: [] });
  });

  test('a candidate with a typo, a missing audit log or bad arguments: exit 2 saying why', async () => {
    writeFileSync(join(dir, 'typo.json'), JSON.stringify({ organization: 'acme', restricted_images: { enabled: true, allow_oficial_images: false } }));
    const typo = await simulate(join(dir, 'typo.json'), '--audit-log', join(dir, 'audit.log'));
    expect(typo.code).toBe(2);
    expect(typo.err).toContain('did you mean "allow_official_images"?');
    const missing = await simulate(join(dir, 'same.json'), '--audit-log', join(dir, 'nope.log'));
    expect(missing.code).toBe(2);
    expect(missing.err).toContain('no audit log at');
    expect((await simulate(join(dir, 'same.json'))).code).toBe(2);
    expect((await simulate(join(dir, 'same.json'), '--audit-log', 'x', '--loud')).err).toContain('unknown option --loud');
  });
});
