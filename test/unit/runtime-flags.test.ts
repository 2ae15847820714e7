import { execFileSync, spawnSync } from 'node:child_process';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { SETTINGS } from '../../src/config/settings';
import { PLUGIN_NODE_FLAGS, PLUGIN_RUNTIME_ENV } from '../harness/plugin';

/**
 * config.json's entrypoint is the one description of how the plugin process starts (README: Runtime settings); every
 * other way it is started as a host process must run node with the same flags.
 */
const REPO = join(__dirname, '..', '..');
const read = (path: string) => readFileSync(join(REPO, path), 'utf8');
const manifest = JSON.parse(read('config.json')) as { entrypoint: string[]; env: Array<{ name: string; value: string }> };
const entrypoint = manifest.entrypoint;
const flags = entrypoint.slice(1, -1);

/** Prints how many KiB the main heap ([heap] in smaps) grew by while 200 buffers of 64 KiB are allocated and live. */
const HEAP_GROWTH_OF_64K_BUFFERS = `
const heapKiB = () => Number(/^[0-9a-f]+-[0-9a-f]+ [^\\n]*\\[heap\\]\\n(?:[^\\n]*\\n)*?Rss:\\s+(\\d+)/m.exec(require('fs').readFileSync('/proc/self/smaps', 'utf8'))?.[1] ?? 0);
const before = heapKiB();
globalThis.kept = Array.from({ length: 200 }, () => Buffer.allocUnsafeSlow(64 * 1024).fill(1));
process.stdout.write(String(heapKiB() - before));
`;

describe("the plugin process's node flags", () => {
  test('config.json runs node with flags, then the script', () => {
    expect(entrypoint[0]).toBe('/usr/bin/node');
    expect(flags).toContain('--max-semi-space-size=1');
    expect(flags).toContain('--v8-pool-size=1');
    for (const flag of flags) expect(flag).toMatch(/^--[a-z0-9-]+=\S+$/);
  });

  test('scripts/node-flags.js prints them (make run starts the plugin with its output)', () => {
    expect(execFileSync(process.execPath, [join(REPO, 'scripts', 'node-flags.js')], { encoding: 'utf8' }).trim()).toBe(flags.join(' '));
    expect(read('Makefile')).toMatch(/^run:[^\n]*\n(\t[^\n]*\n)*\tnode \$\$\(node scripts\/node-flags\.js\) bundle\/cli\.js /m);
  });

  test("the systemd unit gives `image-access run` the same flags in NODE_OPTIONS, and node accepts them there", () => {
    const unit = read('plugin/image-access.service');
    expect(unit).toMatch(/^ExecStart=image-access run$/m);
    const options = /^Environment=NODE_OPTIONS=(.*)$/m.exec(unit)?.[1];
    expect(options).toBe(flags.join(' '));
    const run = spawnSync(process.execPath, ['-e', '0'], { env: { ...process.env, NODE_OPTIONS: options }, encoding: 'utf8' });
    expect(run.stderr).toBe('');
    expect(run.status).toBe(0);
  });

  test('the real-engine tests start the plugin with them', () => {
    expect(PLUGIN_NODE_FLAGS).toEqual(flags);
  });

  test('the environment that is not a setting is glibc\'s mmap threshold, the same in the manifest, the systemd unit and the real-engine tests', () => {
    const runtime = manifest.env.filter((entry) => !SETTINGS.some((setting) => setting.env === entry.name));
    expect(runtime.map((entry) => entry.name)).toEqual(['GLIBC_TUNABLES']);
    const tunables = runtime[0]!.value;
    expect(tunables).toMatch(/^glibc\.malloc\.mmap_threshold=\d+$/);
    expect(/^Environment=GLIBC_TUNABLES=(.*)$/m.exec(read('plugin/image-access.service'))?.[1]).toBe(tunables);
    expect(PLUGIN_RUNTIME_ENV).toEqual({ GLIBC_TUNABLES: tunables });
    // glibc takes it: 200 live 64 KiB buffers grow the main heap by 12.8 MiB without it, and not at all with it.
    const heapGrowthKiB = (env: NodeJS.ProcessEnv) => {
      const run = spawnSync(process.execPath, ['-e', HEAP_GROWTH_OF_64K_BUFFERS], { env, encoding: 'utf8' });
      expect(run.stderr).toBe('');
      return Number(run.stdout);
    };
    expect(heapGrowthKiB(process.env)).toBeGreaterThan(10_000);
    expect(heapGrowthKiB({ ...process.env, GLIBC_TUNABLES: tunables })).toBeLessThan(1_000);
  });
});
