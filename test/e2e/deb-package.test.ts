import { spawnSync } from 'node:child_process';
import { copyFileSync, existsSync, mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import { basename, join } from 'node:path';
import { probeAuthzPlugin } from '../../src/install/plugin-probe';
import { ENGINE, ENGINE_VERSIONS, makeTempDir, REPO_ROOT, removeTempDir, spawnTracked, waitUntil, type TrackedProcess } from '../harness';

/**
 * The legacy install as a Debian package (`make deb`), on a bare Debian system: debootstrap's minbase (no Node.js, no
 * docker, nothing beyond apt's own needs), entered with chroot in a network namespace of its own. apt installs the package offline, the plugin it
 * installed runs and answers, `image-access install` puts it in daemon.json, and `apt remove` takes it out of the
 * chain before the files go.
 */
jest.setTimeout(900_000);

const VERSION = (JSON.parse(readFileSync(join(REPO_ROOT, 'package.json'), 'utf8')) as { version: string }).version;

/** No dockerd is involved: `make test` runs it with the first engine only, not once per engine. */
const describeOnce = ENGINE === ENGINE_VERSIONS[0] ? describe : describe.skip;

describeOnce('Debian package: apt install on a bare Debian, run, apt remove', () => {
  let dir: string;
  let root: string;
  let deb: string;
  let plugin: TrackedProcess | undefined;
  /** A command inside the bare system, in a network namespace of its own: nothing can be fetched. */
  const inRoot = (...command: string[]) => {
    const run = spawnSync('unshare', ['--net', 'chroot', root, ...command], {
      encoding: 'utf8',
      timeout: 300_000,
      env: { PATH: '/usr/sbin:/usr/bin:/sbin:/bin', DEBIAN_FRONTEND: 'noninteractive', LANG: 'C' },
    });
    return { code: run.status, out: `${run.stdout}${run.stderr}` };
  };
  const daemonJson = () => join(root, 'etc/docker/daemon.json');

  beforeAll(() => {
    dir = makeTempDir();
    const built = spawnSync(join(REPO_ROOT, 'packaging/build-deb.sh'), [join(dir, 'out')], { encoding: 'utf8', timeout: 600_000 });
    if (built.status !== 0) throw new Error(`packaging/build-deb.sh failed: ${built.stderr}`);
    deb = built.stdout.trim().split('\n').at(-1)!;
    root = join(dir, 'root');
    const made = spawnSync(join(REPO_ROOT, 'packaging/debian-root.sh'), [root], { encoding: 'utf8', timeout: 900_000 });
    if (made.status !== 0) throw new Error(`packaging/debian-root.sh failed: ${made.stderr}`);
  });

  afterAll(async () => {
    await plugin?.stop(5_000);
    if (dir) removeTempDir(dir);
  });

  test(`make deb builds image-access_${VERSION}_amd64.deb`, () => {
    expect(basename(deb)).toBe(`image-access_${VERSION}_amd64.deb`);
    const fields = spawnSync('dpkg-deb', ['--field', deb, 'Package', 'Version', 'Depends'], { encoding: 'utf8' }).stdout;
    expect(fields).toContain(`Version: ${VERSION}`);
    expect(fields).toContain('Depends: libc6 (>= 2.28), libstdc++6, libgcc-s1');
  });

  test('apt installs it on a system without Node.js, offline, with no other package', () => {
    expect(inRoot('sh', '-c', 'command -v node nodejs npm').code).not.toBe(0);
    copyFileSync(deb, join(root, 'tmp', basename(deb)));
    const installed = inRoot('apt-get', 'install', '-y', `/tmp/${basename(deb)}`);
    expect(installed.out).toMatch(/The following NEW packages will be installed:\n\s+image-access\n/);
    expect(installed.code).toBe(0);
    expect(inRoot('image-access', '--version')).toEqual({ code: 0, out: `${VERSION}\n` });
    expect(existsSync(join(root, 'lib/systemd/system/image-access.service'))).toBe(true);
  });

  test('the installed plugin runs and answers; image-access install puts it in the chain', async () => {
    mkdirSync(join(root, 'etc/docker'), { recursive: true });
    writeFileSync(daemonJson(), '{"debug":true}\n');
    // As the systemd unit starts it: node's flags in NODE_OPTIONS.
    const nodeOptions = /^Environment=NODE_OPTIONS=(.*)$/m.exec(readFileSync(join(root, 'lib/systemd/system/image-access.service'), 'utf8'))![1]!;
    plugin = spawnTracked('plugin', 'unshare', ['--net', 'chroot', root, 'image-access', 'run', '--socket', '/run/image-access.sock', '--policy', 'builtin'], {
      logDir: dir,
      env: { PATH: '/usr/sbin:/usr/bin:/sbin:/bin', NODE_OPTIONS: nodeOptions },
    });
    const socket = join(root, 'run/image-access.sock');
    await waitUntil('the packaged plugin to answer', async () => (await probeAuthzPlugin(socket, 1_000)) === undefined, { timeoutMs: 30_000, intervalMs: 100 });
    // The code cache was made at packaging by the node the package ships, under those flags: V8 takes it.
    await waitUntil('its start line', async () => readFileSync(plugin!.stderrPath, 'utf8').includes('image-access listening'), { timeoutMs: 10_000, intervalMs: 50 });
    expect(readFileSync(plugin.stderrPath, 'utf8')).toContain('"codeCache":"used"');
    const install = inRoot('image-access', 'install', '--socket', '/run/image-access.sock');
    expect(install.code).toBe(0);
    expect(JSON.parse(readFileSync(daemonJson(), 'utf8'))).toEqual({ debug: true, 'authorization-plugins': ['image-access'] });
    await plugin.stop(5_000);
    plugin = undefined;
  });

  test('apt remove takes it out of the chain first, then its files go; the original daemon.json is kept', () => {
    const removed = inRoot('apt-get', 'remove', '-y', 'image-access');
    expect(removed.out).toContain('removed image-access from /etc/docker/daemon.json');
    expect(removed.code).toBe(0);
    expect(JSON.parse(readFileSync(daemonJson(), 'utf8'))).toEqual({ debug: true });
    expect(readFileSync(join(root, 'etc/docker/daemon.json.before-image-access'), 'utf8')).toBe('{"debug":true}\n');
    for (const path of ['usr/bin/image-access', 'usr/lib/image-access', 'lib/systemd/system/image-access.service']) {
      expect([path, existsSync(join(root, path))]).toEqual([path, false]);
    }
  });
});
