import { existsSync, mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { httpRequest, makeTempDir, removeTempDir, startPlugin, type PluginProcess } from '../harness';

/**
 * Credentials never reach a log line, a deny message or an error: every route, malformed and odd request carries
 * known secrets (in X-Registry-Auth, Authorization, URL user info and queries, request bodies, the machine's sign-in),
 * at debug level, and everything the plugin said is scanned for them, raw and encoded.
 */
jest.setTimeout(120_000);

const PASSWORD = 'Sekr1t-pa55word-xyzzy';
const PAT = 'dckr_pat_9fK2mQ7vXw3LpR8sT1uY6zA0bC4';
const IDENTITY_TOKEN = 'eyJhbGciOiJSUzI1NiJ9.identity-token-qwerty';
const URL_TOKEN = 'ghp_UrlTokenInAGitRemote0123456789';
/** Passwords as user info may hold them: Go's URL parser ends user info at the last `@`, not at a space or `/`. */
const AT_PASSWORD = 'At@Sekr1t-atpass';
const SPACE_PASSWORD = 'Space Sekr1t-spacepass';
const SLASH_PASSWORD = 'SlashSekr1t-slashpass/';
const SECRETS = [PASSWORD, PAT, IDENTITY_TOKEN, URL_TOKEN, AT_PASSWORD.split('@')[1]!, SPACE_PASSWORD, SLASH_PASSWORD];

const b64 = (text: string) => Buffer.from(text).toString('base64');
const b64url = (text: string) => Buffer.from(text).toString('base64url');
/** Every spelling a secret could leak in. */
const leakForms = (secret: string) => [
  secret,
  b64(secret),
  encodeURIComponent(secret),
  b64(`mike:${secret}`),
  b64(`olivia:${secret}`),
  JSON.stringify(secret).slice(1, -1),
];

const registryAuth = (fields: Record<string, string>) => b64url(JSON.stringify({ serveraddress: 'https://index.docker.io/v1/', ...fields }));
const HEADER_SETS: ReadonlyArray<Record<string, string>> = [
  { 'X-Registry-Auth': registryAuth({ username: 'mike', password: PASSWORD }) },
  { 'X-Registry-Auth': registryAuth({ username: 'olivia', password: PAT }) },
  { 'X-Registry-Auth': registryAuth({ identitytoken: IDENTITY_TOKEN }) },
  { 'X-Registry-Auth': registryAuth({ auth: b64(`mike:${PASSWORD}`) }) },
  { 'X-Registry-Auth': `not-base64-${PASSWORD}` },
  { Authorization: `Bearer ${PAT}`, 'X-Registry-Config': b64(JSON.stringify({ 'docker.io': { password: PASSWORD } })) },
];

const secretUrl = `https://mike:${PASSWORD}@files.example.com/x.tar?token=${PAT}&sig=${URL_TOKEN}`;
const ROUTES: ReadonlyArray<readonly [string, string, unknown?]> = [
  ['POST', '/v1.41/images/create?fromImage=someone%2Fapp&tag=1.0'],
  ['POST', '/v1.41/images/create?fromImage=alpine'],
  ['POST', `/v1.41/images/create?fromImage=${encodeURIComponent(`mike:${PASSWORD}@evil`)}`],
  ['POST', `/v1.41/images/create?fromImage=${encodeURIComponent(`u:${AT_PASSWORD}@host/x`)}`],
  ['POST', `/v1.41/images/create?fromImage=${encodeURIComponent(`u:${SPACE_PASSWORD}@host`)}`],
  ['POST', `/v1.41/images/create?fromImage=${encodeURIComponent(`u:${SLASH_PASSWORD}@host`)}&tag=1`],
  ['POST', `/v1.41/plugins/x/upgrade?remote=${encodeURIComponent(`https://u:${SLASH_PASSWORD}@host/x`)}`, []],
  ['POST', '/v1.41/services/create', { TaskTemplate: { ContainerSpec: { Image: `u:${SPACE_PASSWORD}@host/x:1` } } }],
  ['POST', `/v1.41/images/create?fromSrc=${encodeURIComponent(secretUrl)}&repo=x`],
  ['POST', `/v1.41/images/create?fromSrc=${encodeURIComponent(secretUrl)}%zz`],
  ['POST', `/v1.41/images%zz/create?fromSrc=${encodeURIComponent(secretUrl)}`],
  ['POST', '/v1.41/images/load'],
  ['POST', `/v1.41/build?remote=${encodeURIComponent(`https://x:${URL_TOKEN}@github.com/acme/app.git`)}`],
  ['POST', '/v1.41/session'],
  ['POST', '/v1.41/commit?container=c'],
  ['POST', `/v1.41/plugins/pull?remote=someone%2Fplugin&name=${PASSWORD}`, []],
  ['POST', '/v1.41/plugins/create?name=p'],
  ['POST', '/v1.41/plugins/image-access/disable'],
  ['DELETE', '/v1.41/plugins/image-access'],
  ['POST', '/v1.41/plugins/image-access/set', [`PASSWORD=${PASSWORD}`]],
  ['POST', '/v1.41/services/create', { TaskTemplate: { ContainerSpec: { Image: 'someone/app', Secrets: [{ SecretName: PAT }], Env: [`TOKEN=${PAT}`] } } }],
  ['POST', '/v1.41/services/create', `{"TaskTemplate":{"ContainerSpec":{"Image":"${PASSWORD}` /* truncated JSON */],
  ['POST', '/v1.41/services/s1/update', { TaskTemplate: { ContainerSpec: { Image: 42, Env: [IDENTITY_TOKEN] } } }],
  ['POST', '/v1.41/auth', { username: 'mike', password: PASSWORD }],
  ['GET', '/v1.41/containers/json'],
];

describe('no credential in any log line or message', () => {
  let dir: string;
  let plugin: PluginProcess | undefined;
  const messages: string[] = [];

  beforeAll(async () => {
    dir = makeTempDir();
    // The machine is signed in with a password, as `docker login` leaves it.
    const dockerConfig = join(dir, 'docker-config');
    mkdirSync(dockerConfig);
    writeFileSync(join(dockerConfig, 'config.json'), JSON.stringify({ auths: { 'https://index.docker.io/v1/': { auth: b64(`mike:${PASSWORD}`) } } }));
    plugin = await startPlugin(dir, {
      env: {
        IMAGE_ACCESS_POLICY: 'builtin',
        IMAGE_ACCESS_ORG: 'acme',
        IMAGE_ACCESS_LOG_LEVEL: 'debug',
        IMAGE_ACCESS_PROTECT_PLUGIN: 'true',
        IMAGE_ACCESS_DOCKER_CONFIG: dockerConfig,
        IMAGE_ACCESS_AUDIT_LOG: join(dir, 'audit.log'),
      },
    });
  });

  afterAll(async () => {
    await plugin?.stop();
    removeTempDir(dir);
  });

  const call = async (path: string, body: string) => {
    const reply = await httpRequest({ socketPath: plugin!.socket, path }, { method: 'POST', body, timeoutMs: 10_000 });
    messages.push(reply.body);
    return reply;
  };

  test('every route, with every kind of credential, in the request and response phases', async () => {
    for (const headers of HEADER_SETS) {
      for (const [method, uri, body] of ROUTES) {
        const requestBody = body === undefined ? undefined : b64(typeof body === 'string' ? body : JSON.stringify(body));
        const authz = {
          RequestMethod: method,
          RequestUri: uri,
          RequestHeaders: { ...headers, ...(body === undefined ? {} : { 'Content-Type': 'application/json' }) },
          ...(requestBody === undefined ? {} : { RequestBody: requestBody }),
        };
        expect((await call('/AuthZPlugin.AuthZReq', JSON.stringify(authz))).status).toBe(200);
        const response = { ...authz, ResponseStatusCode: 200, ResponseBody: b64(JSON.stringify({ token: PAT })), ResponseHeaders: headers };
        expect((await call('/AuthZPlugin.AuthZRes', JSON.stringify(response))).status).toBe(200);
      }
    }
  });

  test('malformed requests that carry credentials', async () => {
    const bodies = [
      `{"RequestMethod":"POST","RequestUri":"/images/create?fromImage=x","RequestHeaders":{"X-Registry-Auth":${JSON.stringify(PASSWORD)},"n":1}}`,
      `{"RequestUri":${JSON.stringify(`/images/create?fromSrc=${secretUrl}`)},"RequestMethod":7}`,
      `{"RequestMethod":"POST","RequestUri":"/build?x=${PAT}"`,
      `${PASSWORD}${PAT}`,
      JSON.stringify({ RequestMethod: 'POST', RequestUri: `/v1.41/${IDENTITY_TOKEN}%zz`, RequestBody: `${PAT}!!` }),
    ];
    for (const body of bodies) expect((await call('/AuthZPlugin.AuthZReq', body)).status).toBe(200);
    expect((await call('/AuthZPlugin.Nope', PASSWORD)).status).toBe(404);
  });

  test('nothing the plugin said holds a secret', () => {
    expect(messages.length).toBeGreaterThan(HEADER_SETS.length * ROUTES.length);
    const files = [plugin!.process.stdoutPath, join(dir, 'audit.log')].filter((path) => existsSync(path));
    const said = [plugin!.logText(), ...files.map((path) => readFileSync(path, 'utf8')), ...messages].join('\n');
    expect(plugin!.logLines().some((line) => line['message'] === 'image decision')).toBe(true);
    for (const secret of SECRETS) {
      for (const form of leakForms(secret)) expect({ secret, found: said.includes(form) }).toEqual({ secret, found: false });
    }
  });
});
