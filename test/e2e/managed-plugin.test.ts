import { spawnSync } from 'node:child_process';
import { existsSync, lstatSync, mkdirSync, mkdtempSync, readdirSync, readFileSync, readlinkSync, writeFileSync } from 'node:fs';
import { join, relative } from 'node:path';
import { probeAuthzPlugin } from '../../src/install/plugin-probe';
import {
  makeTempDir,
  MANAGED_SCRIPT,
  PLUGIN_CLI,
  REPO_ROOT,
  removeTempDir,
  seedImages,
  startDaemon,
  startPlugin,
  startRegistry,
  waitUntil,
  type Daemon,
  type PluginProcess,
  type Registry,
} from '../harness';

/**
 * The managed-plugin path a fleet takes, on real engines: build offline, `docker plugin create` + `push` to a local
 * registry, `docker plugin install` on a FRESH daemon with no preparation of the host, enforce through daemon.json,
 * then restart, crash, reconfigure, upgrade, remove and reinstall it, the audit log intact on the host throughout. The
 * tests run in order and share one daemon: each step starts from the state the previous one left.
 *
 * The plugin sees the host through fixed mounts of /etc, /usr/share, /root, /home (read-only) and /var/lib. To share
 * this machine with other runs, the test's files live in a unique /var/lib/ia-e2e-* directory (seen by the plugin at
 * the same path) and the settings a fleet leaves at their defaults (state directory, daemon.json, sign-in) point there.
 */
jest.setTimeout(240_000);

/** Managed plugins run with the fixed exec root /run/docker/plugins/<id>/ whatever dockerd's --exec-root is. */
const managedSocket = (id: string) => `/run/docker/plugins/${id}/image-access.sock`;

/** The plugin's node process: in the cgroup named after the plugin id, running our CLI. */
function pluginPids(id: string): number[] {
  const pids: number[] = [];
  for (const entry of readdirSync('/proc')) {
    if (!/^\d+$/.test(entry)) continue;
    try {
      const cgroup = readFileSync(`/proc/${entry}/cgroup`, 'utf8');
      const cmdline = readFileSync(`/proc/${entry}/cmdline`, 'utf8');
      if (cgroup.includes(id) && cmdline.includes(MANAGED_SCRIPT)) pids.push(Number(entry));
    } catch {
      // exited while we looked
    }
  }
  return pids;
}

/** `image-access install|uninstall` as a fleet runs it, against the daemon's own config file and pid. */
function imageAccess(args: readonly string[], env: NodeJS.ProcessEnv = process.env): { code: number; output: string } {
  const result = spawnSync(process.execPath, [PLUGIN_CLI, ...args], { encoding: 'utf8', timeout: 30_000, env });
  return { code: result.status ?? -1, output: `${result.stdout}${result.stderr}` };
}

const HUB = 'https://index.docker.io/v1/';
const NEXT_MARKER = 'opt/image-access/NEXT';

interface Mount {
  readonly Name: string;
  readonly Source: string;
}

/** Mount points of a process as it sees them, with their options (`/proc/PID/mountinfo`: field 5 is the mount point). */
function mountOptions(pid: number): Map<string, string[]> {
  const mounts = new Map<string, string[]>();
  for (const line of readFileSync(`/proc/${pid}/mountinfo`, 'utf8').split('\n')) {
    const fields = line.split(' ');
    if (fields[4]) mounts.set(fields[4], (fields[5] ?? '').split(','));
  }
  return mounts;
}

/** Timings reported at the end of the file (the README quotes them). */
const measurements: Record<string, number | string> = {};
afterAll(() => console.log(`managed-plugin measurements: ${JSON.stringify(measurements)}`));

/** The host's Docker sign-in for `dir/signin`: alice, stored in config.json, so enforced sign-in lets her pull. */
function writeSignIn(dir: string): string {
  const signin = join(dir, 'signin');
  mkdirSync(signin);
  writeFileSync(join(signin, 'config.json'), JSON.stringify({ auths: { [HUB]: { auth: Buffer.from('alice:dckr_pat_test').toString('base64') } } }));
  return signin;
}

