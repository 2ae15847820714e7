/**
 * `image-access install --gateway` against the real engine of this run: it asks the running dockerd its version,
 * puts the proxy where that engine reads it (daemon.json from 23.0, which 20.10 refuses to start with; the environment
 * before), and dockerd restarted with the result reports the gateway as its HTTPS proxy. The drop-in's Environment=
 * lines are given to dockerd as systemd would; uninstall leaves a dockerd with no proxy.
 */
import { execFile } from 'node:child_process';
import { existsSync, readFileSync } from 'node:fs';
import { createServer, type Server } from 'node:net';
import { join } from 'node:path';
import { silentLogger } from '../../src/audit/logger';
import { loadOrCreateGatewayCa } from '../../src/gateway/certificate-authority';
import { GATEWAY_DROP_IN } from '../../src/install/gateway-config';
import { makeTempDir, PLUGIN_CLI, REPO_ROOT, removeTempDir, startDaemon, type Daemon } from '../harness';

/** What systemd would put in dockerd's environment from a drop-in's `Environment=KEY=VALUE` lines. */
function dropInEnvironment(text: string): Record<string, string> {
  const env: Record<string, string> = {};
  for (const [, key, value] of text.matchAll(/^Environment=([A-Z_]+)=(.*)$/gm)) env[key!] = value!;
  return env;
}

function imageAccess(args: readonly string[], env: Record<string, string>): Promise<{ code: number; stdout: string; stderr: string }> {
  return new Promise((resolve) => {
    execFile(process.execPath, [PLUGIN_CLI, ...args], { cwd: REPO_ROOT, env: { PATH: process.env.PATH ?? '', ...env }, timeout: 30_000 }, (error, stdout, stderr) =>
      resolve({ code: error ? Number(error.code ?? 1) : 0, stdout, stderr }),
    );
  });
}

jest.setTimeout(180_000);

describe('install --gateway / uninstall --gateway on the real engine', () => {
  let dir: string;
  let daemon: Daemon | undefined;
  let gateway: Server;
  let address: string;
  const original = { debug: false, 'max-concurrent-downloads': 2 };

  beforeAll(async () => {
    dir = makeTempDir();
    await loadOrCreateGatewayCa(join(dir, 'state'), Date.now, silentLogger());
    // Stands for the plugin's gateway: install only checks that something answers there.
    gateway = createServer((socket) => socket.destroy());
    await new Promise<void>((resolve) => gateway.listen(0, '127.0.0.1', resolve));
    address = `127.0.0.1:${(gateway.address() as { port: number }).port}`;
    daemon = await startDaemon(dir, { daemonJson: original });
  });

  afterAll(async () => {
    await daemon?.stop();
    await new Promise((resolve) => gateway.close(resolve));
    removeTempDir(dir);
  });

  const httpsProxyOfDaemon = async () => (await daemon!.docker(['info', '--format', '{{.HTTPSProxy}}'])).stdout.trim();

  test('the proxy goes where this engine reads it, and the restarted dockerd uses the gateway', async () => {
    const systemdDir = join(dir, 'docker.service.d');
    const common = ['--daemon-json', daemon!.configFile, '--systemd-dir', systemdDir];
    const installed = await imageAccess(['install', '--gateway', address, '--docker-socket', daemon!.socket, ...common], { IMAGE_ACCESS_STATE_DIR: join(dir, 'state') });
    expect(installed.stderr).toBe('');
    expect(installed.code).toBe(0);
    const url = `http://${address}`;
    const dropIn = readFileSync(join(systemdDir, GATEWAY_DROP_IN), 'utf8');
    const daemonJson = JSON.parse(readFileSync(daemon!.configFile, 'utf8')) as Record<string, unknown>;
    const env = dropInEnvironment(dropIn);
    expect(env['SSL_CERT_DIR']).toBe(`/etc/ssl/certs:${join(dir, 'state', 'gateway-ca')}`);
    if (daemon!.engine === '20.10') {
      expect(installed.stdout).toMatch(/^Docker Engine 20\.10\.\S+ \(from the daemon on .*docker\.sock\): proxy in the environment/);
      expect(daemonJson).toEqual(original);
      expect(env['HTTPS_PROXY']).toBe(url);
    } else {
      expect(installed.stdout).toMatch(/^Docker Engine 26\.1\.\S+ \(from the daemon on .*docker\.sock\): proxy in daemon\.json/);
      expect(daemonJson).toEqual({ ...original, proxies: { 'https-proxy': url } });
      expect(env['HTTPS_PROXY']).toBeUndefined();
    }

    await daemon!.restart({ daemonJson, env });
    expect(await httpsProxyOfDaemon()).toBe(url);

    const removed = await imageAccess(['uninstall', '--gateway', '--systemd-dir', systemdDir], {});
    expect(removed.code).toBe(0);
    expect(existsSync(join(systemdDir, GATEWAY_DROP_IN))).toBe(false);
    const after = JSON.parse(readFileSync(daemon!.configFile, 'utf8')) as Record<string, unknown>;
    expect(after).toEqual(original);
    await daemon!.restart({ daemonJson: after });
    expect(await httpsProxyOfDaemon()).toBe('');
  });
});
