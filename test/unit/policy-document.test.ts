import { closestKey, editDistance, parsePolicyDocument, parsePolicyText, restrictedImagesSchema } from '../../src/policy/policy';

const BASE = { organization: 'acme', restricted_images: { enabled: true } };

function error(document: unknown): string {
  const parsed = parsePolicyDocument(document);
  if (parsed.ok) throw new Error('expected the document to be refused');
  return parsed.error;
}

describe('a policy document with an unknown key is refused, naming the key and the closest known one', () => {
  test.each([
    [{ ...BASE, restricted_images: { enabled: true, allow_oficial_images: false } }, 'unknown key "allow_oficial_images" in restricted_images (did you mean "allow_official_images"?)'],
    [{ ...BASE, repository_allowlists: ['x/y'] }, 'unknown key "repository_allowlists" (did you mean "repository_allowlist"?)'],
    [{ ...BASE, badge: { bitnami: 'verified_publisher' } }, 'unknown key "badge" (did you mean "badges"?)'],
    [{ ...BASE, Owners: ['alice'] }, 'unknown key "Owners" (did you mean "owners"?)'],
    [{ ...BASE, restricted_images: { Enabled: true, enabled: true } }, 'unknown key "Enabled" in restricted_images (did you mean "enabled"?)'],
  ])('%j', (document, problem) => {
    expect(error(document)).toBe(`invalid policy document: ${problem}`);
  });

  test('a key like none of them lists the known keys', () => {
    expect(error({ ...BASE, colour: 'blue' })).toBe(
      'invalid policy document: unknown key "colour" (known keys: organization, restricted_images, owners, badges, repository_allowlist, registry_allowlist, admin_contact)',
    );
  });

  test('a very long key is shown cut short', () => {
    const key = 'k'.repeat(10_000);
    const problem = error({ ...BASE, [key]: 1 });
    expect(problem).toContain(`"${'k'.repeat(64)}..."`);
    expect(problem.length).toBeLessThan(300);
  });

  test('from text too (the file and URL sources), and a document with only known keys is accepted', () => {
    expect(parsePolicyText(JSON.stringify({ ...BASE, badge: {} }))).toEqual({ ok: false, error: 'invalid policy document: unknown key "badge" (did you mean "badges"?)' });
    expect(parsePolicyText(JSON.stringify({ ...BASE, owners: [], badges: {}, repository_allowlist: [], registry_allowlist: ['docker.io'] })).ok).toBe(true);
  });
});

test("Docker Hub's settings reply may grow fields: there, unknown keys are ignored", () => {
  expect(restrictedImagesSchema.safeParse({ enabled: true, allow_official_images: false, policy_version: 3 }).success).toBe(true);
});

describe('closestKey', () => {
  test('edit distance counts insertions, deletions and substitutions', () => {
    expect(editDistance('badge', 'badges')).toBe(1);
    expect(editDistance('owners', 'owenrs')).toBe(2);
    expect(editDistance('', 'abc')).toBe(3);
    expect(editDistance('kitten', 'sitting')).toBe(3);
  });

  test('the nearest known key, or none when nothing is near', () => {
    expect(closestKey('registry_alowlist', ['repository_allowlist', 'registry_allowlist'])).toBe('registry_allowlist');
    expect(closestKey('xyz', ['organization', 'owners'])).toBeUndefined();
  });
});