describe('managed plugin: built offline, pushed, installed from a registry, enforced through daemon.json', () => {
  let dir: string;
  let registry: Registry | undefined;
  let host: Daemon | undefined;
  /** The plugin as pushed (`latest`), and a second tag of the same build to upgrade to. */
  let ref: string;
  let nextRef: string;
  let pluginId = '';
  /** Every plugin id installed on the host, for the cleanup. */
  const pluginIds: string[] = [];
  const buildDir = () => join(dir, 'plugin');
  const pidfile = () => join(dir, 'host-dockerd.pid');
  const auditLog = () => join(dir, 'state', 'audit.log');
  const auditLines = () => (existsSync(auditLog()) ? readFileSync(auditLog(), 'utf8').trim().split('\n') : []);
  const docker = (...args: string[]) => host!.docker(args);
  /** Runs docker and returns what to compare with `succeeded`: the exit code with the error, so a failure shows why. */
  const outcome = async (...args: string[]) => {
    const result = await docker(...args);
    return { code: result.code, stderr: result.stderr };
  };
  const pull = (image: string) => outcome('pull', image);
  const succeeded = { code: 0, stderr: '' };
  const writePidfile = () => writeFileSync(pidfile(), `${host!.process.pid}\n`);
  const daemonJson = () => JSON.parse(readFileSync(host!.configFile, 'utf8')) as Record<string, unknown>;
  /** The host daemon's registry settings, in daemon.json (where the plugin reads the mirrors) rather than flags. */
  const registryConfig = () => ({ 'registry-mirrors': [registry!.url], 'insecure-registries': [registry!.address] });
  const chainWith = (...names: string[]) => ({ ...registryConfig(), 'authorization-plugins': names });
  /** As an admin runs it on the host: no --socket, the docker CLI (here pointed at this daemon) finds the plugin's. */
  const cliEnv = () => ({ ...process.env, DOCKER_HOST: `unix://${host!.socket}`, DOCKER_CONFIG: host!.dockerConfigDir });
  const install = (...extra: string[]) => imageAccess(['install', '--name', ref, '--daemon-json', host!.configFile, ...extra], cliEnv());
  /** `image-access validate --plugin`: the plugin's own settings, read from dockerd as the admin's docker CLI does. */
  const validate = (...changes: string[]) => imageAccess(['validate', '--plugin', ref, ...changes], cliEnv());
  const installAs = (name: string, id: string, ...extra: string[]) =>
    imageAccess(['install', '--name', name, '--socket', managedSocket(id), '--daemon-json', host!.configFile, ...extra]);
  const uninstallAs = (name: string, ...extra: string[]) => imageAccess(['uninstall', '--name', name, '--daemon-json', host!.configFile, ...extra]);
  const pluginInspect = async (name: string) =>
    (JSON.parse((await docker('plugin', 'inspect', name)).stdout) as Array<{
      Id: string;
      Enabled: boolean;
      Settings: { Env: string[]; Mounts: Mount[] };
      Config: { Mounts: Mount[] };
    }>)[0]!;
  /** Mount sources dockerd binds: `Config.Mounts`. */
  const mountSources = (plugin: Awaited<ReturnType<typeof pluginInspect>>) => plugin.Config.Mounts.map((m) => `${m.Name}=${m.Source}`).sort();
  /**
   * The organisation and the policy, as a fleet sets them; the rest only keeps this run's files apart from the
   * machine's (a fleet leaves them at their defaults: /var/lib/image-access, /etc/docker/daemon.json, /root/.docker).
   */
  const installArgs = () => [
    'IMAGE_ACCESS_ORG=acme',
    `IMAGE_ACCESS_POLICY=${join(dir, 'policy-acme.json')}`,
    'IMAGE_ACCESS_AUDIT_LOG=audit.log',
    `IMAGE_ACCESS_STATE_DIR=${join(dir, 'state')}`,
    `IMAGE_ACCESS_DAEMON_JSON=${host!.configFile}`,
    `IMAGE_ACCESS_DOCKER_CONFIG=${join(dir, 'signin')}`,
  ];

  beforeAll(async () => {
    dir = mkdtempSync('/var/lib/ia-e2e-');
    registry = await startRegistry(dir);
    await seedImages(registry);
    ref = `${registry.address}/acme/image-access:latest`;
    nextRef = `${registry.address}/acme/image-access:next`;
    // The host's Docker sign-in, and policy files: acme's, and someone's to switch to with docker plugin set. The
    // plugin is published on the daemon's Hub mirror, so its installs are judged as Docker Hub's acme/image-access.
    writeSignIn(dir);
    for (const org of ['acme', 'someone']) {
      const restricted = { enabled: true, allow_official_images: true, allow_verified_publishers: true };
      writeFileSync(join(dir, `policy-${org}.json`), JSON.stringify({ organization: org, restricted_images: restricted, repository_allowlist: ['acme/image-access'] }));
    }
  });

  afterAll(async () => {
    await host?.stop();
    // dockerd stops its managed plugins on shutdown; anything left of ours is killed by pid.
    for (const id of pluginIds) for (const pid of pluginPids(id)) process.kill(pid, 'SIGKILL');
    await registry?.stop();
    if (dir) removeTempDir(dir);
  });

  test('plugin/build.sh assembles config.json and a small rootfs with node and the bundled plugin, no node_modules', () => {
    const build = spawnSync(join(REPO_ROOT, 'plugin', 'build.sh'), [buildDir()], { encoding: 'utf8', timeout: 180_000 });
    expect(build.stderr).toBe('');
    expect(build.status).toBe(0);
    const rootfs = join(buildDir(), 'rootfs');
    expect(JSON.parse(readFileSync(join(buildDir(), 'config.json'), 'utf8'))).toEqual(JSON.parse(readFileSync(join(REPO_ROOT, 'config.json'), 'utf8')));
    for (const path of ['usr/bin/node', 'lib64/ld-linux-x86-64.so.2', MANAGED_SCRIPT.slice(1), 'run/docker/plugins', 'tmp']) {
      expect([path, existsSync(join(rootfs, path))]).toEqual([path, true]);
    }
    // The app is the repository's bundle/ (scripts/bundle.js) and nothing else: the entrypoint's script exists in the
    // repository at the same path under the workdir, and no package is shipped unbundled.
    expect(MANAGED_SCRIPT).toBe(`/opt/image-access/${relative(REPO_ROOT, PLUGIN_CLI)}`);
    expect(readdirSync(join(rootfs, 'opt/image-access'))).toEqual(['bundle']);
    expect(readdirSync(join(rootfs, 'opt/image-access/bundle'), { recursive: true }).sort()).toEqual(readdirSync(join(REPO_ROOT, 'bundle'), { recursive: true }).sort());
    // The host view: bind points for the host's directories, and links from where the settings look by default.
    for (const [link, target] of [['etc/docker', '/host/etc/docker'], ['etc/image-access', '/host/etc/image-access'], ['usr/share/docker-desktop', '/host/usr/share/docker-desktop'], ['root', '/host/root'], ['home', '/host/home'], ['var/lib', '/host/var/lib']]) {
      expect([link, readlinkSync(join(rootfs, link!))]).toEqual([link, target]);
    }
    for (const bindPoint of ['host/etc', 'host/usr/share', 'host/root', 'host/home', 'host/var/lib']) expect(lstatSync(join(rootfs, bindPoint)).isDirectory()).toBe(true);
    const caBundle = 'etc/ssl/certs/ca-certificates.crt';
    expect(existsSync(join(rootfs, caBundle))).toBe(existsSync(`/${caBundle}`));
    // The rootfs runs on its own: node with only the libraries copied in, no host paths.
    const run = spawnSync('chroot', [rootfs, '/usr/bin/node', MANAGED_SCRIPT, '--version'], { encoding: 'utf8' });
    expect(run.stdout.trim()).toBe((JSON.parse(readFileSync(join(REPO_ROOT, 'package.json'), 'utf8')) as { version: string }).version);
    const bytes = Number(spawnSync('du', ['-sb', rootfs], { encoding: 'utf8' }).stdout.split('\t')[0]);
    measurements['rootfsMiB'] = Math.round(bytes / 2 ** 20);
    expect(bytes).toBeLessThan(160 * 2 ** 20);
  });

  test('docker plugin create, then docker plugin push to the local registry', async () => {
    // The "next release": the same build plus a marker file, so its layer differs (dockerd refuses to create a second
    // plugin from identical content).
    const nextDir = join(dir, 'plugin-next');
    expect(spawnSync('cp', ['-a', buildDir(), nextDir]).status).toBe(0);
    writeFileSync(join(nextDir, 'rootfs', NEXT_MARKER), 'stand-in for the next release\n');
    const builder = await startDaemon(join(dir, 'builder'), { mirror: registry!.address });
    try {
      for (const [name, from] of [[ref, buildDir()], [nextRef, nextDir]] as const) {
        const create = await builder.docker(['plugin', 'create', name, from]);
        expect(create.stderr).toBe('');
        expect(create.code).toBe(0);
        const push = await builder.docker(['plugin', 'push', name]);
        expect(push.code).toBe(0);
        measurements[`pushMs:${name.split(':').at(-1)}`] = push.durationMs;
      }
    } finally {
      await builder.stop();
    }
    const tags = await fetch(`${registry!.url}/v2/acme/image-access/tags/list`);
    expect(((await tags.json()) as { tags: string[] }).tags.sort()).toEqual(['latest', 'next']);
    // What every host of a fleet downloads: the pushed blobs, compressed as docker plugin push sent them. Bundled
    // JavaScript and node's ICU data trimmed to English (plugin/trim-icu.js) keep it under 34 MB (it was 38).
    const manifest = await fetch(`${registry!.url}/v2/acme/image-access/manifests/latest`, { headers: { Accept: 'application/vnd.docker.distribution.manifest.v2+json' } });
    const { config, layers } = (await manifest.json()) as { config: { size: number }; layers: Array<{ size: number }> };
    const pushedBytes = config.size + layers.reduce((sum, layer) => sum + layer.size, 0);
    measurements['pushedMB'] = Math.round(pushedBytes / 1e5) / 10;
    expect(pushedBytes).toBeLessThanOrEqual(34_000_000);
  });

  test('docker plugin install on a bare host: no mount source to prepare, only settings as install arguments', async () => {
    // Neither the old mount sources nor the state directory exist on this machine; the host view binds only
    // directories every Linux host has.
    host = await startDaemon(join(dir, 'host'), { daemonJson: registryConfig() });
    expect((await docker('plugin', 'ls', '--quiet')).stdout.trim()).toBe('');
    expect(existsSync(join(dir, 'state'))).toBe(false);
    const installed = await docker('plugin', 'install', '--grant-all-permissions', ref, ...installArgs());
    expect(installed.stderr).toBe('');
    expect(installed.code).toBe(0);
    measurements['installMs'] = installed.durationMs;
    const plugin = await pluginInspect(ref);
    pluginId = plugin.Id;
    pluginIds.push(pluginId);
    expect(plugin.Enabled).toBe(true);
    expect(plugin.Settings.Env).toContain('IMAGE_ACCESS_ORG=acme');
    expect(mountSources(plugin)).toEqual(['host-etc=/etc', 'host-home=/home', 'host-root=/root', 'host-usr-share=/usr/share', 'host-var-lib=/var/lib']);
    expect(await probeAuthzPlugin(managedSocket(pluginId), 5_000)).toBeUndefined();

    // It sees the host's files where a host process would (read-only), and writes only its state directory.
    const [pid] = pluginPids(pluginId);
    const root = `/proc/${pid}/root`;
    // (Its links are absolute, so from here they are followed under /host; the pulls below show them working inside.)
    expect(readFileSync(`${root}/host${join(dir, 'signin', 'config.json')}`, 'utf8')).toContain('auths');
    expect(readFileSync(`${root}/host${host!.configFile}`, 'utf8')).toContain('registry-mirrors');
    expect(readFileSync(`${root}/host/etc/hostname`, 'utf8')).toBe(readFileSync('/etc/hostname', 'utf8'));
    const mounts = mountOptions(pid!);
    for (const readOnly of ['/host/etc', '/host/usr/share', '/host/root', '/host/home']) expect([readOnly, mounts.get(readOnly)]).toEqual([readOnly, expect.arrayContaining(['ro'])]);
    expect(mounts.get('/host/var/lib')).toContain('rw');
  });

  test('not enforced until daemon.json lists it: enabling a plugin does not put it in the authorization chain', async () => {
    expect(await pull('someoss/tool')).toEqual(succeeded);
  });

  test('image-access install --reload adds it to daemon.json and SIGHUPs dockerd; pulls are then judged', async () => {
    writePidfile();
    const result = install('--reload', '--pidfile', pidfile());
    expect(result.output).toContain(`managed plugin ${ref} (id ${pluginId.slice(0, 12)}) listens on ${managedSocket(pluginId)}`);
    expect(result.output).toContain(`reloaded dockerd (pid ${host!.process.pid})`);
    expect(result.code).toBe(0);
    expect(host!.process.isRunning()).toBe(true);
    expect(daemonJson()).toEqual(chainWith(ref));

    expect(await pull('alpine')).toEqual(succeeded);
    expect(await pull('acme/app')).toEqual(succeeded);
    const denied = await docker('pull', 'someone/app:1.0');
    expect(denied.code).not.toBe(0);
    expect(denied.stderr).toContain(`authorization denied by plugin ${ref}: Image Access Management: docker.io/someone/app:1.0 is a community image`);
    expect(denied.stderr).toContain('organization "acme"');
    // Through the mirror daemon.json names, the same image is still judged as Docker Hub's.
    const throughMirror = await docker('pull', `${registry!.address}/someone/app:1.0`);
    expect(throughMirror.stderr).toContain(`authorization denied by plugin ${ref}: Image Access Management: docker.io/someone/app:1.0 is a community image`);
    // dockerd logs the plugin's stdout at level=info and its stderr at level=error: each line lands at its own level.
    const pluginLines = readFileSync(join(dir, 'host', 'dockerd.err'), 'utf8').split('\n').filter((line) => line.includes(`plugin=${pluginId}`));
    const levels = (text: string) => pluginLines.filter((line) => line.includes(text)).map((line) => /level=(\w+)/.exec(line)?.[1]);
    expect(levels('image-access listening')).toEqual(['info']);
    // The code cache was made at assembly by the node the plugin ships with, under config.json's flags: V8 takes it.
    expect(pluginLines.find((line) => line.includes('image-access listening'))).toContain('\\"codeCache\\":\\"used\\"');
    for (const [ours, dockerd] of [['info', 'info'], ['debug', 'info'], ['warn', 'error'], ['error', 'error']]) {
      expect([ours, levels(`\\"level\\":\\"${ours}\\"`).filter((level) => level !== dockerd)]).toEqual([ours, []]);
    }
    // The audit log, in the state directory the plugin created on the host.
    expect(auditLines().map((line) => (JSON.parse(line) as { image: string; decision: string }).decision)).toEqual(['allow', 'allow', 'deny', 'deny']);
  });

  test('a second install is a no-op and leaves daemon.json alone', () => {
    const before = readFileSync(host!.configFile, 'utf8');
    const result = install();
    expect(result.code).toBe(0);
    expect(result.output).toContain('nothing changed');
    expect(readFileSync(host!.configFile, 'utf8')).toBe(before);
  });

  test('after a daemon restart the plugin is enabled again and still enforcing', async () => {
    const started = Date.now();
    await host!.restart({ daemonJson: daemonJson() });
    measurements['daemonRestartWithPluginMs'] = Date.now() - started;
    writePidfile();
    expect((await docker('plugin', 'inspect', '--format', '{{.Enabled}}', ref)).stdout.trim()).toBe('true');
    expect((await docker('pull', 'someone/app:1.0')).stderr).toContain(`authorization denied by plugin ${ref}`);
    expect(await pull('busybox')).toEqual(succeeded);
  });

  test('a crashed plugin is restarted by the daemon; commands during the outage wait, then succeed', async () => {
    const [pid] = pluginPids(pluginId);
    expect(pid).toBeDefined();
    process.kill(pid!, 'SIGKILL');
    const killedAt = Date.now();
    const during = await docker('ps');
    measurements['dockerPsBlockedAfterCrashMs'] = during.durationMs;
    expect(during.code).toBe(0);
    await waitUntil('the daemon to restart the plugin', async () => (await probeAuthzPlugin(managedSocket(pluginId), 1_000)) === undefined, { timeoutMs: 60_000, intervalMs: 20 });
    measurements['pluginBackAfterCrashMs'] = Date.now() - killedAt;
    const [newPid] = pluginPids(pluginId);
    expect(newPid).toBeDefined();
    expect(newPid).not.toBe(pid);
    expect((await docker('pull', 'someone/app:1.0')).stderr).toContain(`authorization denied by plugin ${ref}`);
  });

  test('docker plugin set works only while disabled; disabling drops the plugin from the chain until dockerd reloads', async () => {
    const whileEnabled = await docker('plugin', 'set', ref, 'IMAGE_ACCESS_ORG=someone');
    expect(whileEnabled.code).not.toBe(0);
    expect(whileEnabled.stderr).toContain('cannot set on an active plugin');

    // Measured behaviour of dockerd 20.10 and 26.1: disabling an authz plugin in use is allowed and stops enforcement at once.
    expect(await outcome('plugin', 'disable', ref)).toEqual(succeeded);
    expect(await pull('someone/app:1.0')).toEqual(succeeded);
    // Validated before enabling: a refused value is named at once, not after enable's retries end in a dial error.
    const refused = validate('IMAGE_ACCESS_MODE=Warn');
    expect(refused.output).toContain('INVALID: the plugin would not start:\nIMAGE_ACCESS_MODE (--mode) must be one of enforce, warn; got "Warn"');
    expect(refused.code).toBe(1);
    const change = ['IMAGE_ACCESS_ORG=someone', `IMAGE_ACCESS_POLICY=${join(dir, 'policy-someone.json')}`];
    const valid = validate(...change);
    expect(valid.output).toContain(`VALID: policy file:${join(dir, 'policy-someone.json')} (organization someone)`);
    expect(valid.code).toBe(0);
    expect(await outcome('plugin', 'set', ref, ...change)).toEqual(succeeded);
    expect(await outcome('plugin', 'enable', ref)).toEqual(succeeded);
    expect(await pull('someoss/tool')).toEqual(succeeded);

    expect(install('--reload', '--pidfile', pidfile()).code).toBe(0);
    expect((await docker('plugin', 'inspect', '--format', '{{.Settings.Env}}', ref)).stdout).toContain('IMAGE_ACCESS_ORG=someone');
    expect(await pull('someone/app:1.0')).toEqual(succeeded);
    const denied = await docker('pull', 'acme/app');
    expect(denied.stderr).toContain('docker.io/acme/app:latest is a community image, and organization "someone"');
  });

  test('a disabled plugin still listed in daemon.json stops dockerd from starting; uninstall recovers it', async () => {
    expect(await outcome('plugin', 'disable', ref)).toEqual(succeeded);
    await expect(host!.restart({ daemonJson: daemonJson() })).rejects.toThrow(/dockerd exited/);
    expect(readFileSync(join(dir, 'host', 'dockerd.err'), 'utf8')).toContain(`plugin ${ref} found but disabled`);

    expect(uninstallAs(ref).code).toBe(0);
    await host!.restart({ daemonJson: daemonJson() });
    writePidfile();
    expect(await outcome('plugin', 'enable', ref)).toEqual(succeeded);
    expect(install('--reload', '--pidfile', pidfile()).code).toBe(0);
    expect((await docker('pull', 'acme/app')).stderr).toContain(`authorization denied by plugin ${ref}`);
  });

  test('upgrade in place: out of the chain, disable, docker plugin upgrade, enable, back in: nothing to re-set', async () => {
    const before = await pluginInspect(ref);
    const auditBefore = auditLines();
    expect(uninstallAs(ref, '--reload', '--pidfile', pidfile()).code).toBe(0);
    expect(await outcome('plugin', 'disable', ref)).toEqual(succeeded);
    const upgraded = await docker('plugin', 'upgrade', '--grant-all-permissions', '--skip-remote-check', ref, nextRef);
    expect(upgraded.stdout).toContain(`Upgraded plugin ${ref} to ${nextRef}`);
    expect(upgraded.code).toBe(0);
    // Measured: env settings survive an upgrade and mount sources are the new manifest's: the same fixed host view.
    const upgradedPlugin = await pluginInspect(ref);
    expect(upgradedPlugin.Settings.Env).toContain('IMAGE_ACCESS_ORG=someone');
    expect(mountSources(upgradedPlugin)).toEqual(mountSources(before));
    expect(await outcome('plugin', 'enable', ref)).toEqual(succeeded);
    expect(install('--reload', '--pidfile', pidfile()).code).toBe(0);

    const [pid] = pluginPids(upgradedPlugin.Id);
    expect(existsSync(`/proc/${pid}/root/${NEXT_MARKER}`)).toBe(true);
    expect((await docker('pull', 'acme/app')).stderr).toContain(`authorization denied by plugin ${ref}: Image Access Management: docker.io/acme/app:latest is a community image, and organization "someone"`);
    // The audit log carried on: every line from before the upgrade, then the new one.
    const auditAfter = auditLines();
    expect(auditAfter.slice(0, auditBefore.length)).toEqual(auditBefore);
    expect(auditAfter.length).toBe(auditBefore.length + 1);
    expect(JSON.parse(auditAfter.at(-1)!)).toMatchObject({ image: 'docker.io/acme/app:latest', decision: 'deny', organization: 'someone' });
  });

  test('upgrade with no pause: the next version joins the chain under an alias before the old one leaves it', async () => {
    // Self-protection on, under the name it is installed as: the last test checks it.
    const installed = await docker(
      'plugin', 'install', '--grant-all-permissions', '--alias', 'image-access-next', nextRef,
      ...installArgs(), 'IMAGE_ACCESS_PROTECT_PLUGIN=true', 'IMAGE_ACCESS_PLUGIN_NAME=image-access-next:latest',
    );
    expect(installed.stderr).toBe('');
    expect(installed.code).toBe(0);
    const next = await pluginInspect('image-access-next');
    pluginIds.push(next.Id);
    expect(installAs('image-access-next:latest', next.Id, '--reload', '--pidfile', pidfile()).code).toBe(0);
    expect(daemonJson()).toEqual(chainWith(ref, 'image-access-next:latest'));
    // Both are asked and both must allow: the old one (organization someone) refuses acme/app, the new one someone/app.
    expect((await docker('pull', 'acme/app')).stderr).toContain(`authorization denied by plugin ${ref}`);
    expect((await docker('pull', 'someone/app:1.0')).stderr).toContain('authorization denied by plugin image-access-next:latest');

    expect(uninstallAs(ref, '--reload', '--pidfile', pidfile()).code).toBe(0);
    expect(await outcome('plugin', 'disable', ref)).toEqual(succeeded);
    expect(await outcome('plugin', 'rm', ref)).toEqual(succeeded);
    expect(pluginPids(pluginId)).toEqual([]);
    expect(await pull('acme/app')).toEqual(succeeded);
    expect((await docker('pull', 'someone/app:1.0')).stderr).toContain('authorization denied by plugin image-access-next:latest');
  });

  test('removal without locking the daemon: uninstall --reload first, then disable and remove the plugin', async () => {
    const next = await pluginInspect('image-access-next');
    // While it is in the chain, a protected plugin refuses to be switched off through the Docker API.
    for (const name of ['image-access-next', 'image-access-next:latest', next.Id.slice(0, 12)]) {
      const refused = await docker('plugin', 'disable', name);
      expect([name, refused.code, refused.stderr]).toEqual([name, 1, expect.stringContaining('authorization denied by plugin image-access-next:latest')]);
    }
    expect(uninstallAs('image-access-next:latest', '--reload', '--pidfile', pidfile()).code).toBe(0);
    expect(daemonJson()).toEqual(registryConfig());
    expect(await outcome('plugin', 'disable', 'image-access-next')).toEqual(succeeded);
    expect(await outcome('plugin', 'rm', 'image-access-next')).toEqual(succeeded);
    const ps = await docker('ps');
    expect(ps.code).toBe(0);
    expect(ps.durationMs).toBeLessThan(10_000);
    expect(await pull('someone/app:1.0')).toEqual(succeeded);
    expect(pluginPids(next.Id)).toEqual([]);
    expect((await docker('plugin', 'ls', '--quiet')).stdout.trim()).toBe('');
  });

  test('the audit log outlives the plugin: a reinstall appends to the same file', async () => {
    const auditBefore = auditLines();
    expect(auditBefore.length).toBeGreaterThan(5);
    const installed = await docker('plugin', 'install', '--grant-all-permissions', ref, ...installArgs());
    expect(installed.stderr).toBe('');
    expect(installed.code).toBe(0);
    const again = await pluginInspect(ref);
    pluginIds.push(again.Id);
    expect(installAs(ref, again.Id, '--reload', '--pidfile', pidfile()).code).toBe(0);
    expect((await docker('pull', 'someone/app:1.0')).stderr).toContain(`authorization denied by plugin ${ref}`);
    const auditAfter = auditLines();
    expect(auditAfter.slice(0, auditBefore.length)).toEqual(auditBefore);
    expect(JSON.parse(auditAfter.at(-1)!)).toMatchObject({ image: 'docker.io/someone/app:1.0', decision: 'deny' });
    expect(uninstallAs(ref, '--reload', '--pidfile', pidfile()).code).toBe(0);
    expect(await outcome('plugin', 'disable', ref)).toEqual(succeeded);
    expect(await outcome('plugin', 'rm', ref)).toEqual(succeeded);
  });
});

