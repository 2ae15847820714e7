import { chmodSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { startEngine, type Engine } from '../harness';

/**
 * Who is signed in, on a real dockerd (which strips X-Registry-Auth): the plugin reads the machine's Docker sign-in
 * from the same config directory the real docker CLI uses, and Docker Desktop's registry.json names the organisation,
 * so sign-in is enforced. Builtin policy (organization acme); no Docker Hub API is involved.
 */
jest.setTimeout(300_000);

const HUB = 'https://index.docker.io/v1/';
const SECRET = 'dckr_pat_e2e-identity-Rv7';
const SIGN_IN = 'Run `docker login` with your "acme" organization account';

describe('who is signed in, in front of a real Docker engine', () => {
  let engine: Engine | undefined;
  // The machine's Docker sign-in and Docker Desktop's registry.json: shared by the plugin and the docker CLI.
  const signInDir = mkdtempSync('/tmp/ia-signin-');
  const helperDir = mkdtempSync('/tmp/ia-helper-');
  const path = `${helperDir}:${process.env['PATH'] ?? '/usr/bin:/bin'}`;

  beforeAll(async () => {
    writeFileSync(join(signInDir, 'registry.json'), JSON.stringify({ allowedOrgs: ['acme'] }));
    // A credential store backed by a file, speaking the docker-credential-helpers protocol (get / erase).
    const store = join(helperDir, 'stored');
    writeFileSync(
      join(helperDir, 'docker-credential-filestore'),
      `#!/bin/sh\nread server\ncase "$1" in\n` +
        `get) if [ -f "${store}" ]; then cat "${store}"; else echo "credentials not found in native keychain"; exit 1; fi ;;\n` +
        `erase) rm -f "${store}" ;;\n*) exit 1 ;;\nesac\n`,
    );
    chmodSync(join(helperDir, 'docker-credential-filestore'), 0o755);
    engine = await startEngine({
      plugin: {
        env: {
          IMAGE_ACCESS_POLICY: 'builtin',
          IMAGE_ACCESS_DOCKER_CONFIG: signInDir,
          IMAGE_ACCESS_REGISTRY_JSON: join(signInDir, 'registry.json'),
          PATH: path,
        },
      },
    });
  });

  afterAll(async () => {
    await engine?.stop();
    rmSync(signInDir, { recursive: true, force: true });
    rmSync(helperDir, { recursive: true, force: true });
  });

  const docker = (...args: string[]) => engine!.docker(args, { env: { DOCKER_CONFIG: signInDir, PATH: path } });
  const signIn = (config: object) => writeFileSync(join(signInDir, 'config.json'), JSON.stringify(config));

  it('signed out: a Docker Hub pull is refused with a docker login hint; other registries are not affected', async () => {
    const result = await docker('pull', 'alpine');
    expect(result.code).not.toBe(0);
    expect(result.stderr).toContain(`authorization denied by plugin ${engine!.plugin!.name}: Image Access Management:`);
    expect(result.stderr).toContain(SIGN_IN);
    // Not on Docker Hub (nothing listens there: the pull fails, but not on the plugin's word).
    const elsewhere = await docker('pull', '127.0.0.1:1/someone/app:1.0');
    expect(elsewhere.stderr).not.toContain('authorization denied');
  });

  it('signed in (config.json auths): the organisation policy applies; docker logout signs out at once', async () => {
    signIn({ auths: { [HUB]: { auth: Buffer.from(`alice:${SECRET}`).toString('base64') } } });
    const allowed = await docker('pull', 'alpine');
    expect(allowed.stderr).toBe('');
    expect(allowed.code).toBe(0);
    const community = await docker('pull', 'someone/app:1.0');
    expect(community.stderr).toContain('is a community image');

    const logout = await docker('logout');
    expect(logout.code).toBe(0);
    expect((await docker('pull', 'alpine')).stderr).toContain(SIGN_IN);
  });

  it('signed in through a credential store (credsStore): docker-credential-<name> get is asked', async () => {
    writeFileSync(join(helperDir, 'stored'), JSON.stringify({ ServerURL: HUB, Username: 'bob', Secret: SECRET }));
    signIn({ auths: { [HUB]: {} }, credsStore: 'filestore' });
    const allowed = await docker('pull', 'alpine');
    expect(allowed.stderr).toBe('');
    expect(allowed.code).toBe(0);

    expect((await docker('logout')).code).toBe(0);
    expect((await docker('pull', 'alpine')).stderr).toContain(SIGN_IN);
  });

  it('the plugin log names who pulled, never a secret', () => {
    const log = engine!.plugin!.logText();
    expect(log).toContain('"user":"alice"');
    expect(log).toContain('"user":"bob"');
    expect(log).not.toContain(SECRET);
  });
});
