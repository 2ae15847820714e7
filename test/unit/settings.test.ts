import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { flagName, loadSettings, parseDuration, SETTINGS, SettingsError } from '../../src/config/settings';

describe('loadSettings', () => {
  test('defaults work with an empty environment', () => {
    const settings = loadSettings({}, []);
    expect(settings).toMatchObject({
      socket: '/run/docker/plugins/image-access.sock',
      policy: { kind: 'auto' },
      failMode: 'closed',
      mode: 'enforce',
      cacheTtlMs: 300_000,
    });
  });

  test('flags win over the environment, in --flag value and --flag=value forms', () => {
    const settings = loadSettings({ IMAGE_ACCESS_MODE: 'enforce', IMAGE_ACCESS_ORG: 'Env' }, [
      '--mode',
      'warn',
      '--org=Acme',
    ]);
    expect(settings.mode).toBe('warn');
    expect(settings.org).toBe('acme');
  });

  test.each([
    ['/etc/image-access/policy.json', { kind: 'file', path: '/etc/image-access/policy.json' }],
    ['hub', { kind: 'hub' }],
    ['builtin', { kind: 'builtin' }],
    ['auto', { kind: 'auto' }],
    ['', { kind: 'auto' }],
    ['https://policy.example.com/acme.json', { kind: 'url', url: 'https://policy.example.com/acme.json' }],
    ['http://127.0.0.1:8080/p.json', { kind: 'url', url: 'http://127.0.0.1:8080/p.json' }],
  ])('policy %s', (raw, location) => {
    expect(loadSettings({ IMAGE_ACCESS_POLICY: raw }, []).policy).toEqual(location);
  });

  test('every problem is reported at once, naming the variable and the flag', () => {
    let error: unknown;
    try {
      loadSettings({ IMAGE_ACCESS_FAIL_MODE: 'maybe', IMAGE_ACCESS_POLICY: 'http://policy.example.com/p' }, ['--bogus']);
    } catch (caught) {
      error = caught;
    }
    expect(error).toBeInstanceOf(SettingsError);
    const message = (error as Error).message;
    expect(message).toContain('unknown option --bogus');
    expect(message).toContain('IMAGE_ACCESS_FAIL_MODE (--fail-mode) must be one of closed, open; got "maybe"');
    expect(message).toContain('IMAGE_ACCESS_POLICY (--policy) must be an https URL');
  });

  test('the state directory defaults to /var/lib/image-access and must be absolute', () => {
    expect(loadSettings({}, []).stateDir).toBe('/var/lib/image-access');
    expect(loadSettings({}, ['--state-dir', '/srv/ia']).stateDir).toBe('/srv/ia');
    expect(() => loadSettings({ IMAGE_ACCESS_STATE_DIR: 'state' }, [])).toThrow('IMAGE_ACCESS_STATE_DIR (--state-dir) must be an absolute path');
  });

  test('a flag without a value is an error', () => {
    expect(() => loadSettings({}, ['--mode'])).toThrow('--mode needs a value');
  });

  test.each([
    ['300', 300_000],
    ['30s', 30_000],
    ['5m', 300_000],
    ['1h', 3_600_000],
    ['250ms', 250],
  ])('duration %s is %d ms', (raw, ms) => {
    expect(parseDuration(raw)).toBe(ms);
  });

  test.each(['', '-1', '5d', '1.5m', 'abc'])('duration %j is refused', (raw) => {
    expect(parseDuration(raw)).toBeInstanceOf(Error);
  });
});

describe('managed-plugin manifest (config.json)', () => {
  const manifest = JSON.parse(readFileSync(join(__dirname, '../../config.json'), 'utf8')) as {
    interface: { types: string[]; socket: string };
    network: { type: string };
    env: Array<{ name: string; settable: string[]; value: string }>;
  };

  test('declares an authz plugin on image-access.sock with host networking', () => {
    expect(manifest.interface).toEqual({ types: ['docker.authz/1.0'], socket: 'image-access.sock' });
    expect(manifest.network.type).toBe('host');
  });

  test('every setting is a settable env entry with its default (run scripts/sync-manifest-env.js)', () => {
    // The entries after them are the process environment that is not a setting (runtime-flags.test.ts).
    expect(manifest.env.filter((e) => SETTINGS.some((s) => s.env === e.name)).map((e) => [e.name, e.value, e.settable])).toEqual(
      SETTINGS.map((s) => [s.env, 'managedDefault' in s ? s.managedDefault : s.default, ['value']]),
    );
  });

  test('every setting has a distinct flag', () => {
    const flags = SETTINGS.map((s) => flagName(s.env));
    expect(new Set(flags).size).toBe(flags.length);
  });
});
