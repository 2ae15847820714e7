import { join } from 'node:path';
import { buildxBuild, classicBuild, compose, ENGINE, startEngine, writeBuildContext, type DockerResult, type DockerRunner, type Engine } from '../harness';

/**
 * The engine matrix's own check: the run's engine (IA_ENGINE) is the dockerd that answers, and on it both builders
 * (BuildKit through buildx, the classic builder) and docker compose work with the plugin in the chain. Engines run
 * with --bridge=none, so the Dockerfile has no RUN step.
 */
jest.setTimeout(300_000);

const ENV = { IMAGE_ACCESS_POLICY: 'builtin', IMAGE_ACCESS_ORG: 'acme', IMAGE_ACCESS_REQUIRE_SIGNIN: 'off' };
const DOCKERFILE = 'FROM alpine\nLABEL org.example.built-by=BUILDER\nCOPY hello.txt /hello.txt\n';

describe(`builders and compose on dockerd ${ENGINE}`, () => {
  let engine: Engine | undefined;
  // Options too: classicBuild's DOCKER_BUILDKIT=0 travels in them (dropped, docker build is buildx).
  const docker: DockerRunner = (args, options) => engine!.docker(args, options);
  const context = (builder: string) =>
    writeBuildContext(join(engine!.dir, `ctx-${builder}`), { Dockerfile: DOCKERFILE.replace('BUILDER', builder), 'hello.txt': 'hello\n' });
  const label = async (image: string) =>
    (await docker(['image', 'inspect', '--format', '{{index .Config.Labels "org.example.built-by"}}', image])).stdout.trim();
  const expectOk = (result: DockerResult) => expect({ code: result.code, stderr: result.stderr }).toMatchObject({ code: 0 });

  beforeAll(async () => {
    engine = await startEngine({ plugin: { env: ENV } });
  });

  afterAll(async () => {
    await engine?.stop();
  });

  it(`the daemon is dockerd ${ENGINE}, the engine IA_ENGINE names`, async () => {
    const version = await docker(['version', '--format', '{{.Server.Version}}']);
    expectOk(version);
    expect(version.stdout.trim().startsWith(`${ENGINE}.`)).toBe(true);
    expect(engine!.daemon.engine).toBe(ENGINE);
  });

  it('docker buildx build (BuildKit, built-in builder) builds FROM alpine into the engine', async () => {
    expectOk(await buildxBuild(docker, context('buildkit'), { tag: 'acme/built:buildkit' }));
    expect(await label('acme/built:buildkit')).toBe('buildkit');
  });

  it('DOCKER_BUILDKIT=0 docker build (classic builder) builds FROM alpine', async () => {
    const built = await classicBuild(docker, context('classic'), { tag: 'acme/built:classic' });
    expectOk(built);
    expect(built.stdout).toContain('Sending build context to Docker daemon');
    expect(await label('acme/built:classic')).toBe('classic');
  });

  describe('docker compose', () => {
    let file: string;

    beforeAll(() => {
      const dir = writeBuildContext(join(engine!.dir, 'compose'), {
        'compose.yaml': [
          'services:',
          '  official:',
          '    image: busybox',
          '  community:',
          '    image: someone/app:1.0',
          '  built:',
          '    image: acme/composed:1',
          '    build: ./app',
          '',
        ].join('\n'),
        'app/Dockerfile': DOCKERFILE.replace('BUILDER', 'compose'),
        'app/hello.txt': 'hello\n',
      });
      file = join(dir, 'compose.yaml');
    });

    it('pull brings an allowed image and is denied a community one by the plugin', async () => {
      expectOk(await compose(docker, file, ['pull', 'official']));
      expect((await docker(['image', 'inspect', 'busybox'])).code).toBe(0);
      const denied = await compose(docker, file, ['pull', 'community']);
      expect(denied.code).not.toBe(0);
      expect(denied.stderr).toContain(`authorization denied by plugin ${engine!.plugin!.name}`);
      expect((await docker(['image', 'inspect', 'someone/app:1.0'])).code).not.toBe(0);
    });

    it('build builds a service', async () => {
      expectOk(await compose(docker, file, ['build', 'built']));
      expect(await label('acme/composed:1')).toBe('compose');
    });
  });
});
