import { rmSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { loadSettings, type RequireSignIn } from '../../src/config/settings';
import { organizationResolver, signInRequired } from '../../src/identity/organization';
import { capturingLogger, replaceFile, tempDirs } from './identity-fixtures';

const dirs = tempDirs();
afterAll(() => dirs.removeAll());

function withRegistryJson(content?: string) {
  const path = join(dirs.make(), 'registry.json');
  if (content !== undefined) writeFileSync(path, content);
  const log = capturingLogger();
  return { path, log, resolver: organizationResolver({ org: undefined, registryJson: path, logger: log.logger }) };
}

describe('organizationResolver', () => {
  test('IMAGE_ACCESS_ORG wins; registry.json is not read', async () => {
    const { path } = withRegistryJson('{"allowedOrgs":["other"]}');
    const log = capturingLogger();
    expect(await organizationResolver({ org: 'acme', registryJson: path, logger: log.logger }).current()).toBe('acme');
    expect(log.lines()).toEqual([]);
  });

  test("registry.json's first allowedOrgs entry, lowercased", async () => {
    expect(await withRegistryJson('{"allowedOrgs":["Acme","other"]}').resolver.current()).toBe('acme');
  });

  test.each([
    ['missing', undefined, 'info'],
    ['an empty list', '{"allowedOrgs":[]}', 'info'],
    ['not JSON', '{"allowedOrgs":', 'warn'],
    ['the wrong shape', '{"allowedOrgs":"acme"}', 'warn'],
  ])('registry.json %s: no organisation', async (_case, content, level) => {
    const { resolver, log } = withRegistryJson(content);
    expect(await resolver.current()).toBeUndefined();
    expect(log.lines()).toEqual([expect.objectContaining({ level })]);
  });

  test('no path and no setting: no organisation', async () => {
    expect(await organizationResolver({ org: undefined, registryJson: undefined, logger: capturingLogger().logger }).current()).toBeUndefined();
  });

  test('one organisation per turn of the event loop: the three asks of one pull see one, the next request a change', async () => {
    const { path, resolver } = withRegistryJson('{"allowedOrgs":["first"]}');
    expect(await resolver.current()).toBe('first');
    const asked = resolver.current();
    replaceFile(path, '{"allowedOrgs":["second"]}');
    expect(resolver.current()).toBe(asked);
    expect(asked).toBe('first');
    await Promise.resolve();
    expect(await resolver.current()).toBe('second');
  });

  test('changes to registry.json take effect on the next request', async () => {
    const { path, resolver } = withRegistryJson();
    expect(await resolver.current()).toBeUndefined();
    replaceFile(path, '{"allowedOrgs":["first"]}');
    expect(await resolver.current()).toBe('first');
    replaceFile(path, '{"allowedOrgs":["second"]}');
    expect(await resolver.current()).toBe('second');
    rmSync(path);
    expect(await resolver.current()).toBeUndefined();
  });
});

describe('signInRequired', () => {
  test.each([
    ['on', undefined, true],
    ['on', 'acme', true],
    ['off', 'acme', false],
    ['off', undefined, false],
    ['auto', 'acme', true],
    ['auto', undefined, false],
  ] as const)('%s with organization %p -> %p', (mode: RequireSignIn, org, required) => {
    expect(signInRequired(mode, org)).toBe(required);
  });

  test('settings: auto by default; on, off accepted; anything else refused', () => {
    expect(loadSettings({}, []).requireSignIn).toBe('auto');
    expect(loadSettings({}, ['--require-signin', 'on']).requireSignIn).toBe('on');
    expect(() => loadSettings({ IMAGE_ACCESS_REQUIRE_SIGNIN: 'yes' }, [])).toThrow('IMAGE_ACCESS_REQUIRE_SIGNIN');
  });

  test('settings: registry.json path defaults to the Linux Docker Desktop one; empty disables it', () => {
    expect(loadSettings({}, []).registryJson).toBe('/usr/share/docker-desktop/registry/registry.json');
    expect(loadSettings({ IMAGE_ACCESS_REGISTRY_JSON: '' }, []).registryJson).toBeUndefined();
  });
});