describe('legacy plugin (host process): image-access install/uninstall against a real dockerd', () => {
  let dir: string;
  let registry: Registry | undefined;
  let plugin: PluginProcess | undefined;
  let daemon: Daemon | undefined;
  const pidfile = () => join(dir, 'dockerd-legacy.pid');
  const chain = (command: 'install' | 'uninstall', ...extra: string[]) =>
    imageAccess([command, '--name', plugin!.name, '--socket', plugin!.socket, '--daemon-json', daemon!.configFile, ...extra]);
  const pullError = async (image: string) => (await daemon!.docker(['pull', image])).stderr;

  beforeAll(async () => {
    dir = makeTempDir();
    registry = await startRegistry(dir);
    await seedImages(registry);
    plugin = await startPlugin(dir, { env: { IMAGE_ACCESS_ORG: 'acme', IMAGE_ACCESS_POLICY: 'builtin', IMAGE_ACCESS_DOCKER_CONFIG: writeSignIn(dir) } });
    daemon = await startDaemon(dir, { mirror: registry.address });
    writeFileSync(pidfile(), `${daemon.process.pid}\n`);
  });

  afterAll(async () => {
    await daemon?.stop();
    await plugin?.stop();
    await registry?.stop();
    if (dir) removeTempDir(dir);
  });

  test('install --reload puts the running plugin in the chain of the running daemon', async () => {
    const installed = chain('install', '--reload', '--pidfile', pidfile());
    expect(installed.output).toContain('reloaded dockerd');
    expect(installed.code).toBe(0);
    expect(daemon!.process.isRunning()).toBe(true);
    expect(await pullError('someone/app:1.0')).toContain(`authorization denied by plugin ${plugin!.name}: Image Access Management`);
    expect(await pullError('alpine')).toBe('');
  });

  test('with the plugin down, install refuses and uninstall --reload gives docker back at once', async () => {
    await plugin!.kill();
    const before = readFileSync(daemon!.configFile, 'utf8');
    const refused = chain('install', '--reload', '--pidfile', pidfile());
    expect(refused.code).toBe(1);
    expect(refused.output).toContain('does not answer');
    expect(readFileSync(daemon!.configFile, 'utf8')).toBe(before);

    const removed = chain('uninstall', '--reload', '--pidfile', pidfile());
    expect(removed.code).toBe(0);
    expect(daemon!.process.isRunning()).toBe(true);
    const ps = await daemon!.docker(['ps']);
    expect(ps.code).toBe(0);
    measurements['legacyDockerPsAfterUninstallMs'] = ps.durationMs;
    expect(ps.durationMs).toBeLessThan(5_000);
  });

  test('plugin back, install again: enforced again', async () => {
    await plugin!.restart();
    expect(chain('install', '--reload', '--pidfile', pidfile()).code).toBe(0);
    expect(await pullError('someone/app:1.0')).toContain(`authorization denied by plugin ${plugin!.name}`);
  });
});
