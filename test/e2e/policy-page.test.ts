import { execFile } from 'node:child_process';
import { existsSync, mkdirSync, readFileSync, statSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { freePort, makeTempDir, PLUGIN_CLI, REPO_ROOT, removeTempDir, spawnTracked, startEngine, type Engine } from '../harness';

/**
 * What a member sees of the rules, from a plugin in front of a real dockerd: `image-access policy` and the admin
 * listener's page, rendered by a real headless Chromium (Debian's `chromium`), with a screenshot kept in the test
 * artefacts (IA_TEST_ARTIFACTS, default test-artifacts/ in the repo).
 */
jest.setTimeout(300_000);

const ARTIFACTS = process.env['IA_TEST_ARTIFACTS'] ?? join(REPO_ROOT, 'test-artifacts');
const CHROMIUM = ['/usr/bin/chromium', '/usr/bin/chromium-browser'].find((path) => existsSync(path));

function cli(args: readonly string[], env: Record<string, string>): Promise<{ code: number; stdout: string; stderr: string }> {
  return new Promise((resolve) => {
    execFile(process.execPath, [PLUGIN_CLI, ...args], { cwd: REPO_ROOT, env: { PATH: process.env.PATH ?? '', ...env }, timeout: 30_000 }, (error, stdout, stderr) => {
      resolve({ code: error === null ? 0 : typeof error.code === 'number' ? error.code : -1, stdout, stderr });
    });
  });
}

/** Runs headless Chromium once on `url` (a fresh profile, no network beyond it); resolves with its stdout. */
async function chromium(dir: string, name: string, url: string, ...extra: string[]): Promise<string> {
  if (CHROMIUM === undefined) throw new Error('chromium is missing: run scripts/test-deps.sh (apt-get install chromium)');
  const flags = [
    '--headless',
    '--no-sandbox',
    '--disable-gpu',
    '--no-first-run',
    '--disable-background-networking',
    '--disable-component-update',
    '--disable-sync',
    `--user-data-dir=${join(dir, `${name}-profile`)}`,
  ];
  const browser = spawnTracked(name, CHROMIUM, [...flags, ...extra, url], { logDir: dir });
  const timer = setTimeout(() => void browser.stop(5_000), 90_000);
  const code = await browser.exited;
  clearTimeout(timer);
  if (code !== 0) throw new Error(`chromium exited ${String(code)}: ${readFileSync(browser.stderrPath, 'utf8').slice(-2000)}`);
  return readFileSync(browser.stdoutPath, 'utf8');
}

describe('the policy page and `image-access policy`, from a running plugin in front of a real engine', () => {
  let engine: Engine | undefined;
  let dir: string;
  let url: string;
  let admin: string;

  beforeAll(async () => {
    dir = makeTempDir();
    const policy = join(dir, 'policy.json');
    writeFileSync(
      policy,
      JSON.stringify({
        organization: 'acme',
        restricted_images: { enabled: true, allow_official_images: true, allow_verified_publishers: false },
        owners: ['alice', 'olivia'],
        repository_allowlist: ['mlrun/mlrun', 'bitnami/redis:7', 'someoss/*'],
        admin_contact: '#docker-help',
      }),
    );
    admin = `127.0.0.1:${await freePort()}`;
    url = `http://${admin}/`;
    engine = await startEngine({
      plugin: { env: { IMAGE_ACCESS_POLICY: policy, IMAGE_ACCESS_ORG: 'acme', IMAGE_ACCESS_REQUIRE_SIGNIN: 'off', IMAGE_ACCESS_METRICS: admin, IMAGE_ACCESS_HUB_URL: 'http://127.0.0.1:9' } },
    });
    const denied = await engine.docker(['pull', 'someone/app:1.0']);
    expect(denied.code).not.toBe(0);
  });

  afterAll(async () => {
    await engine?.stop();
    if (dir) removeTempDir(dir);
  });

  it('`image-access policy` prints the rules, who is signed in and the denial just made', async () => {
    const result = await cli(['policy', '--metrics', admin], {});
    expect(result.stderr).toBe('');
    expect(result.code).toBe(0);
    expect(result.stdout).toContain('Image Access Management policy of organization acme: on');
    expect(result.stdout).toContain('    - Docker Official Images');
    expect(result.stdout).not.toContain('Verified Publisher images');
    expect(result.stdout).toContain('  owners:      2');
    expect(result.stdout).toContain('docker.io/bitnami/redis:7');
    expect(result.stdout).toMatch(/signed in: {3}\(nobody\) \[none\] in .*config\.json/);
    expect(result.stdout).toMatch(/DENY docker\.io\/someone\/app:1\.0 \(category-not-allowed\)/);
  });

  it('the page: served without external assets, rendered by headless Chromium, screenshot kept', async () => {
    const reply = await fetch(url);
    expect(reply.status).toBe(200);
    expect(reply.headers.get('content-security-policy')).toContain("default-src 'none'");

    const dom = await chromium(dir, 'chromium-dom', url, '--dump-dom');
    expect(dom).toContain('<h1>Image Access Management: acme</h1>');
    expect(dom).toContain('Owners: 2');
    expect(dom).toContain('docker.io/someoss/*');
    expect(dom).toContain('docker.io/someone/app:1.0');
    expect(dom).toContain('category-not-allowed');

    mkdirSync(ARTIFACTS, { recursive: true });
    const screenshot = join(ARTIFACTS, 'policy-page.png');
    await chromium(dir, 'chromium-shot', url, `--screenshot=${screenshot}`, '--window-size=1000,1300', '--hide-scrollbars');
    const png = readFileSync(screenshot);
    expect(png.subarray(0, 8)).toEqual(Buffer.from([0x89, 0x50, 0x4e, 0x47, 0x0d, 0x0a, 0x1a, 0x0a]));
    expect(statSync(screenshot).size).toBeGreaterThan(10_000);
  });
});
