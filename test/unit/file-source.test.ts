import { mkdtempSync, rmSync, truncateSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileSource, MAX_POLICY_FILE_BYTES, PolicyFileError } from '../../src/policy/file-source';
import { parsePolicyText } from '../../src/policy/policy';
import { isUnavailable, type PolicySource, type PolicyView } from '../../src/policy/source';
import { captureLog, type CapturedLog } from '../hub/log-capture';

/** IMAGE_ACCESS_POLICY=/path: read at start, read again when the file changes, the last good policy kept on a bad edit. */

const doc = (enabled: boolean, organization = 'acme') =>
  JSON.stringify({ organization, restricted_images: { enabled, allow_official_images: true, allow_verified_publishers: true }, owners: ['olivia'], badges: {} });

let dir: string;
let path: string;
let log: CapturedLog;
let source: PolicySource | undefined;

beforeEach(() => {
  dir = mkdtempSync(join(tmpdir(), 'ia-file-source-'));
  path = join(dir, 'policy.json');
  log = captureLog();
});

afterEach(() => {
  source?.close();
  source = undefined;
  rmSync(dir, { recursive: true, force: true });
});

async function view(): Promise<PolicyView> {
  const result = await source!.policyFor({ source: 'none' });
  if (isUnavailable(result)) throw new Error(`expected a policy, got: ${result.unavailable}`);
  return result;
}

/** The file is polled (fs.watchFile, 1 s): wait, bounded, for the source to show the change. */
async function eventually(check: (v: PolicyView) => boolean): Promise<PolicyView> {
  const deadline = Date.now() + 10_000;
  for (;;) {
    const current = await view();
    if (check(current)) return current;
    if (Date.now() > deadline) return current;
    await new Promise((resolve) => setTimeout(resolve, 100));
  }
}

test('a bad file at start is an error naming it', () => {
  writeFileSync(path, '{"organization": "acme"');
  expect(() => fileSource(path, log.logger, () => 0)).toThrow(PolicyFileError);
  expect(() => fileSource(path, log.logger, () => 0)).toThrow(new RegExp(`^${path}: policy is not valid JSON`));
});

test('a change to the file is enforced without a restart; a bad change keeps the last good policy, marked stale', async () => {
  writeFileSync(path, doc(true));
  source = fileSource(path, log.logger, () => 1_000);
  const first = await view();
  expect(first).toMatchObject({ source: `file:${path}`, policy: { organization: 'acme', restrictedImages: { enabled: true } } });
  expect(first.version).toMatch(/^sha256:[0-9a-f]{16}$/);
  expect(first.stale).toBeUndefined();

  // fs.watchFile takes its first look at the file asynchronously: an edit before it would be its starting point.
  await new Promise((resolve) => setTimeout(resolve, 300));
  writeFileSync(path, doc(false));
  const changed = await eventually((v) => !v.policy.restrictedImages.enabled);
  expect(changed.policy.restrictedImages.enabled).toBe(false);
  expect(changed.version).not.toBe(first.version);
  expect(changed.stale).toBeUndefined();
  expect(log.find('info', 'policy file reloaded')).toHaveLength(1);

  writeFileSync(path, '{"organization": "acme", "restricted_images": {"enabled": "maybe"}}');
  const kept = await eventually((v) => v.stale !== undefined);
  expect(kept.stale).toMatch(/restricted_images\.enabled/);
  expect(kept.policy.restrictedImages.enabled).toBe(false);

  // A typo that would turn Image Access Management back on is refused, naming the key: the last good policy stays.
  writeFileSync(path, '{"organization": "acme", "restricted_images": {"enabled": true}, "badge": {"someone": "verified_publisher"}}');
  const typo = await eventually((v) => v.stale?.includes('"badge"') === true);
  expect(typo.stale).toBe(`${path}: invalid policy document: unknown key "badge" (did you mean "badges"?)`);
  expect(typo.policy.restrictedImages.enabled).toBe(false);
  expect(kept.version).toBe(changed.version);
  expect(log.find('error', 'policy file change rejected; keeping the last good policy')).toHaveLength(2);
}, 30_000);

test('a policy document that leaves out the allow_* switches allows both, as Docker Hub defaults them; owners and badges default to none', () => {
  expect(parsePolicyText('{"organization": "Acme", "restricted_images": {"enabled": true}}')).toStrictEqual({
    ok: true,
    policy: {
      organization: 'acme',
      restrictedImages: { enabled: true, allowOfficialImages: true, allowVerifiedPublishers: true },
      owners: [],
      badges: new Map(),
    },
  });
});

/**
 * A policy file larger than MAX_POLICY_FILE_BYTES is refused without being read: at start (a clear error, at once)
 * and on a change (the last good policy stays). Oversized files are sparse here: 100 MB that take no disk.
 */
const POLICY = doc(true);
const TOO_LARGE = `is larger than ${MAX_POLICY_FILE_BYTES} bytes (the limit for a policy file); refused`;

test('the limit is 1 MiB, as for a policy URL reply', () => {
  expect(MAX_POLICY_FILE_BYTES).toBe(1024 * 1024);
});

test('a file up to the limit is read; one byte more is refused at start with a clear error', () => {
  writeFileSync(path, POLICY.padEnd(MAX_POLICY_FILE_BYTES, ' '));
  source = fileSource(path, log.logger, () => 0);
  source.close();
  writeFileSync(path, POLICY.padEnd(MAX_POLICY_FILE_BYTES + 1, ' '));
  expect(() => fileSource(path, log.logger, () => 0)).toThrow(new PolicyFileError(`${path} ${TOO_LARGE}`));
});

test('a 100 MB file is refused at start', () => {
  writeFileSync(path, POLICY);
  truncateSync(path, 100 * 1024 * 1024);
  expect(() => fileSource(path, log.logger, () => 0)).toThrow(TOO_LARGE);
});

test('a change to a 100 MB file keeps the last good policy, marked stale, and logs why', async () => {
  writeFileSync(path, POLICY);
  source = fileSource(path, log.logger, () => 0);
  const first = await view();
  // fs.watchFile takes its first look at the file asynchronously: an edit before it would be its starting point.
  await new Promise((resolve) => setTimeout(resolve, 300));
  truncateSync(path, 100 * 1024 * 1024);
  const deadline = Date.now() + 10_000;
  while ((await view()).stale === undefined && Date.now() < deadline) await new Promise((resolve) => setTimeout(resolve, 100));
  const kept = await view();
  expect(kept.stale).toBe(`${path} ${TOO_LARGE}`);
  expect(kept.policy).toEqual(first.policy);
  expect(log.find('error', 'policy file change rejected; keeping the last good policy')).toEqual([
    expect.objectContaining({ path, error: `${path} ${TOO_LARGE}` }),
  ]);
});
