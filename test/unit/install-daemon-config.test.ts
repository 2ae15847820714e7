import { addAuthorizationPlugin, daemonRegistryMirrors, parseDaemonConfig, removeAuthorizationPlugin, renderDaemonConfig, type DaemonConfig } from '../../src/install/daemon-config';

function parsed(text: string | undefined): DaemonConfig {
  const result = parseDaemonConfig(text);
  if (!result.ok) throw new Error(`fixture did not parse: ${result.error}`);
  return result.config;
}

const roundTrip = (text: string | undefined, edit: (config: DaemonConfig) => { config: DaemonConfig; changed: boolean }) => {
  const result = edit(parsed(text));
  return { changed: result.changed, json: JSON.parse(renderDaemonConfig(result.config)) as unknown };
};

const FLEET_CONFIG = `{
  "log-driver": "json-file",
  "log-opts": { "max-size": "10m" },
  "registry-mirrors": ["https://mirror.example"],
  "authorization-plugins": ["opa-docker-authz"],
  "live-restore": true
}`;

describe('daemon.json: adding the plugin', () => {
  test('an absent or empty file becomes a file with only our chain', () => {
    for (const text of [undefined, '', '  \n']) {
      expect(roundTrip(text, (c) => addAuthorizationPlugin(c, 'image-access'))).toEqual({
        changed: true,
        json: { 'authorization-plugins': ['image-access'] },
      });
    }
  });

  test('keeps every other key and value, and appends after plugins already in the chain', () => {
    const { changed, json } = roundTrip(FLEET_CONFIG, (c) => addAuthorizationPlugin(c, 'image-access'));
    expect(changed).toBe(true);
    expect(json).toEqual({
      'log-driver': 'json-file',
      'log-opts': { 'max-size': '10m' },
      'registry-mirrors': ['https://mirror.example'],
      'authorization-plugins': ['opa-docker-authz', 'image-access'],
      'live-restore': true,
    });
  });

  test('keeps the order of keys, so a diff of the file shows only the chain', () => {
    const text = renderDaemonConfig(addAuthorizationPlugin(parsed(FLEET_CONFIG), 'image-access').config);
    expect(Object.keys(JSON.parse(text) as object)).toEqual(['log-driver', 'log-opts', 'registry-mirrors', 'authorization-plugins', 'live-restore']);
  });

  test('is idempotent: a second install changes nothing', () => {
    const once = addAuthorizationPlugin(parsed(undefined), 'acme/image-access:latest').config;
    const twice = addAuthorizationPlugin(once, 'acme/image-access:latest');
    expect(twice.changed).toBe(false);
    expect(twice.config.plugins).toEqual(['acme/image-access:latest']);
  });

  test('uses the spelling the file already has (dockerd matches keys case-insensitively)', () => {
    const { json } = roundTrip('{"Authorization-Plugins":["other"]}', (c) => addAuthorizationPlugin(c, 'image-access'));
    expect(json).toEqual({ 'Authorization-Plugins': ['other', 'image-access'] });
  });
});

describe('daemon.json: removing the plugin', () => {
  test('removes only our name and keeps the rest of the chain and the file', () => {
    const text = FLEET_CONFIG.replace('["opa-docker-authz"]', '["opa-docker-authz", "image-access"]');
    const { changed, json } = roundTrip(text, (c) => removeAuthorizationPlugin(c, 'image-access'));
    expect(changed).toBe(true);
    expect(json).toMatchObject({ 'authorization-plugins': ['opa-docker-authz'], 'live-restore': true, 'log-driver': 'json-file' });
  });

  test('drops the key once the chain is empty', () => {
    expect(roundTrip('{"debug":true,"authorization-plugins":["image-access"]}', (c) => removeAuthorizationPlugin(c, 'image-access'))).toEqual({
      changed: true,
      json: { debug: true },
    });
  });

  test('is idempotent: not listed, or no file at all, changes nothing', () => {
    expect(removeAuthorizationPlugin(parsed(FLEET_CONFIG), 'image-access').changed).toBe(false);
    expect(removeAuthorizationPlugin(parsed(undefined), 'image-access').changed).toBe(false);
  });

  test('install then uninstall gives back the same configuration', () => {
    const original = parsed(FLEET_CONFIG);
    const back = removeAuthorizationPlugin(addAuthorizationPlugin(original, 'image-access').config, 'image-access').config;
    expect(JSON.parse(renderDaemonConfig(back))).toEqual(JSON.parse(FLEET_CONFIG));
  });
});

describe('daemon.json that must not be edited', () => {
  test.each([
    ['malformed JSON', '{"debug": true,', /not valid JSON/],
    ['a trailing comma (dockerd rejects it too)', '{"debug": true,}', /not valid JSON/],
    ['a comment', '// managed by puppet\n{"debug": true}', /not valid JSON/],
    ['a JSON array', '["image-access"]', /not a JSON object/],
    ['a JSON string', '"image-access"', /not a JSON object/],
    ['null', 'null', /not a JSON object/],
    ['a chain that is not a list', '{"authorization-plugins":"image-access"}', /must be a list of plugin names/],
    ['a chain with a non-name', '{"authorization-plugins":["a", 3]}', /must be a list of plugin names/],
    ['the chain spelled twice', '{"authorization-plugins":["a"],"AUTHORIZATION-PLUGINS":["b"]}', /more than once/],
  ])('refuses %s', (_label, text, message) => {
    const result = parseDaemonConfig(text);
    expect(result.ok).toBe(false);
    expect(result.ok ? '' : result.error).toMatch(message);
  });
});

describe("daemon.json's registry mirrors (judged as Docker Hub by the plugin)", () => {
  test.each([
    ['absent file', undefined, []],
    ['no mirrors', '{"debug": true}', []],
    ['the fleet config', FLEET_CONFIG, ['https://mirror.example']],
    ['any spelling, the last one winning as in Go', '{"registry-mirrors": ["https://a"], "Registry-Mirrors": ["https://b"]}', ['https://b']],
  ])('%s', (_name, text, mirrors) => {
    expect(daemonRegistryMirrors(parsed(text))).toStrictEqual(mirrors);
  });

  test('a mirrors value that is not a list of URLs is an error', () => {
    expect(daemonRegistryMirrors(parsed('{"registry-mirrors": "https://a"}'))).toBeInstanceOf(Error);
  });
});
