import { spawnSync } from 'node:child_process';
import { existsSync, mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';

/**
 * What the plugin loads before its socket listens is start-up time on every boot and every restart of the daemon's
 * plugin: what serves only later (an outbound call, the admin listener, the gateway, another command) is required
 * when first used. Run on the compiled sources (dist/: npx tsc -p tsconfig.json), where each module is its own file.
 */
const CLI = join(__dirname, '..', '..', 'dist', 'cli.js');
const NOT_BEFORE_LISTEN = [
  /\/node_modules\/axios\//,
  /\/node_modules\/express\//,
  /\/node_modules\/prom-client\//,
  /\/node_modules\/@peculiar\//,
  /\/dist\/network\/agents\.js$/,
  /\/dist\/gateway\//,
  /\/dist\/commands\/(check|status|policy|simulate|validate)\.js$/,
  /\/dist\/install\/(commands|gateway-commands|gateway-config|engine-version|daemon-reload|plugin-probe|plugin-socket)\.js$/,
  /\/dist\/observability\/(admin-server|metrics)\.js$/,
  /\/node_modules\/lru-cache\//,
];
/** Node's own modules for what serves only later: calls out, helpers, large bodies, registry names, file reads. */
const BUILTINS_NOT_BEFORE_LISTEN = ['tls', 'https', 'crypto', 'child_process', 'worker_threads', 'dns/promises', 'fs/promises'];

let dir: string;
let preload: string;

beforeAll(() => {
  dir = mkdtempSync(join(tmpdir(), 'ia-startup-modules-'));
  mkdirSync(join(dir, 'docker-config'));
  preload = join(dir, 'at-listen.js');
  // At the unix socket's listen: every module loaded so far, then exit.
  writeFileSync(
    preload,
    `const net = require('node:net');
const listen = net.Server.prototype.listen;
net.Server.prototype.listen = function (...args) {
  if (typeof args[0] === 'string') {
    const builtins = process.moduleLoadList.filter((name) => name.startsWith('NativeModule ')).map((name) => name.slice(13));
    process.stdout.write(JSON.stringify({ modules: Object.keys(require.cache), builtins }) + '\\n');
    process.exit(0);
  }
  return listen.apply(this, args);
};
`,
  );
});
afterAll(() => rmSync(dir, { recursive: true, force: true }));

const POLICIES: Array<[string, Record<string, string>]> = [
  ['the embedded policy', { IMAGE_ACCESS_POLICY: 'builtin' }],
  ['the Hub policy of an organisation', { IMAGE_ACCESS_POLICY: 'hub', IMAGE_ACCESS_ORG: 'acme', IMAGE_ACCESS_HUB_URL: 'http://127.0.0.1:9' }],
  ['auto with an organisation', { IMAGE_ACCESS_ORG: 'acme', IMAGE_ACCESS_HUB_URL: 'http://127.0.0.1:9' }],
  ['a policy URL', { IMAGE_ACCESS_POLICY: 'https://127.0.0.1:9/policy.json' }],
];

describe('modules loaded before the plugin listens', () => {
  test.each(POLICIES)('with %s: nothing that serves only later', (_name, env) => {
    expect(existsSync(CLI)).toBe(true);
    const run = spawnSync(process.execPath, ['-r', preload, CLI, 'run'], {
      encoding: 'utf8',
      timeout: 20_000,
      env: {
        PATH: process.env['PATH'] ?? '',
        IMAGE_ACCESS_SOCKET: join(dir, 'plugin.sock'),
        IMAGE_ACCESS_DOCKER_CONFIG: join(dir, 'docker-config'),
        IMAGE_ACCESS_REGISTRY_JSON: '',
        ...env,
      },
    });
    expect(run.status).toBe(0);
    const loaded = JSON.parse(run.stdout.trim().split('\n').pop()!) as { modules: string[]; builtins: string[] };
    expect(loaded.modules.some((path) => path.endsWith('/dist/run.js'))).toBe(true);
    for (const pattern of NOT_BEFORE_LISTEN) expect(loaded.modules.filter((path) => pattern.test(path))).toEqual([]);
    expect(loaded.builtins).toContain('net');
    expect(loaded.builtins.filter((name) => BUILTINS_NOT_BEFORE_LISTEN.includes(name))).toEqual([]);
  });
});
