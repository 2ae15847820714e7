import { formatReference, parseReference, pullReference } from '../../src/reference/reference';

const SHA = 'sha256:' + 'a'.repeat(64);

/** [input, canonical form] — expectations follow distribution/reference's ParseNormalizedNamed. */
const VALID: ReadonlyArray<readonly [string, string]> = [
  ['alpine', 'docker.io/library/alpine'],
  ['alpine:3.20', 'docker.io/library/alpine:3.20'],
  ['library/alpine', 'docker.io/library/alpine'],
  ['docker.io/alpine', 'docker.io/library/alpine'],
  ['docker.io/library/alpine:latest', 'docker.io/library/alpine:latest'],
  ['index.docker.io/alpine', 'docker.io/library/alpine'],
  ['index.docker.io/someone/app', 'docker.io/someone/app'],
  ['registry-1.docker.io/someone/app:1.0', 'docker.io/someone/app:1.0'],
  ['registry-1.docker.io/redis', 'docker.io/library/redis'],
  ['INDEX.DOCKER.IO/someone/app', 'docker.io/someone/app'],
  ['Registry-1.Docker.IO/someone/app', 'docker.io/someone/app'],
  ['someone/app', 'docker.io/someone/app'],
  ['someone/app:1.0', 'docker.io/someone/app:1.0'],
  ['acme/team/app', 'docker.io/acme/team/app'],
  [`alpine@${SHA}`, `docker.io/library/alpine@${SHA}`],
  [`someone/app:1.0@${SHA}`, `docker.io/someone/app:1.0@${SHA}`],
  ['localhost/app', 'localhost/app'],
  ['localhost:5000/a', 'localhost:5000/a'],
  ['127.0.0.1:5000/library/alpine', '127.0.0.1:5000/library/alpine'],
  ['ghcr.io/owner/repo:v1', 'ghcr.io/owner/repo:v1'],
  ['docker.io.evil.com/x', 'docker.io.evil.com/x'],
  ['evil.com/docker.io/library/alpine', 'evil.com/docker.io/library/alpine'],
  ['[::1]:5000/app', '[::1]:5000/app'],
  ['quay.io/a/b/c/d', 'quay.io/a/b/c/d'],
  ['my-registry.example:443/team/app', 'my-registry.example:443/team/app'],
  ['a__b/c', 'docker.io/a__b/c'],
  ['a--b/c.d_e', 'docker.io/a--b/c.d_e'],
  ['app:_tag', 'docker.io/library/app:_tag'],
  ['app:' + 'x'.repeat(128), 'docker.io/library/app:' + 'x'.repeat(128)],
  ['Foo/bar', 'Foo/bar'],
];

/** [input, part of the error] */
const INVALID: ReadonlyArray<readonly [string, string]> = [
  ['', 'at least one component'],
  ['Alpine', 'must be lowercase'],
  ['someone/App', 'must be lowercase'],
  ['docker.io/Someone/app', 'must be lowercase'],
  ['library/../x', 'invalid repository name'],
  ['../etc/passwd', 'invalid registry'],
  ['someone//app', 'invalid repository name'],
  ['someone/app/', 'invalid repository name'],
  ['/someone/app', 'invalid'],
  ['-app', 'invalid repository name'],
  ['app-', 'invalid repository name'],
  ['a...b', 'invalid repository name'],
  ['app:-tag', 'invalid tag'],
  ['app:.tag', 'invalid tag'],
  ['app:' + 'x'.repeat(129), 'invalid tag'],
  ['app:', 'invalid tag'],
  ['app@sha256:abc', 'invalid digest'],
  ['app@sha256:' + 'A'.repeat(64), 'invalid sha256 digest'],
  ['app@md5:' + 'a'.repeat(32), 'unsupported digest algorithm'],
  ['app@' + 'a'.repeat(64), 'invalid digest'],
  ['a'.repeat(64), 'cannot specify 64-byte hexadecimal strings'],
  ['someone/' + 'a'.repeat(250), 'not be more than 255 characters'],
  ['evil.com:/app', 'invalid registry'],
  ['evil-.com/app', 'invalid registry'],
  ['registry-1.docker.io./someone/app', 'invalid registry'],
  ['some one/app', 'invalid'],
  ['someone/app\n', 'invalid'],
  ['someone/app%2F..', 'invalid'],
];

describe('parseReference', () => {
  test('covers at least 40 references', () => {
    expect(VALID.length + INVALID.length).toBeGreaterThanOrEqual(40);
  });

  test.each(VALID)('%s normalises to %s', (input, canonical) => {
    const parsed = parseReference(input);
    expect(parsed).toMatchObject({ ok: true });
    if (parsed.ok) expect(formatReference(parsed.reference)).toBe(canonical);
  });

  test.each(INVALID)('%j is rejected (%s)', (input, problem) => {
    const parsed = parseReference(input);
    expect(parsed.ok).toBe(false);
    if (!parsed.ok) expect(parsed.error).toContain(problem);
  });

  test('a name of exactly 255 characters is accepted, 256 is not', () => {
    const prefix = 'docker.io/someone/';
    const fits = 'someone/' + 'a'.repeat(255 - prefix.length);
    expect(parseReference(fits).ok).toBe(true);
    expect(parseReference(fits + 'a').ok).toBe(false);
  });
});

describe('pullReference (fromImage + tag of /images/create)', () => {
  test.each([
    ['alpine', 'latest', 'docker.io/library/alpine:latest'],
    ['docker.io/someone/app', '1.0', 'docker.io/someone/app:1.0'],
    ['alpine', SHA, `docker.io/library/alpine@${SHA}`],
    ['alpine:3.1', 'latest', 'docker.io/library/alpine:latest'],
    ['alpine:', '', 'docker.io/library/alpine'],
    ['someone/app', '', 'docker.io/someone/app'],
    ['someone/app:2.0', '', 'docker.io/someone/app:2.0'],
  ])('%s with tag %j pulls %s', (fromImage, tag, expected) => {
    const parsed = pullReference(fromImage, tag);
    expect(parsed).toMatchObject({ ok: true });
    if (parsed.ok) expect(formatReference(parsed.reference)).toBe(expected);
  });

  test.each([
    ['alpine', '-bad'],
    ['alpine', 'sha256:123'],
    ['Alpine', 'latest'],
  ])('%s with tag %j is rejected', (fromImage, tag) => {
    expect(pullReference(fromImage, tag).ok).toBe(false);
  });
});
