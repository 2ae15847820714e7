import { decodeBase64 } from '../../src/identity/decode';
import { isHubServerAddress } from '../../src/identity/hub-address';
import { readRegistryAuth, registryAuthSource } from '../../src/identity/registry-auth';
import { authzRequest, capturingLogger, registryAuthHeader } from './identity-fixtures';

const SECRET = 'dckr_pat_Zq9-header-secret';

describe('readRegistryAuth', () => {
  test('no header: nothing to say', () => {
    expect(readRegistryAuth(undefined)).toEqual({ kind: 'absent' });
  });

  test.each(['e30=', 'e30', ''])('%p is a signed-out CLI', (value) => {
    expect(readRegistryAuth(value)).toEqual({ kind: 'user', user: { source: 'registry-auth' } });
  });

  test('username and password, base64url as the CLI sends it, username lowercased', () => {
    const header = registryAuthHeader({ username: 'Alice', password: SECRET, serveraddress: 'https://index.docker.io/v1/' });
    expect(readRegistryAuth(header)).toEqual({
      kind: 'user',
      user: { source: 'registry-auth', username: 'alice', credential: { kind: 'password', secret: SECRET } },
    });
  });

  test('standard base64 is accepted too', () => {
    const header = Buffer.from(JSON.stringify({ username: 'bob', password: SECRET })).toString('base64');
    expect(readRegistryAuth(header)).toMatchObject({ kind: 'user', user: { username: 'bob' } });
  });

  test('an identity token is preferred to a password', () => {
    const header = registryAuthHeader({ username: 'bob', password: 'pw', identitytoken: SECRET });
    expect(readRegistryAuth(header)).toMatchObject({ user: { username: 'bob', credential: { kind: 'identitytoken', secret: SECRET } } });
  });

  test('auth (base64 user:secret) fills in username and password; the secret may contain colons', () => {
    const header = registryAuthHeader({ auth: Buffer.from(`carol:${SECRET}:x`).toString('base64') });
    expect(readRegistryAuth(header)).toMatchObject({ user: { username: 'carol', credential: { kind: 'password', secret: `${SECRET}:x` } } });
  });

  test('keys are matched case-insensitively, as the daemon decodes them', () => {
    expect(readRegistryAuth(registryAuthHeader({ Username: 'Dave', PassWord: SECRET }))).toMatchObject({
      user: { username: 'dave', credential: { secret: SECRET } },
    });
  });

  test.each(['https://index.docker.io/v1/', 'docker.io', 'index.docker.io', 'registry-1.docker.io', 'https://registry-1.docker.io', ''])(
    'serveraddress %p is Docker Hub',
    (serveraddress) => {
      expect(readRegistryAuth(registryAuthHeader({ username: 'eve', serveraddress }))).toMatchObject({ kind: 'user', user: { username: 'eve' } });
    },
  );

  test.each(['ghcr.io', 'https://registry.example.com/v2/', 'localhost:5000', 'docker.io.evil.com'])(
    'credentials for %p say nothing about Docker Hub',
    (serveraddress) => {
      expect(readRegistryAuth(registryAuthHeader({ username: 'eve', password: SECRET, serveraddress }))).toEqual({ kind: 'other-registry' });
    },
  );

  test.each([
    ['not base64', `${SECRET}!!`],
    ['not JSON', Buffer.from(`user ${SECRET}`).toString('base64')],
    ['not a JSON object', Buffer.from(JSON.stringify([SECRET])).toString('base64')],
    ['field username is not a string', registryAuthHeader({ username: 5, password: SECRET })],
    ['"auth" is not base64 user:secret', registryAuthHeader({ auth: Buffer.from(SECRET).toString('base64') })],
    ['the username is not a Docker ID', registryAuthHeader({ username: 'a\nb', password: SECRET })],
  ])('unreadable: %s', (problem, header) => {
    const reading = readRegistryAuth(header);
    expect(reading).toEqual({ kind: 'unreadable', problem });
    expect(JSON.stringify(reading)).not.toContain(SECRET);
  });
});

describe('registryAuthSource', () => {
  test('a present header answers; an unreadable one answers signed out and is logged without its value', async () => {
    const log = capturingLogger();
    const source = registryAuthSource(log.logger);
    const garbage = Buffer.from(`{"password":"${SECRET}"`).toString('base64');
    expect(await source.lookup(authzRequest({ 'x-registry-auth': garbage }))).toEqual({ source: 'registry-auth' });
    expect(log.lines()).toEqual([
      expect.objectContaining({ level: 'warn', message: 'X-Registry-Auth header unreadable; treated as signed out', problem: 'not JSON' }),
    ]);
    expect(log.text()).not.toContain(SECRET);
    expect(log.text()).not.toContain(garbage);
  });

  test('no header, or another registry, defers to the next source', async () => {
    const source = registryAuthSource(capturingLogger().logger);
    expect(await source.lookup(authzRequest())).toBeUndefined();
    const other = registryAuthHeader({ username: 'x', password: SECRET, serveraddress: 'ghcr.io' });
    expect(await source.lookup(authzRequest({ 'x-registry-auth': other }))).toBeUndefined();
  });
});

describe('decodeBase64', () => {
  test('standard and URL-safe alphabets, with or without padding', () => {
    expect(decodeBase64('Pz4/Pg==')).toBe('?>?>');
    expect(decodeBase64('Pz4_Pg')).toBe('?>?>');
    expect(decodeBase64('Pz4-')).toBe('?>>');
  });

  test.each(['a', 'ab$c', 'e30=x', '====', 'ab c'])('%p is not base64', (text) => {
    expect(decodeBase64(text)).toBeUndefined();
  });
});

describe('isHubServerAddress', () => {
  test.each([
    ['https://index.docker.io/v1/', true],
    ['INDEX.DOCKER.IO', true],
    ['registry-1.docker.io:443', true],
    ['http://docker.io', true],
    ['hub.docker.com', false],
    ['ghcr.io', false],
    ['', false],
  ])('%p -> %p', (address, hub) => {
    expect(isHubServerAddress(address)).toBe(hub);
  });
});
