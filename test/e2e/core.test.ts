import { existsSync, readdirSync, readFileSync } from 'node:fs';
import { LEGACY_SPEC_DIR, startEngine, type Engine } from '../harness';

/**
 * Real dockerd, real docker CLI, real plugin process, on the embedded default policy (organization "acme"), for a
 * machine nobody signed in on: enforced sign-in is off so that the image categories alone decide.
 */
jest.setTimeout(300_000);

const SETTINGS = { IMAGE_ACCESS_POLICY: 'builtin', IMAGE_ACCESS_ORG: 'acme', IMAGE_ACCESS_REQUIRE_SIGNIN: 'off', IMAGE_ACCESS_ADMIN_CONTACT: '#docker-help on chat' };

describe('image-access in front of a real Docker engine (builtin policy, organization acme)', () => {
  let engine: Engine | undefined;

  beforeAll(async () => {
    engine = await startEngine({ plugin: { env: SETTINGS } });
  });

  afterAll(async () => {
    await engine?.stop();
  });

  const docker = (...args: string[]) => engine!.docker(args);

  it('allows a Docker Official Image: docker pull alpine', async () => {
    const result = await docker('pull', 'alpine');
    expect(result.stderr).toBe('');
    expect(result.code).toBe(0);
    expect(result.stdout).toContain('docker.io/library/alpine:latest');
  });

  it('denies a community image with a message the developer can act on', async () => {
    const result = await docker('pull', 'someone/app:1.0');
    expect(result.code).not.toBe(0);
    expect(result.stderr).toContain(
      `authorization denied by plugin ${engine!.plugin!.name}: Image Access Management: docker.io/someone/app:1.0 is a community image, ` +
        'and organization "acme" only allows',
    );
    expect(result.stderr).toContain('Ask an owner of "acme"');
    expect(result.stderr).toContain("Note: this is image-access's embedded demo policy, for `make run` and demos only");
    // The rule, who the plugin saw and where it looked, and whom to ask.
    expect(result.stderr).toMatch(
      /\[image-access: rule category-not-allowed; nobody is signed in \(looked in the X-Registry-Auth header, the TLS client certificate, \/\S+\/config\.json\)\. Help: #docker-help on chat\]/,
    );
    const images = await docker('images', '--format', '{{.Repository}}:{{.Tag}}');
    expect(images.stdout).not.toContain('someone/app');
  });

  it("allows the organization's own images: docker pull acme/app", async () => {
    const result = await docker('pull', 'acme/app');
    expect(result.code).toBe(0);
    expect(result.stdout).toContain('docker.io/acme/app:latest');
  });

  it('allows a Verified Publisher image: docker pull bitnami/redis', async () => {
    const result = await docker('pull', 'bitnami/redis');
    expect(result.code).toBe(0);
    expect(result.stdout).toContain('docker.io/bitnami/redis:latest');
  });

  it('leaves requests that bring no image alone: docker ps, docker images', async () => {
    const ps = await docker('ps', '-a');
    expect(ps.code).toBe(0);
    expect(ps.stdout).toContain('CONTAINER ID');
    const images = await docker('images', '--format', '{{.Repository}}:{{.Tag}}');
    expect(images.code).toBe(0);
    expect(images.stdout.split('\n').sort()).toEqual(expect.arrayContaining(['alpine:latest', 'acme/app:latest', 'bitnami/redis:latest']));
  });

  it('runs a container from an allowed image (create, start, attach, wait all pass through)', async () => {
    const run = await docker('run', '--rm', '--network', 'none', 'alpine', 'echo', 'hello from alpine');
    expect(run.stderr).toBe('');
    expect(run.stdout.trim()).toBe('hello from alpine');
  });

  it('logs one decision line per image request, the denial included', () => {
    const decisions = engine!.plugin!.logLines().filter((line) => line['message'] === 'image decision');
    expect(decisions.map((line) => [line['image'], line['decision']])).toEqual([
      ['docker.io/library/alpine:latest', 'allow'],
      ['docker.io/someone/app:1.0', 'deny'],
      ['docker.io/acme/app:latest', 'allow'],
      ['docker.io/bitnami/redis:latest', 'allow'],
    ]);
  });

  it('still enforces after dockerd restarts on the same data root', async () => {
    await engine!.daemon.restart();
    expect((await docker('images', '--format', '{{.Repository}}')).stdout).toContain('alpine');
    const denied = await docker('pull', 'someone/app:1.0');
    expect(denied.stderr).toContain(`authorization denied by plugin ${engine!.plugin!.name}: Image Access Management:`);
    expect((await docker('pull', 'library/busybox')).code).toBe(0);
  });

  it('answers again once the plugin process is restarted', async () => {
    await engine!.plugin!.restart();
    const denied = await docker('pull', 'someone/app:1.0');
    expect(denied.code).not.toBe(0);
    expect(denied.stderr).toContain('is a community image');
    expect((await docker('pull', 'alpine')).code).toBe(0);
  });
});

const alive = (pid: number) => existsSync(`/proc/${pid}`);
/** Pids of every process whose command line mentions `dir`: dockerd's containerd, shims, anything left behind. */
const processesUsing = (dir: string) =>
  readdirSync('/proc')
    .filter((entry) => /^\d+$/.test(entry))
    .filter((pid) => {
      try {
        return readFileSync(`/proc/${pid}/cmdline`, 'utf8').includes(dir);
      } catch {
        return false;
      }
    });

describe('harness teardown', () => {
  it('stops everything it started and removes its traces, even when the test body throws', async () => {
    const engine = await startEngine({ plugin: { env: SETTINGS } });
    const started = [engine.registry.process.pid, engine.plugin!.process.pid, engine.daemon.process.pid];
    const children = processesUsing(engine.dir).map(Number);
    const failingTest = async () => {
      try {
        // The plugin's command line names no harness path (its socket comes from the environment); containerd's does,
        // unless dockerd found a system containerd to use.
        expect(children).toEqual(expect.arrayContaining([engine.registry.process.pid, engine.daemon.process.pid]));
        if (!existsSync('/run/containerd/containerd.sock')) expect(children.length).toBeGreaterThan(2);
        expect((await engine.docker(['pull', 'alpine'])).code).toBe(0);
        throw new Error('a failing assertion');
      } finally {
        await engine.stop();
      }
    };
    await expect(failingTest()).rejects.toThrow('a failing assertion');
    expect([...started, ...children].filter(alive)).toEqual([]);
    expect(processesUsing(engine.dir)).toEqual([]);
    expect(existsSync(`${LEGACY_SPEC_DIR}/${engine.plugin!.name}.spec`)).toBe(false);
    if (process.env['IA_KEEP_TMP'] !== '1') expect(existsSync(engine.dir)).toBe(false);
  });
});
