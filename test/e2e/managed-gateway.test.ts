import { spawnSync } from 'node:child_process';
import { existsSync, mkdtempSync, readdirSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import {
  buildxBuild,
  classicBuild,
  ENGINE,
  freePort,
  MANAGED_SCRIPT,
  PLUGIN_CLI,
  REPO_ROOT,
  removeTempDir,
  seedImages,
  startDaemon,
  startRegistry,
  waitUntil,
  writeBuildContext,
  type Daemon,
  type DockerRunner,
  type Registry,
} from '../harness';

/**
 * README's registry-gateway install on a managed plugin, step by step on the real engine: the plugin runs the gateway
 * on the host network with its CA in the state directory on the host's /var/lib; `image-access install --gateway`
 * points dockerd at it (daemon.json proxies on 23+, else HTTPS_PROXY, and SSL_CERT_DIR, in a docker.service drop-in
 * that this test applies to dockerd's environment as systemd would); `image-access install --name` puts the plugin in
 * the chain. Then builds are judged; `uninstall --gateway` takes back exactly what install added. dockerd has no
 * registry mirror: "Docker Hub" is the stand-in registry, reached only through the gateway.
 */
jest.setTimeout(300_000);

const NAME = 'ia-gateway-e2e:latest';

function imageAccess(args: readonly string[], env: NodeJS.ProcessEnv = process.env): { code: number; output: string } {
  const result = spawnSync(process.execPath, [PLUGIN_CLI, ...args], { encoding: 'utf8', timeout: 30_000, env });
  return { code: result.status ?? -1, output: `${result.stdout}${result.stderr}` };
}

/** The `Environment=KEY=VALUE` lines of a systemd drop-in, as systemd gives them to dockerd. */
function dropInEnvironment(path: string): Record<string, string> {
  const env: Record<string, string> = {};
  for (const line of readFileSync(path, 'utf8').split('\n')) {
    const match = /^Environment=([A-Za-z_]+)=(.*)$/.exec(line.trim());
    if (match) env[match[1]!] = match[2]!;
  }
  return env;
}

/** The managed plugin's node processes (cgroup named after its id), for the cleanup. */
function pluginPids(id: string): number[] {
  return readdirSync('/proc')
    .filter((entry) => /^\d+$/.test(entry))
    .filter((entry) => {
      try {
        return readFileSync(`/proc/${entry}/cgroup`, 'utf8').includes(id) && readFileSync(`/proc/${entry}/cmdline`, 'utf8').includes(MANAGED_SCRIPT);
      } catch {
        return false;
      }
    })
    .map(Number);
}

describe(`managed plugin running the registry gateway, installed as README says, on dockerd ${ENGINE}`, () => {
  let dir: string;
  let registry: Registry | undefined;
  let host: Daemon | undefined;
  let pluginId = '';
  let gateway: string;
  const stateDir = () => join(dir, 'state');
  const systemdDir = () => join(dir, 'systemd');
  const dropIn = () => join(systemdDir(), 'image-access-gateway.conf');
  const docker: DockerRunner = (args, options) => host!.docker(args, options);
  const daemonJson = () => JSON.parse(readFileSync(host!.configFile, 'utf8')) as Record<string, unknown>;
  const asAdmin = () => ({ ...process.env, DOCKER_HOST: `unix://${host!.socket}`, DOCKER_CONFIG: host!.dockerConfigDir });
  /** dockerd restarted as `systemctl daemon-reload && systemctl restart docker` would: daemon.json and the drop-in. */
  const restartAsSystemd = () => host!.restart({ daemonJson: daemonJson(), env: existsSync(dropIn()) ? dropInEnvironment(dropIn()) : {} });
  let contexts = 0;
  const context = (dockerfile: string) => writeBuildContext(join(dir, `ctx-${++contexts}`), { Dockerfile: dockerfile });
  const audit = () =>
    (existsSync(join(stateDir(), 'audit.log')) ? readFileSync(join(stateDir(), 'audit.log'), 'utf8').trim().split('\n') : [])
      .filter((line) => line !== '')
      .map((line) => JSON.parse(line) as { image: string; decision: string; via: string });

  beforeAll(async () => {
    // Under /var/lib, which the managed plugin sees at the same path (its state directory's mount).
    dir = mkdtempSync('/var/lib/ia-e2e-gw-');
    registry = await startRegistry(dir);
    await seedImages(registry);
    gateway = `127.0.0.1:${await freePort()}`;
    writeFileSync(
      join(dir, 'policy.json'),
      JSON.stringify({ organization: 'acme', restricted_images: { enabled: true, allow_official_images: true, allow_verified_publishers: true } }),
    );
    const build = spawnSync(join(REPO_ROOT, 'plugin', 'build.sh'), [join(dir, 'plugin')], { encoding: 'utf8', timeout: 180_000 });
    if (build.status !== 0) throw new Error(`plugin/build.sh failed: ${build.stderr}`);
    host = await startDaemon(join(dir, 'host'), { daemonJson: {} });
  });

  afterAll(async () => {
    await host?.stop();
    if (pluginId !== '') for (const pid of pluginPids(pluginId)) process.kill(pid, 'SIGKILL');
    await registry?.stop();
    if (dir) removeTempDir(dir);
  });

  test('the managed plugin starts the gateway with its CA in the state directory on the host', async () => {
    const created = await docker(['plugin', 'create', NAME, join(dir, 'plugin')]);
    expect(created.stderr).toBe('');
    const settings = [
      'IMAGE_ACCESS_ORG=acme',
      `IMAGE_ACCESS_POLICY=${join(dir, 'policy.json')}`,
      'IMAGE_ACCESS_REQUIRE_SIGNIN=off',
      'IMAGE_ACCESS_AUDIT_LOG=audit.log',
      `IMAGE_ACCESS_STATE_DIR=${stateDir()}`,
      `IMAGE_ACCESS_DAEMON_JSON=${host!.configFile}`,
      `IMAGE_ACCESS_GATEWAY=${gateway}`,
      `IMAGE_ACCESS_HUB_REGISTRY=http://${registry!.address}`,
    ];
    expect((await docker(['plugin', 'set', NAME, ...settings])).stderr).toBe('');
    const enabled = await docker(['plugin', 'enable', NAME]);
    expect(enabled.stderr).toBe('');
    pluginId = (await docker(['plugin', 'inspect', '--format', '{{.Id}}', NAME])).stdout.trim();
    await waitUntil('the gateway CA on the host', async () => existsSync(join(stateDir(), 'gateway-ca')), { timeoutMs: 20_000, intervalMs: 100 });
    expect(readdirSync(join(stateDir(), 'gateway-ca'))).toHaveLength(1);
  });

  test('image-access install --gateway points dockerd at it; install --name puts it in the chain; restart as systemd would', async () => {
    const installed = imageAccess(
      ['install', '--gateway', gateway, '--state-dir', stateDir(), '--daemon-json', host!.configFile, '--systemd-dir', systemdDir(), '--docker-socket', host!.socket],
      asAdmin(),
    );
    expect(installed.output).toContain('restart');
    expect(installed.code).toBe(0);
    expect(dropInEnvironment(dropIn())['SSL_CERT_DIR']).toBe(`/etc/ssl/certs:${join(stateDir(), 'gateway-ca')}`);
    // 23.0+ takes the proxy in daemon.json; older engines in the drop-in.
    if (ENGINE === '26.1') expect(daemonJson()['proxies']).toEqual({ 'https-proxy': `http://${gateway}` });
    else expect(dropInEnvironment(dropIn())['HTTPS_PROXY']).toBe(`http://${gateway}`);
    const chained = imageAccess(['install', '--name', NAME, '--daemon-json', host!.configFile], asAdmin());
    expect(chained.code).toBe(0);
    await restartAsSystemd();
    const info = await docker(['info', '--format', '{{.HTTPSProxy}}']);
    expect(info.stdout.trim()).toBe(`http://${gateway}`);
  });

  test('builds are judged: FROM a community image fails with the explanatory message and an audit line, FROM alpine builds', async () => {
    const denied = await classicBuild(docker, context('FROM someone/app:1.0\nLABEL x=1\n'), { tag: 'acme/gw:denied' });
    expect(denied.code).not.toBe(0);
    expect(denied.stderr).toContain('image access restricted: Image Access Management: docker.io/someone/app:1.0 is a community image');
    expect(audit()).toContainEqual(expect.objectContaining({ image: 'docker.io/someone/app:1.0', decision: 'deny', via: 'gateway' }));
    const built = await buildxBuild(docker, context('FROM alpine\nLABEL x=1\n'), { tag: 'acme/gw:ok' });
    expect({ code: built.code, stderr: built.stderr }).toMatchObject({ code: 0 });
    const buildkitDenied = await buildxBuild(docker, context('FROM someoss/tool\nLABEL x=1\n'), { tag: 'acme/gw:denied-bk' });
    expect(buildkitDenied.stderr).toContain('403 image access restricted: Image Access Management: docker.io/someoss/tool:latest is a community image');
  });

  test('uninstall --gateway takes back exactly what install added', async () => {
    const before = daemonJson();
    const removed = imageAccess(['uninstall', '--gateway', '--systemd-dir', systemdDir()], asAdmin());
    expect(removed.code).toBe(0);
    expect(existsSync(dropIn())).toBe(false);
    const { proxies: _proxies, ...rest } = before;
    expect(daemonJson()).toEqual(rest);
  });
});
