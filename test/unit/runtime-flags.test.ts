import { execFileSync, spawnSync } from 'node:child_process';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { PLUGIN_NODE_FLAGS } from '../harness/plugin';

/**
 * config.json's entrypoint is the one description of how the plugin process starts (README: Runtime settings); every
 * other way it is started as a host process must run node with the same flags.
 */
const REPO = join(__dirname, '..', '..');
const read = (path: string) => readFileSync(join(REPO, path), 'utf8');
const entrypoint = (JSON.parse(read('config.json')) as { entrypoint: string[] }).entrypoint;
const flags = entrypoint.slice(1, -1);

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
});
