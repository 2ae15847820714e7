import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { chunkedBody, rawHttpRequest, startEngine, type Engine } from '../harness';

/**
 * Attempts to get a denied Docker Hub image onto the host, or to stall the plugin, through what the real engines
 * (dockerd 20.10 and 26.1) accept but the plugin might read differently. Each case is sent as raw HTTP on the daemon socket
 * (or with the docker CLI), so the headers and body are exactly what the engine parses.
 * Policy: the embedded one, organization "acme": someoss/tool and someone/app are community images, denied.
 */
jest.setTimeout(300_000);

/** The host's own daemon.json is not read: what a test names as mirrors is all the plugin knows. */
const ENV = { IMAGE_ACCESS_POLICY: 'builtin', IMAGE_ACCESS_ORG: 'acme', IMAGE_ACCESS_REQUIRE_SIGNIN: 'off', IMAGE_ACCESS_DAEMON_JSON: '' };

describe('bypass attempts, real engine', () => {
  let engine: Engine | undefined;
  const images = async (name: string) => (await engine!.docker(['images', '-q', name])).stdout.trim();
  const raw = (head: string, body?: string) => rawHttpRequest(engine!.daemon.socket, head, body);

  beforeAll(async () => {
    engine = await startEngine({ plugin: { env: ENV } });
  });

  afterAll(async () => {
    await engine?.stop();
  });

  describe('a form body the plugin is told is something else', () => {
    // dockerd passes the plugin the LAST value of a repeated header, but Go's ParseForm reads the FIRST Content-Type:
    // a form body then overrides the query's fromImage, which is all the plugin judges.
    afterEach(async () => {
      await engine!.docker(['rmi', '-f', 'someoss/tool']);
    });

    it('two Content-Type headers (form first), Content-Length body: refused, nothing pulled', async () => {
      const body = 'fromImage=someoss%2Ftool';
      const reply = await raw(
        'POST /v1.41/images/create?fromImage=alpine HTTP/1.1\nHost: docker\nContent-Type: application/x-www-form-urlencoded\n' +
          `Content-Type: text/plain\nContent-Length: ${body.length}\n`,
        body,
      );
      expect(reply.status).toBe(403);
      expect(reply.text).toContain('not forwarded for checking');
      expect(await images('someoss/tool')).toBe('');
    });

    it('two Content-Type headers (form first), chunked body (no Content-Length reaches the plugin): refused, nothing pulled', async () => {
      const reply = await raw(
        'POST /v1.41/images/create?fromImage=alpine HTTP/1.1\nHost: docker\nContent-Type: application/x-www-form-urlencoded\n' +
          'Content-Type: application/json\nTransfer-Encoding: chunked\n',
        chunkedBody('fromImage=someoss%2Ftool'),
      );
      expect(reply.status).toBe(403);
      expect(reply.text).toContain('not forwarded for checking');
      expect(await images('someoss/tool')).toBe('');
    });

    it('docker pull and a bodiless API pull still work', async () => {
      expect((await engine!.docker(['pull', 'alpine'])).code).toBe(0);
      const reply = await raw('POST /v1.41/images/create?fromImage=alpine&tag=latest HTTP/1.1\nHost: docker\n');
      expect(reply.status).toBe(200);
      const old = await raw('POST /v1.41/images/create?fromImage=alpine&tag=latest HTTP/1.1\nHost: docker\nContent-Type: text/plain\nContent-Length: 0\n');
      expect(old.status).toBe(200);
    });
  });

  describe('Docker Hub under another spelling', () => {
    // Go dials port "0443" as 443: dockerd pulls registry-1.docker.io:0443/x straight from Docker Hub, past the mirror.
    it.each(['registry-1.docker.io:0443/someone/app:1.0', 'index.docker.io:00443/someone/app:1.0', 'Registry-1.Docker.IO:443/someone/app:1.0'])(
      'docker pull %s is judged as Docker Hub',
      async (image) => {
        const pulled = await engine!.docker(['pull', image]);
        expect(pulled.code).not.toBe(0);
        expect(pulled.stderr).toContain(`authorization denied by plugin ${engine!.plugin!.name}: `);
        expect(pulled.stderr).toContain('docker.io/someone/app:1.0 is a community image');
      },
    );
  });

  describe("Docker Hub through the daemon's own registry mirror", () => {
    // The mirror serves Docker Hub's repositories under their Hub names; named directly, it is not "another registry".
    const mirrored = () => `${engine!.registry.address}/someone/app:1.0`;
    afterAll(() => engine!.plugin!.restart({ env: ENV }));

    it('with IMAGE_ACCESS_HUB_MIRRORS naming it, docker pull MIRROR/someone/app:1.0 is judged as Docker Hub', async () => {
      await engine!.plugin!.restart({ env: { ...ENV, IMAGE_ACCESS_HUB_MIRRORS: `http://${engine!.registry.address}/` } });
      const pulled = await engine!.docker(['pull', mirrored()]);
      expect(pulled.stderr).toContain(`authorization denied by plugin ${engine!.plugin!.name}: `);
      expect(pulled.stderr).toContain('docker.io/someone/app:1.0 is a community image');
      expect(await images(`${engine!.registry.address}/someone/app`)).toBe('');
      expect((await engine!.docker(['pull', `${engine!.registry.address}/library/alpine`])).code).toBe(0);
    });

    it('so is the loopback mirror named localhost instead of 127.0.0.1 (the engine reaches it either way)', async () => {
      const alias = `localhost:${engine!.registry.address.split(':')[1]}/someone/app:1.0`;
      const pulled = await engine!.docker(['pull', alias]);
      expect(pulled.stderr).toContain('docker.io/someone/app:1.0 is a community image');
      expect(await images(alias.replace(/:1\.0$/, ''))).toBe('');
    });

    it("with the mirror in daemon.json's registry-mirrors (IMAGE_ACCESS_DAEMON_JSON), it is judged as Docker Hub", async () => {
      const daemonJson = join(engine!.dir, 'daemon-with-mirror.json');
      writeFileSync(daemonJson, JSON.stringify({ 'registry-mirrors': [`http://${engine!.registry.address}`] }));
      await engine!.plugin!.restart({ env: { ...ENV, IMAGE_ACCESS_DAEMON_JSON: daemonJson } });
      const pulled = await engine!.docker(['pull', mirrored()]);
      expect(pulled.stderr).toContain(`authorization denied by plugin ${engine!.plugin!.name}: `);
      expect(pulled.stderr).toContain('docker.io/someone/app:1.0 is a community image');
      expect(await images(`${engine!.registry.address}/someone/app`)).toBe('');
    });

    it('without it, the mirror is another registry and the community image is pulled (README, security model)', async () => {
      await engine!.plugin!.restart({ env: ENV });
      expect((await engine!.docker(['pull', mirrored()])).code).toBe(0);
      await engine!.docker(['rmi', '-f', mirrored()]);
    });
  });

  describe('a reference that keeps the plugin busy', () => {
    // An invalid reference is masked for credentials before it is quoted; the mask was quadratic in its length.
    it('a 500 kB invalid fromImage is refused at once, and docker ps is not held up', async () => {
      const started = Date.now();
      const target = `/v1.41/images/create?fromImage=${'a:'.repeat(250_000)}`;
      const reply = await rawHttpRequest(engine!.daemon.socket, `POST ${target} HTTP/1.1\nHost: docker\n`, '', 20_000);
      expect(reply.status).toBe(403);
      expect(Date.now() - started).toBeLessThan(10_000);
      const ps = await engine!.docker(['ps']);
      expect(ps.code).toBe(0);
    });
  });

  describe('known limitation (README, security model): IMAGE_ACCESS_ALLOW_IMPORT=true', () => {
    beforeAll(() => engine!.plugin!.restart({ env: { ...ENV, IMAGE_ACCESS_ALLOW_IMPORT: 'true' } }));
    afterAll(() => engine!.plugin!.restart({ env: ENV }));

    it('an allowed import whose hidden form body names fromImage is pulled by the engine', async () => {
      const reply = await raw(
        'POST /v1.41/images/create?fromSrc=- HTTP/1.1\nHost: docker\nContent-Type: application/x-www-form-urlencoded\n' +
          'Content-Type: text/plain\nTransfer-Encoding: chunked\n',
        chunkedBody('fromImage=someoss%2Ftool'),
      );
      expect(reply.status).toBe(200);
      expect(reply.text).toContain('Pulling from someoss/tool');
      expect(await images('someoss/tool')).not.toBe('');
      await engine!.docker(['rmi', '-f', 'someoss/tool']);
    });
  });
});
