import { spawn, type ChildProcess } from 'node:child_process';
import { chmodSync, existsSync, lstatSync, mkdtempSync, readdirSync, readFileSync, rmSync, statSync, symlinkSync, writeFileSync } from 'node:fs';
import { createServer, type Server } from 'node:http';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { silentLogger } from '../../src/audit/logger';
import { loadSettings } from '../../src/config/settings';
import { runInstallCommand } from '../../src/install/commands';
import { KEPT_BACKUPS } from '../../src/install/daemon-json-file';
import { startPlugin, type RunningPlugin } from '../../src/run';

const NOW = new Date('2025-11-25T23:30:00.000Z');

describe('image-access install / uninstall on daemon.json files', () => {
  let dir: string;
  let socket: string;
  let plugin: RunningPlugin;
  let lines: string[];
  let daemonJson: string;
  const run = (command: 'install' | 'uninstall', ...args: string[]) =>
    runInstallCommand(command, ['--daemon-json', daemonJson, '--socket', socket, ...args], { out: (line) => lines.push(line), now: () => NOW });
  const backups = () => readdirSync(dir).filter((name) => name.startsWith('daemon.json.bak-')).sort();

  beforeAll(async () => {
    dir = mkdtempSync(join(tmpdir(), 'ia-install-'));
    socket = join(dir, 'image-access.sock');
    plugin = await startPlugin(loadSettings({}, ['--socket', socket]), silentLogger());
  });

  afterAll(async () => {
    await plugin.stop();
    rmSync(dir, { recursive: true, force: true });
  });

  beforeEach(() => {
    lines = [];
    daemonJson = join(dir, 'daemon.json');
    for (const name of readdirSync(dir)) if (name.startsWith('daemon.json')) rmSync(join(dir, name));
  });

  test('creates an absent daemon.json, with no backup since there was nothing to keep', async () => {
    await run('install');
    expect(JSON.parse(readFileSync(daemonJson, 'utf8'))).toEqual({ 'authorization-plugins': ['image-access'] });
    expect(backups()).toEqual([]);
    expect(lines.join('\n')).toMatch(/added image-access to .*\nrestart dockerd or send it SIGHUP/);
  });

  test('merges into an existing file, keeps a backup of the original and the file mode', async () => {
    const original = '{"debug":true,"authorization-plugins":["other"]}';
    writeFileSync(daemonJson, original);
    chmodSync(daemonJson, 0o640);
    await run('install');
    expect(JSON.parse(readFileSync(daemonJson, 'utf8'))).toEqual({ debug: true, 'authorization-plugins': ['other', 'image-access'] });
    expect(statSync(daemonJson).mode & 0o777).toBe(0o640);
    expect(backups()).toEqual(['daemon.json.bak-20251125T233000Z']);
    expect(readFileSync(join(dir, 'daemon.json.bak-20251125T233000Z'), 'utf8')).toBe(original);
  });

  test('two edits in the same second keep both previous versions; the file as first found is kept apart', async () => {
    const original = '{"debug":true}';
    writeFileSync(daemonJson, original);
    await run('install');
    const afterInstall = readFileSync(daemonJson, 'utf8');
    await run('uninstall');
    expect(backups()).toEqual(['daemon.json.bak-20251125T233000Z', 'daemon.json.bak-20251125T233000Z-2']);
    expect(readFileSync(join(dir, 'daemon.json.bak-20251125T233000Z'), 'utf8')).toBe(original);
    expect(readFileSync(join(dir, 'daemon.json.bak-20251125T233000Z-2'), 'utf8')).toBe(afterInstall);
    expect(readFileSync(join(dir, 'daemon.json.before-image-access'), 'utf8')).toBe(original);
  });

  test(`backups are bounded: the newest ${KEPT_BACKUPS} are kept, the original and anyone else's files stay`, async () => {
    const original = '{"debug":true}';
    writeFileSync(daemonJson, original);
    writeFileSync(join(dir, 'daemon.json.bak-by-hand'), 'mine');
    const versions: string[] = [];
    for (let i = 0; i < 12; i++) {
      versions.push(readFileSync(daemonJson, 'utf8'));
      const at = new Date(NOW.getTime() + Math.floor(i / 2) * 1000);
      await runInstallCommand(i % 2 === 0 ? 'install' : 'uninstall', ['--daemon-json', daemonJson, '--socket', socket], { out: () => undefined, now: () => at });
    }
    const kept = backups().filter((name) => name !== 'daemon.json.bak-by-hand');
    expect(kept).toEqual(['daemon.json.bak-20251125T233003Z-2', 'daemon.json.bak-20251125T233004Z', 'daemon.json.bak-20251125T233004Z-2', 'daemon.json.bak-20251125T233005Z', 'daemon.json.bak-20251125T233005Z-2']);
    expect(kept.map((name) => readFileSync(join(dir, name), 'utf8'))).toEqual(versions.slice(-KEPT_BACKUPS));
    expect(readFileSync(join(dir, 'daemon.json.before-image-access'), 'utf8')).toBe(original);
    expect(readFileSync(join(dir, 'daemon.json.bak-by-hand'), 'utf8')).toBe('mine');
  });

  test('a daemon.json that is a symlink stays one, its target edited', async () => {
    const target = join(dir, 'daemon.json.managed');
    writeFileSync(target, '{"debug":true}');
    symlinkSync(target, daemonJson);
    try {
      await run('install');
      expect(lstatSync(daemonJson).isSymbolicLink()).toBe(true);
      expect(JSON.parse(readFileSync(target, 'utf8'))).toEqual({ debug: true, 'authorization-plugins': ['image-access'] });
    } finally {
      rmSync(target, { force: true });
      for (const name of readdirSync(dir)) if (name.startsWith('daemon.json.managed.bak-')) rmSync(join(dir, name));
    }
  });

  test('a second install writes nothing and makes no second backup', async () => {
    writeFileSync(daemonJson, '{"debug":true}');
    await run('install');
    const after = readFileSync(daemonJson, 'utf8');
    const mtime = statSync(daemonJson).mtimeMs;
    rmSync(join(dir, backups()[0]!));
    await run('install');
    expect(readFileSync(daemonJson, 'utf8')).toBe(after);
    expect(statSync(daemonJson).mtimeMs).toBe(mtime);
    expect(backups()).toEqual([]);
    expect(lines.at(-1)).toMatch(/already lists image-access .*nothing changed/);
  });

  test('refuses to touch a malformed daemon.json and leaves it byte for byte', async () => {
    const broken = '{ "debug": true, \n';
    writeFileSync(daemonJson, broken);
    await expect(run('install')).rejects.toThrow(/refusing to edit .*daemon.json: it is not valid JSON/);
    await expect(run('uninstall')).rejects.toThrow(/refusing to edit/);
    expect(readFileSync(daemonJson, 'utf8')).toBe(broken);
    expect(backups()).toEqual([]);
  });

  test('refuses to add a plugin that does not answer, leaving daemon.json alone', async () => {
    writeFileSync(daemonJson, '{}');
    await expect(run('install', '--socket', join(dir, 'absent.sock'))).rejects.toThrow(/does not answer on .*absent.sock .*daemon.json left unchanged/);
    expect(readFileSync(daemonJson, 'utf8')).toBe('{}');
  });

  test('refuses a socket that answers but is not an authorization plugin', async () => {
    const other = join(dir, 'volume.sock');
    const server: Server = createServer((_req, res) => res.end('{"Implements":["VolumeDriver"]}'));
    await new Promise<void>((resolve) => server.listen(other, resolve));
    try {
      await expect(run('install', '--socket', other)).rejects.toThrow(/implements VolumeDriver, not authz/);
      expect(existsSync(daemonJson)).toBe(false);
    } finally {
      await new Promise((resolve) => server.close(resolve));
    }
  });

  test('uninstall removes only our name, keeps other keys, and backs up', async () => {
    writeFileSync(daemonJson, '{"authorization-plugins":["image-access","other"],"live-restore":true}');
    await run('uninstall');
    expect(JSON.parse(readFileSync(daemonJson, 'utf8'))).toEqual({ 'authorization-plugins': ['other'], 'live-restore': true });
    expect(backups()).toHaveLength(1);
    await run('uninstall');
    expect(lines.at(-1)).toMatch(/does not list image-access/);
  });

  test('uninstall with no daemon.json does nothing and creates nothing', async () => {
    await run('uninstall');
    expect(existsSync(daemonJson)).toBe(false);
  });

  test('rejects unknown options', async () => {
    await expect(run('install', '--force')).rejects.toThrow(/--force/);
  });

  describe('--reload', () => {
    const children: ChildProcess[] = [];
    /**
     * A stand-in dockerd: records each SIGHUP, or exits on it as dockerd does when a plugin fails validation. Resolves
     * once its handler is installed (it says so on stdout), so no signal can reach it before.
     */
    async function standInDaemon(onHup: 'record' | 'exit'): Promise<{ pidfile: string; hups: () => number }> {
      const hupLog = join(dir, `hups-${children.length}`);
      writeFileSync(hupLog, '');
      const handler = onHup === 'record' ? `() => require('fs').appendFileSync(${JSON.stringify(hupLog)}, 'x')` : '() => process.exit(1)';
      const script = `process.on('SIGHUP', ${handler}); process.stdout.write('ready'); setInterval(() => {}, 1000);`;
      const child = spawn(process.execPath, ['-e', script], { stdio: ['ignore', 'pipe', 'ignore'] });
      children.push(child);
      await new Promise((resolve) => child.stdout!.once('data', resolve));
      const pidfile = join(dir, `dockerd-${children.length}.pid`);
      writeFileSync(pidfile, `${child.pid}\n`);
      return { pidfile, hups: () => readFileSync(hupLog, 'utf8').length };
    }

    afterAll(() => {
      for (const child of children) if (child.exitCode === null && child.signalCode === null) child.kill('SIGKILL');
    });

    test('sends the daemon one SIGHUP after writing daemon.json', async () => {
      const daemon = await standInDaemon('record');
      await run('install', '--reload', '--pidfile', daemon.pidfile);
      expect(daemon.hups()).toBe(1);
      expect(lines.at(-1)).toMatch(/reloaded dockerd \(pid \d+\)/);
    });

    test('reports a daemon that exits on the reload', async () => {
      const daemon = await standInDaemon('exit');
      await expect(run('install', '--reload', '--pidfile', daemon.pidfile)).rejects.toThrow(/exited after the reload/);
    });

    test('a pidfile naming no process changes nothing', async () => {
      const pidfile = join(dir, 'stale.pid');
      writeFileSync(pidfile, '999999999');
      await expect(run('install', '--reload', '--pidfile', pidfile)).rejects.toThrow(/cannot reload dockerd: .*not a process id|no process 999999999/);
      await expect(run('install', '--reload', '--pidfile', join(dir, 'missing.pid'))).rejects.toThrow(/cannot read/);
      expect(existsSync(daemonJson)).toBe(false);
    });
  });
});

