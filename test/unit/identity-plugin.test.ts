/**
 * Who is signed in, end to end through the running plugin (in process, on a unix socket in a temp dir): the machine's
 * Docker sign-in and Docker Desktop's registry.json decide enforced sign-in, and changes to either apply at once.
 */
import { mkdirSync, rmSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { loadSettings } from '../../src/config/settings';
import { startPlugin, type RunningPlugin } from '../../src/run';
import { httpRequest } from '../harness/wait';
import { basicAuth, capturingLogger, registryAuthHeader, replaceFile, tempDirs } from './identity-fixtures';

const HUB = 'https://index.docker.io/v1/';
const SECRET = 'dckr_pat_plugin-test-Hn5';
const dirs = tempDirs();
const log = capturingLogger();
let plugin: RunningPlugin | undefined;
let dir = '';

const paths = () => ({ socket: join(dir, 'p.sock'), config: join(dir, 'docker', 'config.json'), registryJson: join(dir, 'registry.json') });

beforeAll(async () => {
  dir = dirs.make();
  const { socket, registryJson } = paths();
  writeFileSync(registryJson, JSON.stringify({ allowedOrgs: ['acme'] }));
  mkdirSync(join(dir, 'docker'));
  const settings = loadSettings(
    {
      IMAGE_ACCESS_SOCKET: socket,
      IMAGE_ACCESS_DOCKER_CONFIG: join(dir, 'docker'),
      IMAGE_ACCESS_REGISTRY_JSON: registryJson,
      IMAGE_ACCESS_POLICY: 'builtin',
    },
    [],
  );
  plugin = await startPlugin(settings, log.logger);
});

afterAll(async () => {
  await plugin?.stop();
  dirs.removeAll();
});

async function pull(image: string, headers: Record<string, string> = {}): Promise<{ Allow: boolean; Msg: string }> {
  const body = JSON.stringify({
    RequestMethod: 'POST',
    RequestUri: `/v1.41/images/create?fromImage=${encodeURIComponent(image)}`,
    RequestHeaders: { 'User-Agent': 'Docker-Client/28.2.2 (linux)', ...headers },
  });
  const reply = await httpRequest({ socketPath: paths().socket, path: '/AuthZPlugin.AuthZReq' }, { method: 'POST', body });
  return JSON.parse(reply.body) as { Allow: boolean; Msg: string };
}

const SIGN_IN = 'Run `docker login` with your "acme" organization account';

test('registry.json names the organisation, so a signed-out Hub pull is refused with a sign-in hint', async () => {
  const reply = await pull('alpine:3.20');
  expect(reply.Allow).toBe(false);
  expect(reply.Msg).toContain(SIGN_IN);
});

test('images outside Docker Hub are not affected', async () => {
  await expect(pull('ghcr.io/someone/app:1.0')).resolves.toEqual({ Allow: true, Msg: '' });
});

test('docker login (config.json written) lets the user through to the policy; logout takes effect at once', async () => {
  replaceFile(paths().config, JSON.stringify({ auths: { [HUB]: { auth: basicAuth('alice', SECRET) } } }));
  await expect(pull('alpine:3.20')).resolves.toEqual({ Allow: true, Msg: '' });
  const community = await pull('someone/app:1.0');
  expect(community.Allow).toBe(false);
  expect(community.Msg).toContain('community image');
  replaceFile(paths().config, JSON.stringify({ auths: {} }));
  expect((await pull('alpine:3.20')).Msg).toContain(SIGN_IN);
});

test('a forwarded X-Registry-Auth wins over the machine sign-in', async () => {
  replaceFile(paths().config, JSON.stringify({ auths: { [HUB]: { auth: basicAuth('alice', SECRET) } } }));
  expect((await pull('alpine', { 'X-Registry-Auth': 'e30=' })).Msg).toContain(SIGN_IN);
  const bob = registryAuthHeader({ username: 'bob', password: SECRET, serveraddress: HUB });
  await expect(pull('alpine', { 'X-Registry-Auth': bob })).resolves.toEqual({ Allow: true, Msg: '' });
});

test('registry.json removed: no organisation, so sign-in is no longer enforced (auto)', async () => {
  replaceFile(paths().config, JSON.stringify({ auths: {} }));
  rmSync(paths().registryJson);
  await expect(pull('alpine:3.20')).resolves.toEqual({ Allow: true, Msg: '' });
});

test('the decision log names users and sources, never their secrets', () => {
  const decisions = log.lines().filter((line) => line['message'] === 'image decision');
  expect(decisions).toContainEqual(expect.objectContaining({ rule: 'sign-in-required', identitySource: 'none' }));
  expect(decisions).toContainEqual(expect.objectContaining({ user: 'alice', identitySource: 'docker-config' }));
  expect(decisions).toContainEqual(expect.objectContaining({ user: 'bob', identitySource: 'registry-auth' }));
  expect(log.text()).not.toContain(SECRET);
});
