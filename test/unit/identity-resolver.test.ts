import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { loadSettings, type IdentitySourceName } from '../../src/config/settings';
import { identityResolver } from '../../src/identity/resolver';
import { authzRequest, basicAuth, capturingLogger, registryAuthHeader, tempDirs } from './identity-fixtures';

const HUB = 'https://index.docker.io/v1/';
const SECRETS = ['header-secret-Pq1', 'config-secret-Wz4'];
const dirs = tempDirs();
afterAll(() => dirs.removeAll());

function resolver(sources: readonly IdentitySourceName[], options: { signedInAs?: string; user?: string } = {}) {
  const dockerConfig = dirs.make();
  if (options.signedInAs !== undefined) {
    writeFileSync(join(dockerConfig, 'config.json'), JSON.stringify({ auths: { [HUB]: { auth: basicAuth(options.signedInAs, SECRETS[1]!) } } }));
  }
  const log = capturingLogger();
  return { log, resolver: identityResolver({ sources, dockerConfig, user: options.user, logger: log.logger, clock: Date.now }) };
}

const ALL: readonly IdentitySourceName[] = ['registry-auth', 'tls', 'docker-config', 'provisioned'];
const header = { 'x-registry-auth': registryAuthHeader({ username: 'hdr', password: SECRETS[0] }) };

describe('identityResolver', () => {
  test('the default order is the one the settings table documents', () => {
    expect(loadSettings({}, []).identitySources).toEqual(ALL);
  });

  test('every source knowing: the first configured wins', async () => {
    const request = authzRequest(header, 'CertUser');
    const everyone = { signedInAs: 'cfg', user: 'fleet' };
    expect(await resolver(ALL, everyone).resolver.identify(request)).toMatchObject({ username: 'hdr', source: 'registry-auth' });
    expect(await resolver(['tls', 'registry-auth'], everyone).resolver.identify(request)).toEqual({ username: 'certuser', source: 'tls', lookedIn: 'the TLS client certificate' });
    expect(await resolver(['docker-config', 'tls'], everyone).resolver.identify(request)).toMatchObject({ username: 'cfg', source: 'docker-config' });
    expect(await resolver(['provisioned', 'docker-config'], everyone).resolver.identify(request)).toEqual({ username: 'fleet', source: 'provisioned', lookedIn: 'IMAGE_ACCESS_USER' });
  });

  test('sources that know nothing are passed over, in order', async () => {
    const { resolver: r } = resolver(ALL, { signedInAs: 'cfg', user: 'fleet' });
    expect(await r.identify(authzRequest())).toMatchObject({ username: 'cfg', source: 'docker-config', lookedIn: expect.stringMatching(/\/config\.json$/) });
    const { resolver: fleetOnly } = resolver(ALL, { user: 'fleet' });
    expect(await fleetOnly.identify(authzRequest())).toEqual({ username: 'fleet', source: 'provisioned', lookedIn: 'IMAGE_ACCESS_USER' });
  });

  test('a source left out of the list is never asked', async () => {
    const { resolver: r } = resolver(['docker-config'], { user: 'fleet' });
    const user = await r.identify(authzRequest(header, 'certuser'));
    expect(user).toEqual({ source: 'none', lookedIn: expect.stringMatching(/^\/.*\/config\.json$/) });
  });

  test('nobody anywhere: signed out', async () => {
    // Every place asked is named, in order: the denial message tells the developer where a sign-in was looked for.
    const user = await resolver(ALL).resolver.identify(authzRequest());
    expect(user.source).toBe('none');
    expect(user.lookedIn).toMatch(/^the X-Registry-Auth header, the TLS client certificate, \/.*\/config\.json$/);
  });

  test("a signed-out header (e30=) is the client's own word and ends the search", async () => {
    const { resolver: r } = resolver(ALL, { signedInAs: 'cfg', user: 'fleet' });
    expect(await r.identify(authzRequest({ 'x-registry-auth': 'e30=' }))).toEqual({ source: 'registry-auth', lookedIn: 'the X-Registry-Auth header' });
  });

  test('a header for another registry defers to the machine sign-in', async () => {
    const { resolver: r } = resolver(ALL, { signedInAs: 'cfg' });
    const other = { 'x-registry-auth': registryAuthHeader({ username: 'x', password: SECRETS[0], serveraddress: 'ghcr.io' }) };
    expect(await r.identify(authzRequest(other))).toMatchObject({ username: 'cfg' });
  });

  test('no secret reaches the log, whichever path is taken', async () => {
    const { resolver: r, log } = resolver(ALL, { signedInAs: 'cfg' });
    await r.identify(authzRequest(header));
    await r.identify(authzRequest({ 'x-registry-auth': Buffer.from(`{"password":"${SECRETS[0]}"`).toString('base64') }));
    await r.identify(authzRequest());
    expect(log.lines().length).toBeGreaterThan(0);
    for (const secret of SECRETS) expect(log.text()).not.toContain(secret);
  });
});

describe('identity settings', () => {
  test.each([
    ['tls,docker-config', ['tls', 'docker-config']],
    [' provisioned , registry-auth ', ['provisioned', 'registry-auth']],
  ])('IMAGE_ACCESS_IDENTITY_SOURCES=%p', (raw, expected) => {
    expect(loadSettings({ IMAGE_ACCESS_IDENTITY_SOURCES: raw }, []).identitySources).toEqual(expected);
  });

  test.each([
    ['tls,ldap', 'unknown identity source "ldap"'],
    ['tls,tls', 'names an identity source twice'],
    [',', 'must name at least one identity source'],
  ])('IMAGE_ACCESS_IDENTITY_SOURCES=%p is refused', (raw, problem) => {
    expect(() => loadSettings({ IMAGE_ACCESS_IDENTITY_SOURCES: raw }, [])).toThrow(problem);
  });

  test('IMAGE_ACCESS_USER is a Docker ID, lowercased; empty means none', () => {
    expect(loadSettings({ IMAGE_ACCESS_USER: 'Alice' }, []).user).toBe('alice');
    expect(loadSettings({}, []).user).toBeUndefined();
    expect(() => loadSettings({ IMAGE_ACCESS_USER: 'a b' }, [])).toThrow('IMAGE_ACCESS_USER');
  });
});
