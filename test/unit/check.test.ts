import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { runCheck, splitArguments } from '../../src/commands/check';

let dir: string;
let policy: string;
const NOW = Date.parse('2026-01-02T03:04:05.000Z');

beforeAll(() => {
  dir = mkdtempSync(join(tmpdir(), 'ia-check-'));
  policy = join(dir, 'policy.json');
  writeFileSync(
    policy,
    JSON.stringify({
      organization: 'acme',
      restricted_images: { enabled: true, allow_official_images: true, allow_verified_publishers: false },
      owners: ['alice'],
      badges: { bitnami: 'verified_publisher' },
      repository_allowlist: ['mlrun/mlrun'],
    }),
  );
});
afterAll(() => rmSync(dir, { recursive: true, force: true }));

/** Runs `image-access check --offline ARGS` in-process, with nothing from this machine's Docker sign-in or registry.json. */
async function check(...args: string[]) {
  const out: string[] = [];
  const err: string[] = [];
  const env = { IMAGE_ACCESS_POLICY: policy, IMAGE_ACCESS_DOCKER_CONFIG: dir, IMAGE_ACCESS_REGISTRY_JSON: '' };
  const code = await runCheck(['--offline', ...args], { env, out: (t) => out.push(t), err: (t) => err.push(t), clock: () => NOW });
  return { code, out: out.join(''), err: err.join('') };
}

describe('image-access check --offline', () => {
  test('a community image as a member: denied, exit 1, with category, rule, policy and the message', async () => {
    const result = await check('someone/app:1.0', '--user', 'bob');
    expect(result.code).toBe(1);
    expect(result.out).toContain('DENIED: docker.io/someone/app:1.0');
    expect(result.out).toContain('category: community');
    expect(result.out).toContain('rule:     category-not-allowed');
    expect(result.out).toContain('user:     bob [check --user]');
    expect(result.out).toContain(`policy:   file:${policy} (organization acme) version sha256:`);
    expect(result.out).toMatch(/version sha256:[0-9a-f]{16}, fetched 2026-01-02T03:04:05.000Z \(0 s ago\)/);
    expect(result.out).toContain('the developer would read: Image Access Management: docker.io/someone/app:1.0 is a community image');
  });

  test('the same image as an owner: allowed, exit 0', async () => {
    const result = await check('--user=alice', 'someone/app:1.0');
    expect(result.code).toBe(0);
    expect(result.out).toContain('ALLOWED: docker.io/someone/app:1.0');
    expect(result.out).toContain('rule:     owner');
  });

  test.each([
    ['alpine', 'official-allowed', 0],
    ['bitnami/redis', 'category-not-allowed', 1],
    ['mlrun/mlrun:1.6', 'repository-allowlisted', 0],
    ['acme/app', 'own-organization', 0],
    ['ghcr.io/someone/app', 'outside-hub', 0],
    ['someone/App', 'invalid-reference', 1],
  ])('%s: rule %s, exit %d', async (image, rule, code) => {
    const result = await check(image, '--user', 'bob');
    expect(result.code).toBe(code);
    expect(result.out).toContain(`rule:     ${rule}`);
  });

  test('--json: the decision as JSON, the same exit code', async () => {
    const result = await check('someone/app:1.0', '--user', 'bob', '--json');
    expect(result.code).toBe(1);
    expect(JSON.parse(result.out)).toMatchObject({ allow: false, decision: { rule: 'category-not-allowed', user: 'bob', organization: 'acme' } });
  });

  test('settings flags apply: warn mode reports a would-be denial and exits 0', async () => {
    const result = await check('someone/app', '--user', 'bob', '--mode', 'warn');
    expect(result.code).toBe(0);
    expect(result.out).toContain('ALLOWED in warn mode (enforce mode would deny it)');
    expect(result.out).toContain('mode:     warn');
  });

  test('without --user, the configured identity sources decide who is pulling (here: nobody)', async () => {
    const result = await check('someone/app', '--require-signin', 'on');
    expect(result.code).toBe(1);
    expect(result.out).toContain('(nobody signed in)');
    expect(result.out).toContain('rule:     sign-in-required');
  });

  test.each([
    [[], /name exactly one image/],
    [['alpine', 'busybox'], /name exactly one image/],
    [['alpine', '--mode', 'loud'], /IMAGE_ACCESS_MODE/],
    [['alpine', '--no-such-flag'], /unknown option --no-such-flag/],
    [['alpine', '--policy', '/nonexistent/policy.json'], /cannot read policy file/],
  ])('%j is an error: exit 2 with a message', async (args, message) => {
    const result = await check(...args);
    expect(result.code).toBe(2);
    expect(result.err).toMatch(message);
    expect(result.out).toBe('');
  });
});

describe('splitArguments', () => {
  test('separates the image from flags with and without =', () => {
    expect(splitArguments(['--user', 'bob', 'alpine', '--json', '--mode=warn', '--offline', '--policy', '/p'])).toEqual({
      positional: ['alpine'],
      flags: ['--user', 'bob', '--mode=warn', '--policy', '/p'],
      switches: new Set(['--json', '--offline']),
    });
  });
});
