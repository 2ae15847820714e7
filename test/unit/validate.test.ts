import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { runValidate } from '../../src/commands/validate';
import type { PluginInspector } from '../../src/install/plugin-socket';

let dir: string;
beforeEach(() => {
  dir = mkdtempSync(join(tmpdir(), 'ia-validate-'));
  writeFileSync(join(dir, 'policy.json'), JSON.stringify({ organization: 'acme', restricted_images: { enabled: true } }));
});
afterEach(() => rmSync(dir, { recursive: true, force: true }));

async function validate(args: string[], env: Record<string, string> = {}, inspect?: PluginInspector) {
  let out = '';
  let err = '';
  const io = { env: { IMAGE_ACCESS_DOCKER_CONFIG: dir, IMAGE_ACCESS_REGISTRY_JSON: '', IMAGE_ACCESS_DAEMON_JSON: '', ...env }, out: (t: string) => (out += t), err: (t: string) => (err += t), clock: () => Date.now() };
  const code = await runValidate(args, io, inspect);
  return { code, out, err };
}

/** A managed plugin whose settings dockerd reports as these. */
const managedPlugin = (env: string[]): PluginInspector => async (name) =>
  name === 'acme/image-access:1' ? JSON.stringify([{ Settings: { Env: env } }]) : new Error(`Error: No such plugin: ${name}`);

describe('image-access validate', () => {
  test('a refused setting: invalid, with the reason the plugin would die of', async () => {
    const result = await validate(['IMAGE_ACCESS_MODE=Warn']);
    expect(result).toEqual({ code: 1, err: '', out: 'INVALID: the plugin would not start:\nIMAGE_ACCESS_MODE (--mode) must be one of enforce, warn; got "Warn"\n' });
  });

  test('valid settings name the policy they get', async () => {
    const result = await validate([`IMAGE_ACCESS_POLICY=${join(dir, 'policy.json')}`, 'IMAGE_ACCESS_ORG=acme']);
    expect(result.code).toBe(0);
    expect(result.out).toContain(`VALID: policy file:${join(dir, 'policy.json')} (organization acme)`);
  });

  test('a policy file it cannot read: the plugin would not start', async () => {
    const result = await validate([`IMAGE_ACCESS_POLICY=${join(dir, 'missing.json')}`, 'IMAGE_ACCESS_ORG=acme']);
    expect(result).toEqual({ code: 1, err: '', out: `INVALID: the plugin would not start:\ncannot read policy file ${join(dir, 'missing.json')}: ENOENT\n` });
  });

  test('valid settings that get no policy (a policy URL nobody answers) are invalid too, saying why', async () => {
    const result = await validate(['IMAGE_ACCESS_POLICY=http://127.0.0.1:1/policy.json', 'IMAGE_ACCESS_DECISION_TIMEOUT=2s']);
    expect(result.code).toBe(1);
    expect(result.out).toMatch(/^INVALID: the settings are valid but no policy can be had \(url:http:\/\/127\.0\.0\.1:1\/policy\.json\): /);
  });

  test('a CA bundle that cannot be read is caught before enabling', async () => {
    const result = await validate([`IMAGE_ACCESS_CA_BUNDLE=${join(dir, 'nope.pem')}`]);
    expect(result.code).toBe(1);
    expect(result.out).toContain('IMAGE_ACCESS_CA_BUNDLE (--ca-bundle) cannot be read: ENOENT');
  });

  test("--plugin NAME checks the managed plugin's own settings, with changes on top as docker plugin set makes them", async () => {
    const inspect = managedPlugin(['IMAGE_ACCESS_ORG=acme', `IMAGE_ACCESS_POLICY=${join(dir, 'policy.json')}`, 'IMAGE_ACCESS_MODE=enforce']);
    // The environment of the shell is not the plugin's: it is not read.
    const asIs = await validate(['--plugin', 'acme/image-access:1'], { IMAGE_ACCESS_MODE: 'bogus' }, inspect);
    expect(asIs.code).toBe(0);
    expect(asIs.out).toContain('mode: enforce');
    const changed = await validate(['--plugin=acme/image-access:1', 'IMAGE_ACCESS_MODE=Warn'], {}, inspect);
    expect(changed.out).toContain('IMAGE_ACCESS_MODE (--mode) must be one of enforce, warn; got "Warn"');
    expect(changed.code).toBe(1);
    const unknown = await validate(['--plugin', 'other'], {}, inspect);
    expect(unknown).toMatchObject({ code: 2, err: 'image-access validate: cannot read the settings of managed plugin other: Error: No such plugin: other\n' });
  });

  test('words that are not KEY=VALUE are an error, not ignored', async () => {
    expect(await validate(['warn'])).toMatchObject({ code: 2, err: 'image-access validate: expected KEY=VALUE, got "warn"\n' });
    expect(await validate(['--plugin'])).toMatchObject({ code: 2 });
  });
});
