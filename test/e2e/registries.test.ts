import { readFileSync } from 'node:fs';
import { DEFAULT_HUB_IMAGES, httpRequest, startEngine, type DockerResult, type Engine } from '../harness';

/**
 * Red-team findings on the real engine (issue 11): requests that make dockerd fetch from a registry, and names under
 * which it reaches the Docker Hub mirror, are all judged as the pull they amount to. Policy: the embedded one,
 * organization "acme": someone/app is a community image, denied; alpine is official, allowed.
 */
jest.setTimeout(300_000);

const ENV = { IMAGE_ACCESS_POLICY: 'builtin', IMAGE_ACCESS_ORG: 'acme', IMAGE_ACCESS_REQUIRE_SIGNIN: 'off', IMAGE_ACCESS_DAEMON_JSON: '' };

/** A name /etc/hosts gives 127.0.0.1 other than localhost (Debian puts the host name there): the mirror under another name. */
function hostsAliasOfLoopback(): string {
  for (const line of readFileSync('/etc/hosts', 'utf8').split('\n')) {
    const [address, ...names] = line.replace(/#.*/, '').trim().split(/\s+/);
    const alias = names.find((name) => name !== 'localhost' && /^[a-z0-9-]+$/i.test(name));
    if (address === '127.0.0.1' && alias !== undefined) return alias.toLowerCase();
  }
  throw new Error('this test needs a name other than localhost for 127.0.0.1 in /etc/hosts (e.g. the host name)');
}

describe('registry fetches and registry names, real engine', () => {
  let engine: Engine | undefined;

  const api = (method: string, path: string) => httpRequest({ socketPath: engine!.daemon.socket, path }, { method, timeoutMs: 60_000 });
  const expectDenied = (result: DockerResult, ...parts: string[]) => {
    expect(result.stderr).toContain(`authorization denied by plugin ${engine!.plugin!.name}: `);
    for (const part of parts) expect(result.stderr).toContain(part);
    expect(result.code).not.toBe(0);
  };

  beforeAll(async () => {
    // `someone:1.0` is a repository of the mirror itself, which no Docker Hub name reaches.
    engine = await startEngine({ images: [...DEFAULT_HUB_IMAGES, 'someone:1.0'], plugin: { env: ENV } });
  });

  afterAll(async () => {
    await engine?.stop();
  });

  describe("the daemon's Docker Hub mirror, named directly (IMAGE_ACCESS_HUB_MIRRORS names it 127.0.0.1:PORT)", () => {
    const port = () => engine!.registry.address.split(':')[1]!;
    beforeAll(() => engine!.plugin!.restart({ env: { ...ENV, IMAGE_ACCESS_HUB_MIRRORS: engine!.registry.address } }));
    afterAll(() => engine!.plugin!.restart({ env: ENV }));

    it('an /etc/hosts name of the mirror is the mirror: its someone/app is Docker Hub\'s, a community image', async () => {
      expectDenied(await engine!.docker(['pull', `${hostsAliasOfLoopback()}:${port()}/someone/app:1.0`]), 'docker.io/someone/app:1.0 is a community image');
    });

    it('so is its IPv4-mapped IPv6 address (26.1 pulls through it; 20.10 refuses the reference after the plugin was asked)', async () => {
      expectDenied(await engine!.docker(['pull', `[::ffff:7f00:1]:${port()}/someone/app:1.0`]), 'docker.io/someone/app:1.0 is a community image');
    });

    it("MIRROR/someone:1.0 is the mirror's repository someone, not the official docker.io/library/someone", async () => {
      expectDenied(await engine!.docker(['pull', `${engine!.registry.address}/someone:1.0`]), 'docker.io/someone:1.0 is a community image');
      expectDenied(await engine!.docker(['pull', `${engine!.registry.address}/library/someone/app:1.0`]), 'docker.io/library/someone/app:1.0 is a community image');
    });

    it("MIRROR/library/alpine is Docker Hub's official alpine, and is pulled", async () => {
      const pulled = await engine!.docker(['pull', `${engine!.registry.address}/library/alpine`]);
      expect(pulled.stderr).not.toContain('authorization denied');
      expect(pulled.code).toBe(0);
    });
  });

  it('docker pull constructor/app:1.0 is a community image like any other namespace (it found Object.prototype)', async () => {
    expectDenied(await engine!.docker(['pull', 'constructor/app:1.0']), 'docker.io/constructor/app:1.0 is a community image');
  });

  describe('routes that fetch from a registry without pulling', () => {
    it('docker plugin install of a community image is denied at its first request, GET /plugins/privileges', async () => {
      expectDenied(await engine!.docker(['plugin', 'install', '--grant-all-permissions', 'someone/app:1.0']), 'docker.io/someone/app:1.0 is a community image');
      const privileges = await api('GET', '/v1.41/plugins/privileges?remote=someone%2Fapp%3A1.0');
      expect(privileges.status).toBe(403);
      expect(privileges.body).toContain('docker.io/someone/app:1.0 is a community image');
    });

    it('GET /distribution/{name}/json of a community image is denied; of an official image it is answered', async () => {
      const denied = await api('GET', '/v1.41/distribution/someone/app:1.0/json');
      expect(denied.status).toBe(403);
      expect(denied.body).toContain('docker.io/someone/app:1.0 is a community image');
      const allowed = await api('GET', '/v1.41/distribution/alpine:latest/json');
      expect(allowed.body).not.toContain('authorization denied');
      expect(allowed.status).toBe(200);
    });
  });
});
