import { execFileSync } from 'node:child_process';
import { existsSync, mkdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { dockerConfigSource, parseDockerConfig } from '../../src/identity/docker-config';
import { runCredentialHelper } from '../../src/identity/credential-helper';
import { authzRequest, basicAuth, capturingLogger, replaceFile, tempDirs, writeCredentialHelper } from './identity-fixtures';

const HUB = 'https://index.docker.io/v1/';
const SECRET = 'dckr_pat_7yQ-config-secret';
const TOKEN = 'oauth-identity-token-Xq2';
const HELPER_SECRET = 'helper-secret-Lm8';

const dirs = tempDirs();
afterAll(() => dirs.removeAll());

/** A config directory holding `config` as config.json, and a helper directory put first on the helpers' PATH. */
function setup(config?: object) {
  const configDir = dirs.make();
  const binDir = dirs.make();
  if (config !== undefined) writeFileSync(join(configDir, 'config.json'), JSON.stringify(config));
  const log = capturingLogger();
  let now = 1_000_000;
  const source = dockerConfigSource({
    directory: configDir,
    logger: log.logger,
    clock: () => now,
    helper: { timeoutMs: 1_000, searchPath: `${binDir}:${process.env['PATH'] ?? '/usr/bin:/bin'}` },
  });
  const lookup = () => source.lookup(authzRequest());
  return { configDir, binDir, log, lookup, advance: (ms: number) => (now += ms), configPath: join(configDir, 'config.json') };
}

/** A helper that logs each run (and what it was asked) to `<binDir>/calls` and answers with `reply`. */
function helper(binDir: string, name: string, reply: string, exitCode = 0) {
  writeCredentialHelper(binDir, name, `read server\necho "$1 $server" >> "${binDir}/calls"\nprintf '%s' '${reply}'\nexit ${exitCode}`);
  return () => (existsSync(join(binDir, 'calls')) ? readFileSync(join(binDir, 'calls'), 'utf8').trim().split('\n') : []);
}

describe('config.json auths', () => {
  test('auth (base64 user:secret) is the signed-in user, lowercased, with the secret as credential', async () => {
    const { lookup } = setup({ auths: { [HUB]: { auth: basicAuth('Alice', SECRET) } } });
    expect(await lookup()).toEqual({
      source: 'docker-config',
      username: 'alice',
      credential: { kind: 'password', secret: SECRET },
    });
  });

  test('identitytoken with username', async () => {
    const { lookup } = setup({ auths: { [HUB]: { username: 'bob', identitytoken: TOKEN } } });
    expect(await lookup()).toEqual({ source: 'docker-config', username: 'bob', credential: { kind: 'identitytoken', secret: TOKEN } });
  });

  test('a Docker Hub alias as key is found when the CLI key is absent', async () => {
    const { lookup } = setup({ auths: { 'ghcr.io': { auth: basicAuth('other', 'x') }, 'docker.io': { auth: basicAuth('carol', SECRET) } } });
    expect(await lookup()).toMatchObject({ username: 'carol' });
  });

  test.each([
    ['no config.json', undefined],
    ['no auths', {}],
    ['an empty Hub entry (signed out)', { auths: { [HUB]: {} } }],
    ['only another registry', { auths: { 'ghcr.io': { auth: basicAuth('dave', SECRET) } } }],
  ])('%s: nobody, so the next source is asked', async (_case, config) => {
    const { lookup } = setup(config);
    expect(await lookup()).toBeUndefined();
  });

  test.each([
    ['not valid JSON', `{"auths": {"${HUB}": {"auth": "${basicAuth('x', SECRET)}"`],
    ['unexpected shape at auths', JSON.stringify({ auths: [SECRET] })],
    ['Docker Hub entry: "auth" is not base64 user:secret', JSON.stringify({ auths: { [HUB]: { auth: `${SECRET}%%` } } })],
    ['credential helper name is not valid', JSON.stringify({ credsStore: '../../bin/sh' })],
  ])('a config that is %s is ignored with a warning that does not quote it', async (problem, text) => {
    const { configPath, lookup, log } = setup();
    writeFileSync(configPath, text);
    expect(await lookup()).toBeUndefined();
    expect(log.lines()).toContainEqual(expect.objectContaining({ level: 'warn', message: 'Docker config unreadable; ignored', problem }));
    expect(log.text()).not.toContain(SECRET);
  });

  test.each([
    ['a directory', (path: string) => mkdirSync(path)],
    ['a FIFO (reading it would block forever)', (path: string) => execFileSync('mkfifo', [path])],
  ])('%s in place of config.json is refused, not read', async (_what, make) => {
    const { configPath, lookup, log } = setup();
    make(configPath);
    expect(await lookup()).toBeUndefined();
    expect(log.lines()).toContainEqual(expect.objectContaining({ problem: 'not a regular file' }));
  });
});

describe('signing in and out takes effect without a restart', () => {
  test('config.json replaced, rewritten in place and removed', async () => {
    const { configPath, lookup } = setup();
    expect(await lookup()).toBeUndefined();
    replaceFile(configPath, JSON.stringify({ auths: { [HUB]: { auth: basicAuth('alice', SECRET) } } }));
    expect(await lookup()).toMatchObject({ username: 'alice' });
    replaceFile(configPath, JSON.stringify({ auths: { [HUB]: { auth: basicAuth('bob', SECRET) } } }));
    expect(await lookup()).toMatchObject({ username: 'bob' });
    writeFileSync(configPath, JSON.stringify({ auths: {} }));
    expect(await lookup()).toBeUndefined();
    writeFileSync(configPath, JSON.stringify({ auths: { [HUB]: { auth: basicAuth('carol', SECRET) } } }));
    expect(await lookup()).toMatchObject({ username: 'carol' });
    rmSync(configPath);
    expect(await lookup()).toBeUndefined();
  });

  test('an unchanged file is read once, however many lookups', async () => {
    const { configPath, lookup, log } = setup({ auths: { [HUB]: { auth: basicAuth('alice', SECRET) } } });
    await Promise.all(Array.from({ length: 50 }, lookup));
    await lookup();
    expect(log.lines().filter((line) => line['message'] === 'Docker sign-in read')).toHaveLength(1);
    expect(existsSync(configPath)).toBe(true);
  });
});

describe('credential helpers', () => {
  test('credsStore: docker-credential-<name> get, asked for the Hub URL on stdin', async () => {
    const { binDir, lookup } = setup({ auths: { [HUB]: {} }, credsStore: 'teststore' });
    const calls = helper(binDir, 'teststore', JSON.stringify({ ServerURL: HUB, Username: 'Frank', Secret: HELPER_SECRET }));
    expect(await lookup()).toEqual({ source: 'docker-config', username: 'frank', credential: { kind: 'password', secret: HELPER_SECRET } });
    expect(calls()).toEqual([`get ${HUB}`]);
  });

  test('credHelpers for Docker Hub wins over credsStore and over an inline auth', async () => {
    const { binDir, lookup } = setup({
      auths: { [HUB]: { auth: basicAuth('inline', SECRET) } },
      credsStore: 'general',
      credHelpers: { [HUB]: 'hubonly', 'ghcr.io': 'general' },
    });
    helper(binDir, 'general', JSON.stringify({ ServerURL: HUB, Username: 'wrong', Secret: 'x' }));
    helper(binDir, 'hubonly', JSON.stringify({ ServerURL: HUB, Username: 'grace', Secret: HELPER_SECRET }));
    expect(await lookup()).toMatchObject({ username: 'grace' });
  });

  test('Username <token> means the Secret is an identity token, and the username is unknown', async () => {
    const { binDir, lookup } = setup({ credsStore: 'tok' });
    helper(binDir, 'tok', JSON.stringify({ ServerURL: HUB, Username: '<token>', Secret: TOKEN }));
    expect(await lookup()).toEqual({ source: 'docker-config', credential: { kind: 'identitytoken', secret: TOKEN } });
  });

  test('credentials not found: nobody signed in', async () => {
    const { binDir, lookup, log } = setup({ credsStore: 'empty' });
    helper(binDir, 'empty', 'credentials not found in native keychain', 1);
    expect(await lookup()).toBeUndefined();
    expect(log.lines().filter((line) => line['level'] === 'warn')).toEqual([]);
  });

  test.each([
    ['docker-credential-absent not found on PATH', 'absent', undefined],
    ['docker-credential-broken exited with code 3', 'broken', ['oops', 3]],
    ['docker-credential-garbage replied with something other than {ServerURL, Username, Secret}', 'garbage', [`{"Secret":"${HELPER_SECRET}"`, 0]],
  ] as const)('a failing helper is logged (%s) and defers to the next source', async (problem, name, behaviour) => {
    const { binDir, lookup, log } = setup({ credsStore: name });
    if (behaviour !== undefined) helper(binDir, name, behaviour[0], behaviour[1]);
    expect(await lookup()).toBeUndefined();
    expect(log.lines()).toContainEqual(
      expect.objectContaining({ level: 'warn', message: 'credential helper failed; Docker sign-in unknown', helper: name, problem }),
    );
    expect(log.text()).not.toContain(HELPER_SECRET);
  });

  test('answers are kept briefly: a burst of pulls runs the helper once', async () => {
    const { binDir, lookup, advance } = setup({ credsStore: 'counted' });
    const calls = helper(binDir, 'counted', JSON.stringify({ ServerURL: HUB, Username: 'heidi', Secret: HELPER_SECRET }));
    const users = await Promise.all(Array.from({ length: 20 }, lookup));
    expect(users.every((user) => user?.username === 'heidi')).toBe(true);
    expect(calls()).toHaveLength(1);
    advance(9_000);
    await lookup();
    expect(calls()).toHaveLength(1);
    advance(2_000);
    await lookup();
    expect(calls()).toHaveLength(2);
  });

  test('a change to config.json (docker login / logout) drops the kept answer at once', async () => {
    const { binDir, configPath, lookup } = setup({ credsStore: 'switch' });
    helper(binDir, 'switch', JSON.stringify({ ServerURL: HUB, Username: 'ivan', Secret: HELPER_SECRET }));
    expect(await lookup()).toMatchObject({ username: 'ivan' });
    helper(binDir, 'switch', 'credentials not found in native keychain', 1);
    replaceFile(configPath, JSON.stringify({ credsStore: 'switch', auths: {} }));
    expect(await lookup()).toBeUndefined();
  });

  test('a hanging helper is killed, with everything it started, at the deadline', async () => {
    const binDir = dirs.make();
    const pidFile = join(binDir, 'sleeper.pid');
    writeCredentialHelper(binDir, 'hang', `sleep 30 &\necho $! > "${pidFile}"\nwait`);
    const result = await runCredentialHelper('hang', HUB, { timeoutMs: 300, searchPath: `${binDir}:${process.env['PATH'] ?? ''}` });
    expect(result).toEqual({ kind: 'failed', problem: 'docker-credential-hang did not answer within 300 ms' });
    const sleeper = Number(readFileSync(pidFile, 'utf8'));
    // Gone, or a zombie waiting for a reaper: either way no longer running.
    const alive = () => {
      try {
        return !/^\d+ \(.*\) Z/.test(readFileSync(`/proc/${sleeper}/stat`, 'utf8'));
      } catch {
        return false;
      }
    };
    for (let i = 0; i < 50 && alive(); i++) await new Promise((resolve) => setTimeout(resolve, 20));
    expect(alive()).toBe(false);
  });

  test('a helper that floods its output is stopped', async () => {
    const binDir = dirs.make();
    writeCredentialHelper(binDir, 'flood', 'yes');
    const result = await runCredentialHelper('flood', HUB, { timeoutMs: 5_000, searchPath: `${binDir}:${process.env['PATH'] ?? ''}` });
    expect(result).toEqual({ kind: 'failed', problem: 'docker-credential-flood wrote more than 65536 bytes' });
  });
});

describe('parseDockerConfig', () => {
  test('credHelpers for another registry only does not count for Docker Hub', () => {
    expect(parseDockerConfig(JSON.stringify({ credHelpers: { 'ghcr.io': 'gh' }, auths: { [HUB]: { auth: basicAuth('judy', 'x') } } }))).toMatchObject({
      kind: 'stored',
      user: { username: 'judy' },
    });
  });
});
