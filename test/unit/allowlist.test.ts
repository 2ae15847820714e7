import { decide } from '../../src/decision/decide';
import type { Identity } from '../../src/subject/subject';
import { categorize } from '../../src/decision/category';
import { parseRegistryHost, parseRepositoryPattern } from '../../src/policy/allowlist';
import { parsePolicyDocument, type OrgPolicy } from '../../src/policy/policy';
import { parseReference, type ImageReference } from '../../src/reference/reference';

function ref(text: string): ImageReference {
  const parsed = parseReference(text);
  if (!parsed.ok) throw new Error(parsed.error);
  return parsed.reference;
}

function policyWith(extra: Record<string, unknown>): OrgPolicy {
  const parsed = parsePolicyDocument({
    organization: 'acme',
    restricted_images: { enabled: true, allow_official_images: true, allow_verified_publishers: true },
    owners: ['alice'],
    badges: { bitnami: 'verified_publisher', someoss: 'open_source' },
    ...extra,
  });
  if (!parsed.ok) throw new Error(parsed.error);
  return parsed.policy;
}

const MEMBER: Identity = { username: 'bob', source: 'test' };
const OWNER: Identity = { username: 'alice', source: 'test' };

function judge(policy: OrgPolicy, image: string, identity: Identity = MEMBER) {
  const reference = ref(image);
  const namespace = reference.path.split('/')[0]!;
  return decide({ image: reference, category: categorize(reference, policy.organization, policy.badges.get(namespace)), identity, policy });
}

describe('repository allowlist entries are normalised like docker pull', () => {
  test.each([
    ['mlrun/mlrun', { domain: 'docker.io', path: 'mlrun/mlrun', namespace: false }],
    ['index.docker.io/mlrun/mlrun', { domain: 'docker.io', path: 'mlrun/mlrun', namespace: false }],
    ['registry-1.docker.io/mlrun/mlrun', { domain: 'docker.io', path: 'mlrun/mlrun', namespace: false }],
    ['redis', { domain: 'docker.io', path: 'library/redis', namespace: false }],
    // The engine reads `docker.io/acme` as the official image library/acme, and so do we.
    ['docker.io/acme', { domain: 'docker.io', path: 'library/acme', namespace: false }],
    ['docker.io/someone/*', { domain: 'docker.io', path: 'someone', namespace: true }],
    ['someone/*', { domain: 'docker.io', path: 'someone', namespace: true }],
    ['library/*', { domain: 'docker.io', path: 'library', namespace: true }],
    ['bitnami/redis:7', { domain: 'docker.io', path: 'bitnami/redis', namespace: false, tag: '7' }],
    ['index.docker.io/library/redis:7.2-alpine', { domain: 'docker.io', path: 'library/redis', namespace: false, tag: '7.2-alpine' }],
    [`someone/app@sha256:${'a'.repeat(64)}`, { domain: 'docker.io', path: 'someone/app', namespace: false, digest: `sha256:${'a'.repeat(64)}` }],
    // The engine pulls by the digest and ignores a tag written beside it.
    [`someone/app:1.0@sha256:${'a'.repeat(64)}`, { domain: 'docker.io', path: 'someone/app', namespace: false, digest: `sha256:${'a'.repeat(64)}` }],
  ])('%s', (entry, expected) => {
    expect(parseRepositoryPattern(entry)).toEqual({ ok: true, value: expected });
  });

  test.each([
    ['someone/*:1.0', /invalid/],
    ['mlrun/mlrun:', /invalid/],
    ['mlrun/mlrun@sha256:abc', /invalid/],
    ['ghcr.io/someone/tool', /not on Docker Hub/],
    ['Someone/App', /lowercase/],
    ['docker.io/*', /names its namespace/],
    ['*', /invalid/],
    ['someone/app*', /invalid/],
    ['', /at least one component/],
  ])('%s is refused', (entry, message) => {
    const parsed = parseRepositoryPattern(entry);
    expect(parsed.ok).toBe(false);
    if (!parsed.ok) expect(parsed.error).toMatch(message);
  });
});