describe('image-access install without --socket', () => {
  let dir: string;
  beforeEach(() => (dir = mkdtempSync(join(tmpdir(), 'ia-install-'))));
  afterEach(() => rmSync(dir, { recursive: true, force: true }));
  const ID = 'b'.repeat(64);
  const inspect = (enabled: boolean) => async () => JSON.stringify([{ Id: ID, Enabled: enabled, Config: { Interface: { Socket: 'image-access.sock' } } }]);

  test('probes the socket dockerd reports for a managed plugin, by its id', async () => {
    const lines: string[] = [];
    const install = runInstallCommand('install', ['--name', 'acme/image-access:1', '--daemon-json', join(dir, 'daemon.json')], {
      out: (line) => lines.push(line),
      now: () => NOW,
      inspectPlugin: inspect(true),
    });
    await expect(install).rejects.toThrow(`plugin acme/image-access:1 does not answer on /run/docker/plugins/${ID}/image-access.sock`);
    expect(lines).toEqual([`managed plugin acme/image-access:1 (id ${ID.slice(0, 12)}) listens on /run/docker/plugins/${ID}/image-access.sock`]);
    expect(existsSync(join(dir, 'daemon.json'))).toBe(false);
  });

  test('refuses a disabled managed plugin before probing anything', async () => {
    const install = runInstallCommand('install', ['--name', 'ia', '--daemon-json', join(dir, 'daemon.json')], { out: () => undefined, now: () => NOW, inspectPlugin: inspect(false) });
    await expect(install).rejects.toThrow('managed plugin ia is disabled: docker plugin enable ia first; daemon.json left unchanged');
  });

  test('falls back to the legacy socket when dockerd knows no such plugin', async () => {
    const lines: string[] = [];
    const install = runInstallCommand('install', ['--name', 'ia-none', '--daemon-json', join(dir, 'daemon.json')], {
      out: (line) => lines.push(line),
      now: () => NOW,
      inspectPlugin: async () => new Error('Error: No such plugin: ia-none'),
    });
    await expect(install).rejects.toThrow('plugin ia-none does not answer on /run/docker/plugins/ia-none.sock');
    expect(lines).toEqual(['no managed plugin ia-none (docker plugin inspect: Error: No such plugin: ia-none): looking for a legacy plugin on /run/docker/plugins/ia-none.sock']);
  });
});
