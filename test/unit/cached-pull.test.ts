/**
 * A pull whose sign-in, organisation, policy, membership and badge are known is judged and answered at once (a reply,
 * not a promise), with the verdict, message and decision record the fetching pull gave, its audit record written
 * before the reply; and what changes (a `docker login` or logout, the organisation's settings once its cache entry has
 * expired) still counts at the next pull. The whole core against the stand-in Hub, signed in through config.json.
 */
import { mkdirSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import type { Logger } from '../../src/audit/logger';
import { loadSettings } from '../../src/config/settings';
import { isPromise } from '../../src/maybe-async';
import type { DecisionEvent } from '../../src/observability/events';
import { parseAuthZRequest, type AuthZReply } from '../../src/protocol/wire';
import { createPluginCore, type PluginCore } from '../../src/run';
import { startStandInHub, type StandInHub } from '../hub';
import { basicAuth, replaceFile, tempDirs } from './identity-fixtures';

const PASSWORD = 'cached-pull-password';
const ORG_SETTINGS = { enabled: true, allowOfficialImages: true, allowVerifiedPublishers: true };
const dirs = tempDirs();

let hub: StandInHub;
let now: number;
let configPath: string;
let decided: DecisionEvent[];
/** The messages logged, each as it is logged. */
let logged: string[];
let core: PluginCore;

const log: Logger['log'] = (_level, message) => void logged.push(message);
const recordingLogger: Logger = { log, error: (m) => log('error', m), warn: (m) => log('warn', m), info: (m) => log('info', m), debug: (m) => log('debug', m) };

const signedInAs = (username: string) => JSON.stringify({ auths: { 'https://index.docker.io/v1/': { auth: basicAuth(username, PASSWORD) } } });

beforeEach(async () => {
  now = 50_000_000;
  decided = [];
  logged = [];
  hub = await startStandInHub({
    users: [{ username: 'dev', secrets: [PASSWORD] }],
    orgs: [
      { orgname: 'acme', members: { dev: 'Member' }, settings: ORG_SETTINGS },
      { orgname: 'bitnami', badge: 'verified_publisher' },
    ],
  });
  const dockerConfig = join(dirs.make(), 'docker');
  mkdirSync(dockerConfig);
  configPath = join(dockerConfig, 'config.json');
  writeFileSync(configPath, signedInAs('dev'));
  const settings = loadSettings(
    {
      IMAGE_ACCESS_ORG: 'acme',
      IMAGE_ACCESS_HUB_URL: hub.url,
      IMAGE_ACCESS_DOCKER_CONFIG: dockerConfig,
      IMAGE_ACCESS_REGISTRY_JSON: '',
      IMAGE_ACCESS_DAEMON_JSON: '',
      IMAGE_ACCESS_CACHE_TTL: '60s',
    },
    [],
  );
  // Time moves as in the plugin (the decision timeout counts from a request's arrival), plus the jumps tests make.
  core = createPluginCore(settings, recordingLogger, () => now + performance.now(), { observers: [{ decided: (event) => decided.push(event) }] });
});

afterEach(async () => {
  core.close();
  await hub.stop();
  dirs.removeAll();
});

function authorizePull(image: string): AuthZReply | Promise<AuthZReply> {
  const parsed = parseAuthZRequest(JSON.stringify({ RequestMethod: 'POST', RequestUri: `/v1.41/images/create?fromImage=${encodeURIComponent(image)}` }));
  if (!parsed.ok) throw new Error(parsed.error);
  return core.authorizer.authorizeRequest(parsed.request);
}

/** A reply given at once, not a promise; the pull's record was already handed to the observers. */
function answeredAtOnce(image: string): AuthZReply {
  const recorded = decided.length;
  const reply = authorizePull(image);
  if (isPromise(reply)) throw new Error(`the pull of ${image} waited on a promise`);
  expect(decided).toHaveLength(recorded + 1);
  return reply;
}

/** The decision record without what differs between two pulls of the same image (time and latency). */
const record = (event: DecisionEvent | undefined) => ({ ...event, time: undefined, latencyMs: undefined });

test.each([
  ['alpine', true],
  ['bitnami/redis', true],
  ['someone/app', false],
])('the pull of %s that fetched and the one answered at once after it get the same verdict and record', async (image, allowed) => {
  // The policy, membership and token fetched by a first pull of another image: only the badge may be left to fetch.
  expect((await authorizePull('library/busybox')).Allow).toBe(true);
  const fetched = await authorizePull(image);
  const fetchedRecord = record(decided.at(-1));
  expect(fetched.Allow).toBe(allowed);
  expect(answeredAtOnce(image)).toStrictEqual(fetched);
  expect(record(decided.at(-1))).toStrictEqual(fetchedRecord);
  expect(fetchedRecord).toMatchObject({ user: 'dev', identitySource: 'docker-config', organization: 'acme', policySource: 'hub' });
});

test("a pull's audit record is written before its reply, its decision line as soon as the turn that gave the reply ends", async () => {
  expect((await authorizePull('alpine')).Allow).toBe(true);
  await Promise.resolve();
  const lines = logged.filter((message) => message === 'image decision').length;
  expect(lines).toBe(1);
  // answeredAtOnce: the record is with the observers when the reply is returned.
  expect(answeredAtOnce('alpine').Allow).toBe(true);
  expect(logged.filter((message) => message === 'image decision')).toHaveLength(lines);
  await Promise.resolve();
  expect(logged.filter((message) => message === 'image decision')).toHaveLength(lines + 1);
});

test('a docker logout and login count at the next pull, and pulls after it are answered at once again', async () => {
  expect((await authorizePull('alpine')).Allow).toBe(true);
  expect(answeredAtOnce('alpine').Allow).toBe(true);

  replaceFile(configPath, JSON.stringify({ auths: {} }));
  const signedOut = await authorizePull('alpine');
  expect(signedOut.Allow).toBe(false);
  expect(signedOut.Msg).toContain('docker login');
  expect(answeredAtOnce('alpine')).toStrictEqual(signedOut);

  replaceFile(configPath, signedInAs('dev'));
  expect((await authorizePull('alpine')).Allow).toBe(true);
  expect(answeredAtOnce('alpine').Allow).toBe(true);
  expect(decided.at(-1)?.user).toBe('dev');
});

test('past the TTL a pull is still answered at once from the last settings, and the refreshed settings apply once fetched', async () => {
  expect((await authorizePull('bitnami/redis')).Allow).toBe(true);
  hub.setSettings('acme', { ...ORG_SETTINGS, allowVerifiedPublishers: false });
  // Within the TTL the cached settings stand, whatever the Hub says now.
  expect(answeredAtOnce('bitnami/redis').Allow).toBe(true);
  now += 61_000;
  // Expired: answered from the last settings while the refresh runs behind it.
  expect(answeredAtOnce('bitnami/redis').Allow).toBe(true);
  for (let tries = 0; answeredAtOnce('bitnami/redis').Allow; tries++) {
    if (tries === 200) throw new Error('the refreshed settings never applied');
    await new Promise((resolve) => setTimeout(resolve, 10));
  }
  expect(answeredAtOnce('bitnami/redis').Msg).toContain('bitnami/redis');
});
