import { execFile } from 'node:child_process';
import { existsSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { httpRequest, PLUGIN_CLI, REPO_ROOT, startEngine, type Engine } from '../harness';
import { sample } from '../prometheus-text';

/**
 * What a fleet admin relies on, against a real dockerd: warn mode lets a denied image through and audits it, the
 * metrics count real pull decisions, `status` reads the running plugin, and `check` predicts what the engine does.
 */
jest.setTimeout(300_000);

interface CliResult {
  readonly code: number;
  readonly stdout: string;
  readonly stderr: string;
}

/** `image-access ARGS` from the build, as an admin runs it; never throws. */
function cli(args: readonly string[], env: Record<string, string>): Promise<CliResult> {
  return new Promise((resolve) => {
    execFile(process.execPath, [PLUGIN_CLI, ...args], { cwd: REPO_ROOT, env: { PATH: process.env.PATH ?? '', ...env }, timeout: 30_000 }, (error, stdout, stderr) => {
      const code = error === null ? 0 : typeof error.code === 'number' ? error.code : -1;
      resolve({ code, stdout, stderr });
    });
  });
}

const auditRecords = (path: string) =>
  existsSync(path)
    ? readFileSync(path, 'utf8')
        .split('\n')
        .filter((line) => line !== '')
        .map((line) => JSON.parse(line) as Record<string, unknown>)
    : [];

describe('fleet admin features in front of a real Docker engine', () => {
  let engine: Engine | undefined;
  let dir: string;
  let settings: Record<string, string>;
  let auditLog: string;
  let adminSocket: string;

  beforeAll(async () => {
    dir = mkdtempSync(join(tmpdir(), 'ia-admin-e2e-'));
    auditLog = join(dir, 'audit.log');
    adminSocket = join(dir, 'admin.sock');
    // Nothing from this machine: no Docker sign-in, no registry.json; the embedded policy of organization acme.
    settings = {
      IMAGE_ACCESS_POLICY: 'builtin',
      IMAGE_ACCESS_ORG: 'acme',
      IMAGE_ACCESS_DOCKER_CONFIG: dir,
      IMAGE_ACCESS_REGISTRY_JSON: '',
      IMAGE_ACCESS_REQUIRE_SIGNIN: 'off',
      IMAGE_ACCESS_AUDIT_LOG: auditLog,
      IMAGE_ACCESS_METRICS: adminSocket,
    };
    engine = await startEngine({ plugin: { env: { ...settings, IMAGE_ACCESS_MODE: 'warn' } } });
  });

  afterAll(async () => {
    await engine?.stop();
    rmSync(dir, { recursive: true, force: true });
  });

  const docker = (...args: string[]) => engine!.docker(args);

  describe('warn mode', () => {
    it('lets a community image through, and audits, logs and counts the would-be denial', async () => {
      const pull = await docker('pull', 'someone/app:1.0');
      expect(pull.stderr).toBe('');
      expect(pull.code).toBe(0);
      const official = await docker('pull', 'alpine');
      expect(official.code).toBe(0);

      expect(auditRecords(auditLog)).toEqual([
        expect.objectContaining({
          image: 'docker.io/someone/app:1.0',
          category: 'community',
          decision: 'warn',
          rule: 'category-not-allowed',
          organization: 'acme',
          policySource: 'builtin',
          mode: 'warn',
          user: null,
        }),
        expect.objectContaining({ image: 'docker.io/library/alpine:latest', decision: 'allow', rule: 'official-allowed', mode: 'warn' }),
      ]);
      // At the default level, info: the allowed pull's line is at debug, its audit line being the record.
      const decisions = engine!.plugin!.logLines().filter((line) => line['message'] === 'image decision');
      expect(decisions).toEqual([expect.objectContaining({ image: 'docker.io/someone/app:1.0', decision: 'warn', level: 'warn' })]);

      const metrics = await httpRequest({ socketPath: adminSocket, path: '/metrics' });
      expect(metrics.status).toBe(200);
      expect(sample(metrics.body, 'image_access_decisions_total{category="community",decision="warn",rule="category-not-allowed"}')).toBe(1);
      expect(sample(metrics.body, 'image_access_decisions_total{category="official",decision="allow",rule="official-allowed"}')).toBe(1);
      expect(sample(metrics.body, 'image_access_decision_duration_seconds_count{decision="warn"}')).toBe(1);
      expect(sample(metrics.body, 'image_access_policy_available')).toBe(1);
    });

    it('serves /healthz for fleet tooling', async () => {
      const health = await httpRequest({ socketPath: adminSocket, path: '/healthz' });
      expect(health.status).toBe(200);
      expect(JSON.parse(health.body)).toMatchObject({ ok: true, policySource: 'builtin', organization: 'acme', lastRefreshError: null });
    });

    it('`image-access status` reads the running plugin', async () => {
      const status = await cli(['status', '--metrics', adminSocket], {});
      expect(status.stderr).toBe('');
      expect(status.code).toBe(0);
      expect(status.stdout).toContain('policy in force, mode warn');
      expect(status.stdout).toContain('policy:       builtin (organization acme)');
      expect(status.stdout).toContain('1 allowed, 0 denied, 1 warned');
    });
  });

  describe('enforce mode, and `image-access check` predicting it', () => {
    beforeAll(async () => {
      await engine!.plugin!.restart({ env: { ...settings, IMAGE_ACCESS_MODE: 'enforce' } });
    });

    it('check says denied (exit 1) with the very message the engine then gives the developer', async () => {
      const check = await cli(['check', 'someone/app:1.0'], settings);
      expect(check.code).toBe(1);
      expect(check.stdout).toContain('DENIED: docker.io/someone/app:1.0');
      expect(check.stdout).toContain('rule:     category-not-allowed');
      const message = /the developer would read: (.*)/.exec(check.stdout)?.[1];
      expect(message).toContain('is a community image');

      const pull = await docker('pull', 'someone/app:1.0');
      expect(pull.code).not.toBe(0);
      expect(pull.stderr).toContain(`authorization denied by plugin ${engine!.plugin!.name}: ${message}`);
    });

    it('check says allowed (exit 0), and the engine pulls', async () => {
      const check = await cli(['check', 'acme/app'], settings);
      expect(check.code).toBe(0);
      expect(check.stdout).toContain('rule:     own-organization');
      expect((await docker('pull', 'acme/app')).code).toBe(0);
    });

    it('check --user explains as that Docker ID; a bad option is exit 2', async () => {
      expect((await cli(['check', 'someone/app:1.0', '--user', 'bob'], settings)).stdout).toContain('user:     bob [check --user]');
      const bad = await cli(['check', 'alpine', '--offline', '--mode', 'loud'], settings);
      expect(bad.code).toBe(2);
      expect(bad.stderr).toContain('IMAGE_ACCESS_MODE');
    });

    it("check answers as the running plugin, whatever the shell's own settings; --offline judges with the shell's", async () => {
      // This shell would judge in warn mode with another organization's demo: the plugin's answer is enforce, acme.
      const shell = { IMAGE_ACCESS_METRICS: adminSocket, IMAGE_ACCESS_MODE: 'warn', IMAGE_ACCESS_REQUIRE_SIGNIN: 'off', IMAGE_ACCESS_POLICY: 'builtin', IMAGE_ACCESS_ORG: 'someone', IMAGE_ACCESS_REGISTRY_JSON: '', IMAGE_ACCESS_DOCKER_CONFIG: dir };
      const asked = await cli(['check', 'someone/app:1.0', '--json'], shell);
      expect(asked.code).toBe(1);
      expect(JSON.parse(asked.stdout)).toMatchObject({ allow: false, decision: { decision: 'deny', mode: 'enforce', organization: 'acme', rule: 'category-not-allowed' } });
      const offline = await cli(['check', 'someone/app:1.0', '--offline'], shell);
      expect(offline.code).toBe(0);
      expect(offline.stdout).toContain('rule:     own-organization');
      // Settings flags are the shell's business only offline.
      const refused = await cli(['check', 'alpine', '--policy', 'hub'], shell);
      expect(refused.code).toBe(2);
      expect(refused.stderr).toContain('--policy applies only with --offline');
    });

    it('status --json is the /status document', async () => {
      const status = await cli(['status', '--json', '--metrics', adminSocket], {});
      expect(status.code).toBe(0);
      expect(JSON.parse(status.stdout)).toMatchObject({ mode: 'enforce', policy: { ok: true, policySource: 'builtin', organization: 'acme' } });
    });

    it('the real denial is audited and counted (checks are neither)', async () => {
      expect(auditRecords(auditLog).slice(-2)).toEqual([
        expect.objectContaining({ image: 'docker.io/someone/app:1.0', decision: 'deny', mode: 'enforce' }),
        expect.objectContaining({ image: 'docker.io/acme/app:latest', decision: 'allow', rule: 'own-organization' }),
      ]);
      const metrics = await httpRequest({ socketPath: adminSocket, path: '/metrics' });
      expect(sample(metrics.body, 'image_access_decisions_total{category="community",decision="deny",rule="category-not-allowed"}')).toBe(1);
    });
  });

  describe('allowlists in the policy document', () => {
    beforeAll(async () => {
      const policy = join(dir, 'policy.json');
      writeFileSync(
        policy,
        JSON.stringify({
          organization: 'acme',
          restricted_images: { enabled: true, allow_official_images: true, allow_verified_publishers: true },
          repository_allowlist: ['docker.io/someone/app', 'bitnami/redis:latest', 'someoss/tool:1.0'],
          registry_allowlist: ['index.docker.io'],
        }),
      );
      await engine!.plugin!.restart({ env: { ...settings, IMAGE_ACCESS_POLICY: policy } });
    });

    it('a listed community repository is pulled; a listed tag is pulled, another tag of it is still denied', async () => {
      expect((await docker('pull', 'someone/app:1.0')).code).toBe(0);
      // No badges in this policy: bitnami is a community namespace, allowed here by its tag entry alone.
      expect((await docker('pull', 'bitnami/redis')).code).toBe(0);
      const oss = await docker('pull', 'someoss/tool');
      expect(oss.code).not.toBe(0);
      expect(oss.stderr).toContain('docker.io/someoss/tool:latest is a community image');
    });

    it('a registry not in the registry allowlist is refused, even one the daemon trusts', async () => {
      const direct = await docker('pull', `${engine!.registry.address}/library/alpine:latest`);
      expect(direct.code).not.toBe(0);
      expect(direct.stderr).toContain(`Registry Access Management: ${engine!.registry.address}/library/alpine:latest comes from ${engine!.registry.address}`);
      expect(auditRecords(auditLog).slice(-1)).toEqual([expect.objectContaining({ decision: 'deny', rule: 'registry-not-allowed', category: 'outside_hub' })]);
    });
  });

  describe('image-access simulate on the audit log the engine produced', () => {
    it('a policy without official images would newly deny the alpine pulls recorded; exit 1', async () => {
      const candidate = join(dir, 'candidate.json');
      writeFileSync(candidate, JSON.stringify({ organization: 'acme', restricted_images: { enabled: true, allow_official_images: false } }));
      const result = await cli(['simulate', candidate, '--audit-log', auditLog], {});
      expect(result.stderr).toBe('');
      expect(result.code).toBe(1);
      expect(result.stdout).toMatch(/newly denied: \d+ pulls?/);
      expect(result.stdout).toContain('docker.io/library/alpine:latest');
      expect(result.stdout).toContain('official-allowed -> category-not-allowed');
    });
  });
});
