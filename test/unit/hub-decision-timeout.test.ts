import { loadSettings } from '../../src/config/settings';
import { parseAuthZRequest, type AuthZReply } from '../../src/protocol/wire';
import { createPluginCore, type PluginCore } from '../../src/run';
import { captureLog } from '../hub/log-capture';
import { startStandInHub, type StandInHub } from '../hub';

/**
 * The whole plugin core (settings -> identity -> Hub policy source -> Authorizer) against the stand-in Hub: a pull
 * decision never waits past IMAGE_ACCESS_DECISION_TIMEOUT; it then uses the cached policy, or the fail mode.
 */

const PASSWORD = 'timeout-test-password';
const DECISION_TIMEOUT_MS = 400;

let hub: StandInHub;
let now: number;
const cores: PluginCore[] = [];

beforeEach(async () => {
  now = 10_000_000;
  hub = await startStandInHub({
    users: [{ username: 'mike', secrets: [PASSWORD] }],
    orgs: [{ orgname: 'acme', members: { mike: 'Member' }, settings: { enabled: true, allowOfficialImages: true, allowVerifiedPublishers: true } }],
  });
});

afterEach(async () => {
  for (const core of cores.splice(0)) core.close();
  await hub.stop();
});

function core(failMode: 'open' | 'closed'): PluginCore {
  const settings = loadSettings(
    {
      IMAGE_ACCESS_POLICY: 'hub',
      IMAGE_ACCESS_HUB_URL: hub.url,
      IMAGE_ACCESS_ORG: 'acme',
      IMAGE_ACCESS_IDENTITY_SOURCES: 'registry-auth',
      IMAGE_ACCESS_FAIL_MODE: failMode,
      IMAGE_ACCESS_CACHE_TTL: '60s',
      IMAGE_ACCESS_DECISION_TIMEOUT: `${DECISION_TIMEOUT_MS}ms`,
    },
    [],
  );
  // Time moves as it does in the plugin (the decision timeout counts from the request's arrival), plus the jumps tests make.
  const created = createPluginCore(settings, captureLog().logger, () => now + performance.now());
  cores.push(created);
  return created;
}

/** `docker pull IMAGE` as a daemon that forwards X-Registry-Auth would ask. */
async function pull(target: PluginCore, fromImage: string, tag: string): Promise<AuthZReply> {
  const registryAuth = Buffer.from(JSON.stringify({ username: 'mike', password: PASSWORD })).toString('base64url');
  const parsed = parseAuthZRequest(
    JSON.stringify({
      RequestMethod: 'POST',
      RequestUri: `/v1.41/images/create?fromImage=${encodeURIComponent(fromImage)}&tag=${tag}`,
      RequestHeaders: { 'X-Registry-Auth': registryAuth },
    }),
  );
  if (!parsed.ok) throw new Error(parsed.error);
  return target.authorizer.authorizeRequest(parsed.request);
}

describe('decision timeout with IMAGE_ACCESS_POLICY=hub', () => {
  it('denies with the cause when the Hub is too slow and nothing is cached (fail closed)', async () => {
    hub.fail('all', { kind: 'slow', delayMs: 10_000 });
    const reply = await pull(core('closed'), 'alpine', 'latest');
    expect(reply.Allow).toBe(false);
    expect(reply.Msg).toContain(`no answer within the decision timeout of ${DECISION_TIMEOUT_MS} ms`);
  });

  it('allows when the Hub is too slow and nothing is cached (fail open)', async () => {
    hub.fail('all', { kind: 'slow', delayMs: 10_000 });
    // A community image: no policy of the organisation allows it, only the fail mode does.
    expect(await pull(core('open'), 'someone/app', '1.0')).toStrictEqual({ Allow: true, Msg: '' });
  });

  it('keeps judging on the cached policy when the Hub turns slow after a first fetch', async () => {
    const plugin = core('closed');
    expect((await pull(plugin, 'alpine', 'latest')).Allow).toBe(true);
    hub.fail('all', { kind: 'slow', delayMs: 10_000 });
    now += 61_000;
    const community = await pull(plugin, 'someone/app', '1.0');
    expect(community.Allow).toBe(false);
    expect(community.Msg).toContain('is a community image');
    expect((await pull(plugin, 'alpine', 'latest')).Allow).toBe(true);
  });
});
