import { DEFAULT_HUB_IMAGES, httpRequest, startEngine, type DockerResult, type Engine } from '../harness';

/**
 * Red-team findings on the real engine (issue 11): requests that make dockerd fetch from a registry, and names under
 * which it reaches the Docker Hub mirror, are all judged as the pull they amount to. Policy: the embedded one,
 * organization "acme": someone/app is a community image, denied; alpine is official, allowed.
 */
jest.setTimeout(300_000);

const ENV = { IMAGE_ACCESS_POLICY: 'builtin', IMAGE_ACCESS_ORG: 'acme', IMAGE_ACCESS_REQUIRE_SIGNIN: 'off', IMAGE_ACCESS_DAEMON_JSON: '' };

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