describe('registry allowlist entries are registry hosts', () => {
  test.each([
    ['ghcr.io', 'ghcr.io'],
    ['GHCR.IO', 'ghcr.io'],
    ['registry.acme.internal:5000', 'registry.acme.internal:5000'],
    ['localhost:5000', 'localhost:5000'],
    ['docker.io', 'docker.io'],
    ['index.docker.io', 'docker.io'],
    ['registry-1.docker.io', 'docker.io'],
  ])('%s -> %s', (entry, host) => {
    expect(parseRegistryHost(entry)).toEqual({ ok: true, value: host });
  });

  test.each(['acme', 'library', 'ghcr.io/acme', 'https://ghcr.io', '', 'bad_host.io'])('%s is refused', (entry) => {
    expect(parseRegistryHost(entry).ok).toBe(false);
  });
});

describe('policy documents with allowlists', () => {
  test('both lists are optional', () => {
    const policy = policyWith({});
    expect(policy.repositoryAllowlist).toBeUndefined();
    expect(policy.registryAllowlist).toBeUndefined();
  });

  test('a bad entry fails the whole document, naming the entry', () => {
    const parsed = parsePolicyDocument({
      organization: 'acme',
      restricted_images: { enabled: true },
      repository_allowlist: ['mlrun/mlrun', 'ghcr.io/x/y'],
    });
    expect(parsed).toEqual({ ok: false, error: expect.stringMatching(/repository_allowlist\.1: "ghcr.io\/x\/y" is not on Docker Hub/) });
  });

  test.each([[{ repository_allowlist: 'mlrun/mlrun' }], [{ registry_allowlist: [42] }]])('wrong types are refused: %j', (extra) => {
    const parsed = parsePolicyDocument({ organization: 'acme', restricted_images: { enabled: true }, ...extra });
    expect(parsed.ok).toBe(false);
  });
});

describe('repository allowlist in the decision', () => {
  const policy = policyWith({ repository_allowlist: ['mlrun/mlrun', 'docker.io/someone/*', 'docker.io/acme'] });

  test.each([
    ['mlrun/mlrun:1.6', true],
    ['index.docker.io/mlrun/mlrun', true],
    ['someone/app:1.0', true],
    ['someone/deeper/path', true],
  ])('%s is allowed as allowlisted', (image) => {
    const decision = judge(policy, image);
    expect(decision).toMatchObject({ allow: true, rule: 'repository-allowlisted', message: '' });
  });

  test.each([
    // Same prefix, different namespace or repository: never admitted.
    'mlrun/mlrun-extra',
    'mlrun/other',
    'someoneelse/app',
    'someone',
    'acmeevil/app',
    'docker.io/acmeevil',
  ])('%s is not admitted by a lookalike entry', (image) => {
    const strict = policyWith({
      restricted_images: { enabled: true, allow_official_images: false, allow_verified_publishers: false },
      repository_allowlist: ['mlrun/mlrun', 'docker.io/someone/*', 'docker.io/acme'],
    });
    const decision = judge(strict, image);
    expect(decision.allow).toBe(false);
    expect(decision.rule).toBe('category-not-allowed');
  });

  test('a Sponsored Open Source image can be allowlisted', () => {
    const withOss = policyWith({ repository_allowlist: ['someoss/tool'] });
    expect(judge(withOss, 'someoss/tool:1')).toMatchObject({ allow: true, category: 'open_source', rule: 'repository-allowlisted' });
    expect(judge(withOss, 'someoss/other:1')).toMatchObject({ allow: false, category: 'open_source' });
  });

  test('does nothing when Image Access Management is off', () => {
    const off = parsePolicyDocument({ organization: 'acme', restricted_images: { enabled: false }, repository_allowlist: ['x/y'] });
    if (!off.ok) throw new Error(off.error);
    expect(judge(off.policy, 'someone/app')).toMatchObject({ allow: true, rule: 'iam-disabled' });
  });
});

