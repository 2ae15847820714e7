import { locatePlugin, parsePluginInspect } from '../../src/install/plugin-socket';

const ID = 'a'.repeat(64);
/** Trimmed from a real `docker plugin inspect` of the managed plugin (dockerd 20.10). */
const inspected = (overrides: Record<string, unknown> = {}) =>
  JSON.stringify([
    {
      Config: { Interface: { Socket: 'image-access.sock', Types: [{ Capability: 'authz', Prefix: 'docker', Version: '1.0' }] }, Mounts: [] },
      Enabled: true,
      Id: ID,
      Name: 'registry.example.com/acme/image-access:0.1.0',
      ...overrides,
    },
  ]);

describe('docker plugin inspect: where a managed plugin listens', () => {
  test('the socket its manifest names, in the directory dockerd gives its id', () => {
    expect(parsePluginInspect(inspected())).toEqual({ kind: 'managed', socket: `/run/docker/plugins/${ID}/image-access.sock`, id: ID, enabled: true });
    expect(parsePluginInspect(inspected({ Enabled: false }))).toMatchObject({ enabled: false });
  });

  test.each([
    ['not JSON', 'Error: No such plugin'],
    ['no plugin', '[]'],
    ['two plugins', `[${inspected().slice(1, -1)},${inspected().slice(1, -1)}]`],
    ['an id that is not one', inspected({ Id: '../../etc' })],
    ['a socket path that leaves its directory', inspected({ Config: { Interface: { Socket: '../../docker.sock' } } })],
    ['no socket', inspected({ Config: { Interface: {} } })],
  ])('%s is not taken for a managed plugin', (_what, output) => {
    expect(parsePluginInspect(output)).toBeInstanceOf(Error);
  });

  test('a plugin dockerd does not know, or no docker at all, is looked for as a legacy plugin, saying why', async () => {
    const location = await locatePlugin('image-access', async () => new Error('Error: No such plugin: image-access'));
    expect(location).toEqual({ kind: 'legacy', socket: '/run/docker/plugins/image-access.sock', why: 'docker plugin inspect: Error: No such plugin: image-access' });
    expect(await locatePlugin('x', async () => inspected())).toMatchObject({ kind: 'managed', id: ID });
  });
});
