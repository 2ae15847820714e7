import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { startEngine, waitUntil, type DockerResult, type Engine } from '../harness';
import { startStandInHub, type StandInHub } from '../hub';

/**
 * IMAGE_ACCESS_ORG=acme and IMAGE_ACCESS_POLICY unset (README's fleet configuration) in front of a real dockerd:
 * acme's own policy is read from Docker Hub (never the embedded demo's rules); the plugin reads the machine's Docker sign-in from the config
 * dir it is given (the daemon strips X-Registry-Auth), asks the stand-in Docker Hub who that is and what the
 * organisation allows, and the real docker CLI gets the answer.
 */
jest.setTimeout(300_000);

const MEMBER_PASSWORD = 'member-Passw0rd-e2e';
const OWNER_PAT = 'dckr_pat_ownerE2Eaaaaaaaaaaaaaaaaaaaaaaa';
const HUB_AUTH_KEY = 'https://index.docker.io/v1/';
/** Short, so the outage test needs little waiting past it. */
const CACHE_TTL_MS = 2_000;

const basicAuth = (username: string, secret: string) => Buffer.from(`${username}:${secret}`).toString('base64');

describe('image-access with only IMAGE_ACCESS_ORG set: the live Docker Hub policy (stand-in Hub), real engine', () => {
  let hub: StandInHub | undefined;
  let engine: Engine | undefined;
  let signInDir: string | undefined;

  /** Signs the machine in (or out), as `docker login` would, in the config dir the plugin reads. */
  const signIn = (username?: string, secret?: string) => {
    const auths = username === undefined || secret === undefined ? {} : { [HUB_AUTH_KEY]: { auth: basicAuth(username, secret) } };
    writeFileSync(join(signInDir!, 'config.json'), JSON.stringify({ auths }));
  };

  const pull = (image: string) => engine!.docker(['pull', image]);

  /** The plugin notices a sign-in change by itself; wait (bounded) until a pull shows it has. */
  async function pullOnce(image: string, done: (result: DockerResult) => boolean): Promise<DockerResult> {
    let last: DockerResult | undefined;
    await waitUntil(`docker pull ${image} to reflect the new sign-in`, async () => done((last = await pull(image))), {
      timeoutMs: 15_000,
      intervalMs: 250,
    });
    return last!;
  }

  beforeAll(async () => {
    hub = await startStandInHub({
      users: [
        { username: 'mike', secrets: [MEMBER_PASSWORD] },
        { username: 'olivia', secrets: [OWNER_PAT] },
      ],
      orgs: [
        {
          orgname: 'acme',
          members: { olivia: 'Owner', mike: 'Member' },
          settings: { enabled: true, allowOfficialImages: true, allowVerifiedPublishers: true },
        },
        { orgname: 'bitnami', badge: 'verified_publisher' },
        { orgname: 'someoss', badge: 'open_source' },
      ],
    });
    signInDir = mkdtempSync(join(tmpdir(), 'ia-hub-signin-'));
    signIn('mike', MEMBER_PASSWORD);
    engine = await startEngine({
      plugin: {
        env: {
          IMAGE_ACCESS_HUB_URL: hub.url,
          IMAGE_ACCESS_ORG: 'acme',
          IMAGE_ACCESS_DOCKER_CONFIG: signInDir,
          IMAGE_ACCESS_CACHE_TTL: `${CACHE_TTL_MS}ms`,
          IMAGE_ACCESS_LOG_LEVEL: 'debug',
        },
      },
    });
  });

  afterAll(async () => {
    try {
      await engine?.stop();
    } finally {
      await hub?.stop();
      if (signInDir) rmSync(signInDir, { recursive: true, force: true });
    }
  });

  it('denies a member a community image, and allows an official and a Verified Publisher image', async () => {
    const denied = await pull('someone/app:1.0');
    expect(denied.code).not.toBe(0);
    expect(denied.stderr).toContain(
      `authorization denied by plugin ${engine!.plugin!.name}: Image Access Management: docker.io/someone/app:1.0 is a community image`,
    );
    expect(denied.stderr).not.toContain('demo');
    expect(denied.stderr).toContain(`signed in as mike (found by docker-config in ${join(signInDir!, 'config.json')})`);
    expect(denied.stderr).not.toContain(MEMBER_PASSWORD);
    expect((await pull('alpine')).code).toBe(0);
    expect((await pull('bitnami/redis')).code).toBe(0);
    expect(hub!.requests('settings')).toBeGreaterThan(0);
    expect(hub!.requests('namespace')).toBeGreaterThan(0);
  });

  it('allows an owner the same community image', async () => {
    signIn('olivia', OWNER_PAT);
    const allowed = await pullOnce('someone/app:1.0', (result) => result.code === 0);
    expect(allowed.stdout).toContain('docker.io/someone/app:1.0');
    await engine!.docker(['rmi', 'someone/app:1.0']);
  });

  it('tells a signed-out developer to sign in', async () => {
    signIn();
    const refused = await pullOnce('someone/app:1.0', (result) => result.stderr.includes('docker login'));
    expect(refused.code).not.toBe(0);
    expect(refused.stderr).toContain('Run `docker login`');
    expect(refused.stderr).toContain('"acme"');
  });

  it('keeps enforcing the cached policy through a Hub outage after a first fetch', async () => {
    signIn('mike', MEMBER_PASSWORD);
    await pullOnce('someone/app:1.0', (result) => result.stderr.includes('is a community image'));
    hub!.fail('all', { kind: 'down' });
    hub!.resetCounts();
    await new Promise((resolve) => setTimeout(resolve, CACHE_TTL_MS + 500));

    const denied = await pull('someone/app:1.0');
    expect(denied.code).not.toBe(0);
    expect(denied.stderr).toContain('is a community image');
    expect(denied.stderr).not.toContain('unavailable');
    expect((await pull('alpine')).code).toBe(0);
    // The Hub was asked, failed, and the log says the last good policy is in use.
    expect(hub!.requests('orgs') + hub!.requests('token')).toBeGreaterThan(0);
    const warnings = engine!.plugin!.logLines().filter((line) => line['message'] === 'refresh failed; using the last good value');
    expect(warnings.length).toBeGreaterThan(0);
    hub!.heal();
  });

  it('never writes a password, PAT, auth string or Hub token to its log', () => {
    const log = engine!.plugin!.logText();
    expect(log.length).toBeGreaterThan(0);
    const secrets = [
      MEMBER_PASSWORD,
      OWNER_PAT,
      basicAuth('mike', MEMBER_PASSWORD),
      basicAuth('olivia', OWNER_PAT),
      ...hub!.issuedTokens(),
    ];
    expect(hub!.issuedTokens().length).toBeGreaterThan(0);
    for (const secret of secrets) expect(log).not.toContain(secret);
  });

  it('a policy file without badges learns them from the Hub: a Verified Publisher is allowed, Sponsored OSS is not', async () => {
    const policy = join(signInDir!, 'policy.json');
    writeFileSync(policy, JSON.stringify({ organization: 'acme', restricted_images: { enabled: true, allow_official_images: true, allow_verified_publishers: true } }));
    await engine!.plugin!.restart({
      env: { IMAGE_ACCESS_POLICY: policy, IMAGE_ACCESS_HUB_URL: hub!.url, IMAGE_ACCESS_ORG: 'acme', IMAGE_ACCESS_DOCKER_CONFIG: signInDir! },
    });
    hub!.resetCounts();
    await engine!.docker(['rmi', 'bitnami/redis']);
    expect((await pull('bitnami/redis')).code).toBe(0);
    expect(hub!.requests('namespace')).toBe(1);
    const oss = await pull('someoss/tool');
    expect(oss.code).not.toBe(0);
    expect(oss.stderr).toContain('docker.io/someoss/tool:latest is a Sponsored Open Source image');
  });
});
