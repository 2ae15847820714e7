import { existsSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { buildxBuild, classicBuild, compose, ENGINE, makeTempDir, removeTempDir, startEngine, waitUntil, writeBuildContext, type DockerResult, type DockerRunner, type Engine } from '../harness';

/**
 * The registry gateway on the real engine: dockerd reaches "Docker Hub" (the stand-in registry) only through the
 * plugin's gateway (HTTPS_PROXY + the gateway CA in SSL_CERT_DIR, no registry mirror), so builds are judged like
 * pulls: both builders and compose, FROM allowed and denied images. Engines run with --bridge=none: no RUN steps.
 */
jest.setTimeout(300_000);

interface AuditRecord {
  readonly image: string;
  readonly decision: string;
  readonly rule: string;
  readonly via: string;
  readonly user: string | null;
}

describe(`registry gateway on dockerd ${ENGINE}`, () => {
  let engine: Engine | undefined;
  const fixtures = makeTempDir();
  const policyFile = join(fixtures, 'policy.json');
  const auditLog = join(fixtures, 'audit.log');
  const docker: DockerRunner = (args, options) => engine!.docker(args, options);
  let contexts = 0;
  const context = (dockerfile: string) => writeBuildContext(join(fixtures, `ctx-${++contexts}`), { Dockerfile: dockerfile, 'hello.txt': 'hi\n' });
  const audit = (): AuditRecord[] =>
    (existsSync(auditLog) ? readFileSync(auditLog, 'utf8') : '')
      .split('\n')
      .filter((line) => line !== '')
      .map((line) => JSON.parse(line) as AuditRecord);
  const auditSince = (count: number) => audit().slice(count);
  const expectOk = (result: DockerResult) => expect({ code: result.code, stderr: result.stderr }).toMatchObject({ code: 0 });
  const DENIED = 'image access restricted: Image Access Management: docker.io/someone/app:1.0 is a community image';
  let reloads = 0;
  /** Rewrites the policy file and waits until the plugin has reloaded it. */
  const writePolicy = async (extra: Record<string, unknown> = {}) => {
    writeFileSync(
      policyFile,
      JSON.stringify({ organization: 'acme', restricted_images: { enabled: true, allow_official_images: true, allow_verified_publishers: true }, ...extra }),
    );
    if (engine === undefined) return;
    reloads += 1;
    await waitUntil('the plugin to reload its policy file', async () => (engine!.plugin!.logText().match(/policy file reloaded/g) ?? []).length >= reloads, {
      timeoutMs: 20_000,
      intervalMs: 100,
    });
  };

  beforeAll(async () => {
    await writePolicy();
    engine = await startEngine({
      gateway: true,
      plugin: {
        env: {
          IMAGE_ACCESS_POLICY: policyFile,
          IMAGE_ACCESS_USER: 'olivia',
          IMAGE_ACCESS_REQUIRE_SIGNIN: 'off',
          IMAGE_ACCESS_AUDIT_LOG: auditLog,
        },
      },
    });
  });

  afterAll(async () => {
    await engine?.stop();
    removeTempDir(fixtures);
  });

  it('is what the engine was given: no registry mirror, the gateway as its HTTPS proxy', async () => {
    const info = await docker(['info', '--format', '{{len .RegistryConfig.Mirrors}} {{.HTTPSProxy}}']);
    expectOk(info);
    expect(info.stdout.trim()).toBe(`0 http://${engine!.gateway!}`);
  });

  it('docker pull of an allowed image goes through the gateway, judged on both ways in', async () => {
    const before = audit().length;
    expectOk(await docker(['pull', 'alpine']));
    expect(auditSince(before)).toEqual(
      expect.arrayContaining([
        expect.objectContaining({ image: 'docker.io/library/alpine:latest', decision: 'allow', rule: 'official-allowed', via: 'authz' }),
        expect.objectContaining({ image: 'docker.io/library/alpine:latest', decision: 'allow', rule: 'official-allowed', via: 'gateway' }),
      ]),
    );
  });

  it('the classic builder cannot build FROM a denied image: the explanatory message and an audit line', async () => {
    const before = audit().length;
    const built = await classicBuild(docker, context('FROM someone/app:1.0\nLABEL x=1\n'), { tag: 'acme/denied:classic' });
    expect(built.code).not.toBe(0);
    expect(built.stdout).toContain('Sending build context to Docker daemon');
    expect(built.stderr).toContain(DENIED);
    expect(auditSince(before)).toContainEqual(
      expect.objectContaining({ image: 'docker.io/someone/app:1.0', decision: 'deny', rule: 'category-not-allowed', via: 'gateway', user: 'olivia' }),
    );
  });

  it('the classic builder builds FROM an official image and FROM the organisation\'s own', async () => {
    expectOk(await classicBuild(docker, context('FROM alpine\nCOPY hello.txt /\n'), { tag: 'acme/ok:official' }));
    expectOk(await classicBuild(docker, context('FROM acme/app\nCOPY hello.txt /\n'), { tag: 'acme/ok:own' }));
  });

  it('BuildKit (docker buildx build) cannot build FROM a denied image, and says why in the status line', async () => {
    const before = audit().length;
    const built = await buildxBuild(docker, context('FROM someone/app:1.0\nLABEL x=1\n'), { tag: 'acme/denied:buildkit' });
    expect(built.code).not.toBe(0);
    expect(built.stderr).toContain('403 image access restricted: Image Access Management: docker.io/someone/app:1.0 is a community image');
    expect(auditSince(before)).toContainEqual(expect.objectContaining({ image: 'docker.io/someone/app:1.0', decision: 'deny', via: 'gateway' }));
  });

  it('BuildKit builds FROM allowed images', async () => {
    expectOk(await buildxBuild(docker, context('FROM alpine\nCOPY hello.txt /\n'), { tag: 'acme/ok:buildkit' }));
    expectOk(await buildxBuild(docker, context('FROM acme/app\nCOPY hello.txt /\n'), { tag: 'acme/ok:buildkit-own' }));
  });

  it('a multi-stage build with one denied stage fails, with either builder', async () => {
    const dockerfile = 'FROM alpine AS base\nCOPY hello.txt /\nFROM someone/app:1.0 AS tool\nFROM base\nCOPY --from=tool /bin/busybox /x\n';
    const classic = await classicBuild(docker, context(dockerfile), { tag: 'acme/multi:classic' });
    expect(classic.code).not.toBe(0);
    expect(classic.stderr).toContain(DENIED);
    const buildkit = await buildxBuild(docker, context(dockerfile), { tag: 'acme/multi:buildkit' });
    expect(buildkit.code).not.toBe(0);
    expect(buildkit.stderr).toContain('403 image access restricted');
  });

  it('docker compose build and pull are judged the same way', async () => {
    const dir = context('FROM someone/app:1.0\nLABEL x=1\n');
    const file = join(dir, 'compose.yaml');
    writeFileSync(file, `services:\n  built:\n    build: .\n    image: acme/composed:1\n  pulled:\n    image: busybox:latest\n  denied:\n    image: someone/app:1.0\n`);
    const built = await compose(docker, file, ['build']);
    expect(built.code).not.toBe(0);
    expect(built.stderr).toContain('image access restricted');
    expectOk(await compose(docker, file, ['pull', 'pulled']));
    const denied = await compose(docker, file, ['pull', 'denied']);
    expect(denied.code).not.toBe(0);
    expect(denied.stderr).toContain('docker.io/someone/app:1.0 is a community image');
  });

  it('an owner builds anything', async () => {
    await writePolicy({ owners: ['olivia'] });
    expectOk(await classicBuild(docker, context('FROM someone/app:1.0\nLABEL x=1\n'), { tag: 'acme/owner:classic' }));
    expectOk(await buildxBuild(docker, context('FROM someoss/tool\nLABEL x=1\n'), { tag: 'acme/owner:buildkit' }));
  });

  it('with a registry allowlist, a build FROM a registry not on it is refused at the connection', async () => {
    await writePolicy({ registry_allowlist: ['docker.io'] });
    const before = audit().length;
    const built = await classicBuild(docker, context('FROM ghcr.io/acme/tool:1\nLABEL x=1\n'), { tag: 'acme/ram:classic' });
    expect(built.code).not.toBe(0);
    expect(built.stderr).toContain('Registry Access Management: dockerd may not connect to ghcr.io:443');
    expect(auditSince(before)).toContainEqual(expect.objectContaining({ image: 'ghcr.io:443', decision: 'deny', rule: 'registry-not-allowed', via: 'gateway' }));
    // Docker Hub is on the list: its builds go on.
    expectOk(await buildxBuild(docker, context('FROM alpine\nLABEL x=1\n'), { tag: 'acme/ram:hub' }));
  });
});

describe(`registry gateway and dockerd's registry mirrors, on dockerd ${ENGINE}`, () => {
  const ENV = { IMAGE_ACCESS_POLICY: 'builtin', IMAGE_ACCESS_ORG: 'acme', IMAGE_ACCESS_REQUIRE_SIGNIN: 'off' };
  const fixtures = makeTempDir();
  const context = (name: string, dockerfile: string) => writeBuildContext(join(fixtures, name), { Dockerfile: dockerfile });

  afterAll(() => removeTempDir(fixtures));

  describe('the gateway fronts the mirror (registry-mirrors: the gateway; it forwards to the mirror)', () => {
    let engine: Engine | undefined;
    const docker: DockerRunner = (args, options) => engine!.docker(args, options);

    beforeAll(async () => {
      engine = await startEngine({ gateway: true, gatewayMirror: 'fronted', plugin: { env: ENV } });
    });

    afterAll(async () => {
      await engine?.stop();
    });

    it('builds FROM allowed images through the mirror, and refuses denied ones with both builders', async () => {
      const ok = await buildxBuild(docker, context('front-ok', 'FROM alpine\nLABEL x=1\n'), { tag: 'acme/front:ok' });
      expect({ code: ok.code, stderr: ok.stderr }).toMatchObject({ code: 0 });
      const classic = await classicBuild(docker, context('front-denied', 'FROM someone/app:1.0\nLABEL x=1\n'), { tag: 'acme/front:denied' });
      expect(classic.code).not.toBe(0);
      expect(classic.stderr).toContain('image access restricted: Image Access Management: docker.io/someone/app:1.0 is a community image');
      const buildkit = await buildxBuild(docker, context('front-denied-bk', 'FROM someone/app:1.0\nLABEL x=1\n'), { tag: 'acme/front:denied-bk' });
      expect(buildkit.code).not.toBe(0);
      expect(buildkit.stderr).toContain('image access restricted');
      // Both asked the gateway as the mirror (origin-form), never the stand-in Hub directly.
      const decisions = engine!.plugin!.logLines().filter((line) => line['message'] === 'image decision' && line['via'] === 'gateway');
      expect(decisions.map((line) => [line['image'], line['decision']])).toEqual(
        expect.arrayContaining([
          ['docker.io/library/alpine:latest', 'allow'],
          ['docker.io/someone/app:1.0', 'deny'],
        ]),
      );
    });
  });

  describe('a mirror the gateway does not front', () => {
    let engine: Engine | undefined;
    const docker: DockerRunner = (args, options) => engine!.docker(args, options);

    beforeAll(async () => {
      engine = await startEngine({ gateway: true, gatewayMirror: 'around', plugin: { env: ENV } });
    });

    afterAll(async () => {
      await engine?.stop();
    });

    it('refuses builds, saying which mirror gets past the gateway and what fixes it; pulls are judged as ever', async () => {
      // The classic builder shows the refusal as it is (buildx, refused the engine's BuildKit, tries another builder).
      const built = await classicBuild(docker, context('around', 'FROM alpine\nLABEL x=1\n'), { tag: 'acme/around:1' });
      expect(built.code).not.toBe(0);
      expect(built.stderr).toContain(
        `Building images (docker build, BuildKit) is not allowed on this host, because builders fetch FROM images through the registry mirror ${engine!.registry.address.replace('127.0.0.1', 'localhost')}, which the image-access registry gateway does not see`,
      );
      expect((await docker(['pull', 'alpine'])).code).toBe(0);
      expect((await docker(['pull', 'someone/app:1.0'])).code).not.toBe(0);
      expect(engine!.plugin!.logText()).toContain('registry mirrors bypass the registry gateway');
    });
  });
});