describe('repository allowlist entries with a tag or digest', () => {
  const digest = `sha256:${'b'.repeat(64)}`;
  const strict = policyWith({
    restricted_images: { enabled: true, allow_official_images: false, allow_verified_publishers: false },
    repository_allowlist: ['bitnami/redis:7', `someone/app@${digest}`, 'docker.io/library/alpine:3.20'],
  });

  test.each([
    ['bitnami/redis:7'],
    ['index.docker.io/bitnami/redis:7'],
    [`someone/app@${digest}`],
    // The digest decides what is pulled: a tag beside it changes nothing.
    [`someone/app:whatever@${digest}`],
    ['alpine:3.20'],
  ])('%s is allowed by its exact entry', (image) => {
    expect(judge(strict, image)).toMatchObject({ allow: true, rule: 'repository-allowlisted' });
  });

  test.each([
    ['bitnami/redis:7.2', 'another tag'],
    ['bitnami/redis:7-alpine', 'a tag the entry is a prefix of'],
    ['bitnami/redis', 'every tag (docker pull -a)'],
    ['bitnami/redis:latest', 'the default tag'],
    [`bitnami/redis:7@${digest}`, 'the right tag, pinned to content that may be another tag\'s'],
    [`someone/app@sha256:${'c'.repeat(64)}`, 'another digest'],
    ['someone/app:1.0', 'a tag of the digest entry'],
    ['someone/app-other@' + digest, 'the digest in another repository'],
    ['alpine:3.20.1', 'a longer tag'],
  ])('%s is not (%s)', (image) => {
    const decision = judge(strict, image);
    expect(decision.allow).toBe(false);
    expect(decision.rule).toBe('category-not-allowed');
  });
});

describe('registry allowlist in the decision', () => {
  const policy = policyWith({ registry_allowlist: ['ghcr.io', 'index.docker.io'] });

  test.each([
    ['ghcr.io/someone/app:1', 'outside-hub'],
    ['alpine', 'official-allowed'],
    ['docker.io/bitnami/redis', 'verified-publisher-allowed'],
  ])('%s from a listed registry goes on to the other rules (%s)', (image, rule) => {
    expect(judge(policy, image)).toMatchObject({ allow: true, rule });
  });

  test('a community Hub image is still judged by Image Access Management', () => {
    expect(judge(policy, 'someone/app')).toMatchObject({ allow: false, rule: 'category-not-allowed' });
  });

  test.each(['quay.io/someone/app', 'ghcr.io.evil.com/x', 'ghcr.io:5000/x', 'localhost:5000/x'])('%s is denied, owners included', (image) => {
    for (const identity of [MEMBER, OWNER]) {
      const decision = judge(policy, image, identity);
      expect(decision).toMatchObject({ allow: false, rule: 'registry-not-allowed' });
      expect(decision.message).toContain('Registry Access Management');
      expect(decision.message).toContain('ghcr.io, docker.io');
    }
  });

  test('Docker Hub must be listed: without it, even official images are denied', () => {
    const hubless = policyWith({ registry_allowlist: ['ghcr.io'] });
    expect(judge(hubless, 'alpine')).toMatchObject({ allow: false, rule: 'registry-not-allowed', category: 'official' });
    expect(judge(hubless, 'ghcr.io/a/b')).toMatchObject({ allow: true });
  });

  test('an empty list denies every registry', () => {
    const none = policyWith({ registry_allowlist: [] });
    expect(judge(none, 'alpine')).toMatchObject({ allow: false, rule: 'registry-not-allowed' });
    expect(judge(none, 'alpine').message).toContain('no registry');
  });

  test('registry hosts match whatever case the image reference spells them in', () => {
    expect(judge(policy, 'GHCR.io/someone/app')).toMatchObject({ allow: true, rule: 'outside-hub' });
  });
});
