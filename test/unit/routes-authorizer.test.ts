import winston from 'winston';
import Transport from 'winston-transport';
import { Authorizer, type RouteSettings } from '../../src/authorizer';
import { activityAllowedBySetting, decideRestricted, type RestrictedActivity } from '../../src/decision/restricted';
import type { IdentityResolver, SignedInUser } from '../../src/identity/identity';
import { DEMO_NOTICE, defaultPolicy } from '../../src/policy/default-policy';
import { staticSource } from '../../src/policy/file-source';
import type { OrgPolicy } from '../../src/policy/policy';
import type { PolicySource } from '../../src/policy/source';
import type { AuthZRequest } from '../../src/protocol/wire';

/** Every route through the real Authorizer, with the embedded policy of "acme" (olivia is its owner). */

const POLICY: OrgPolicy = { ...defaultPolicy('acme'), owners: ['olivia'] };
const SECRET = 'dckr_pat_s3cr3t-never-logged';

class Capture extends Transport {
  readonly lines: Array<Record<string, unknown>> = [];
  override log(info: Record<string, unknown>, done: () => void): void {
    this.lines.push(info);
    done();
  }
}

function request(method: string, uri: string, body?: unknown): AuthZRequest {
  return {
    user: '',
    userAuthNMethod: '',
    requestMethod: method,
    requestUri: uri,
    requestBody: body === undefined ? '' : Buffer.from(JSON.stringify(body)).toString('base64'),
    requestHeaders: body === undefined ? {} : { 'content-type': 'application/json' },
    responseStatusCode: 0,
  };
}

const DEFAULT_ROUTES: RouteSettings = { allowImport: false, allowLoad: false, allowBuild: true, protectPlugin: false, pluginName: 'image-access' };

function authorizer(
  options: {
    user?: string;
    routes?: Partial<RouteSettings>;
    policy?: PolicySource;
    mode?: 'enforce' | 'warn';
    decisionTimeoutMs?: number;
    mirrorsAroundGateway?: readonly string[];
  } = {},
) {
  const user: SignedInUser =
    options.user === undefined ? { source: 'none' } : { username: options.user, source: 'test', credential: { kind: 'password', secret: SECRET } };
  const identity: IdentityResolver = { identify: () => Promise.resolve(user) };
  const capture = new Capture();
  const logger = winston.createLogger({ level: 'debug', transports: [capture] });
  const authz = new Authorizer({
    policySource: options.policy ?? staticSource(POLICY, 'test', 0),
    identity,
    logger,
    mode: options.mode ?? 'enforce',
    failMode: 'closed',
    clock: () => 0,
    routes: { ...DEFAULT_ROUTES, ...options.routes },
    ...(options.decisionTimeoutMs === undefined ? {} : { decisionTimeoutMs: options.decisionTimeoutMs }),
    ...(options.mirrorsAroundGateway === undefined ? {} : { mirrorsAroundGateway: options.mirrorsAroundGateway }),
  });
  return { authz, lines: capture.lines };
}

const serviceSpec = (image: string) => ({ Name: 'web', TaskTemplate: { ContainerSpec: { Image: image } } });

describe('what the route alone decides is answered at once', () => {
  test('a passthrough call gets its reply without a promise, a pull gets one', () => {
    const { authz } = authorizer({ user: 'dev' });
    expect(authz.authorizeRequest(request('GET', '/v1.41/containers/json'))).toEqual({ Allow: true, Msg: '' });
    expect(authz.authorizeRequest(request('POST', '/v1.41/images/create?fromImage=alpine'))).toBeInstanceOf(Promise);
  });
});

describe('routes that name an image are judged like a pull', () => {
  test.each([
    ['docker service create', request('POST', '/v1.41/services/create', serviceSpec('someone/app:1.0'))],
    ['docker service update', request('POST', '/v1.41/services/x1/update?version=3', serviceSpec('someone/app:1.0'))],
    ['docker plugin install', request('POST', '/v1.41/plugins/pull?remote=someone%2Fapp%3A1.0&name=p', [])],
    ['docker plugin upgrade', request('POST', '/v1.41/plugins/p/upgrade?remote=someone%2Fapp%3A1.0', [])],
    ['docker plugin install, privileges', request('GET', '/v1.41/plugins/privileges?remote=someone%2Fapp%3A1.0')],
    ['GET /distribution/{name}/json', request('GET', '/v1.41/distribution/someone/app:1.0/json')],
  ])('%s of a community image is denied with the Image Access Management message', async (_name, req) => {
    const { authz, lines } = authorizer({ user: 'dev' });
    const reply = await authz.authorizeRequest(req);
    expect(reply).toEqual({ Allow: false, Msg: expect.stringContaining('docker.io/someone/app:1.0 is a community image') });
    expect(lines.filter((line) => line['message'] === 'image decision')).toEqual([
      expect.objectContaining({ image: 'docker.io/someone/app:1.0', decision: 'deny', rule: 'category-not-allowed' }),
    ]);
  });

  test('an official image in a service is allowed', async () => {
    const { authz } = authorizer({ user: 'dev' });
    expect(await authz.authorizeRequest(request('POST', '/services/create', serviceSpec('nginx:1.27')))).toEqual({ Allow: true, Msg: '' });
  });

  test('every image a spec could carry must pass', async () => {
    const { authz } = authorizer({ user: 'dev' });
    const spec = '{"TaskTemplate":{"ContainerSpec":{"Image":"alpine"},"containerspec":{"image":"someone/evil"}}}';
    const req = { ...request('POST', '/services/create'), requestBody: Buffer.from(spec).toString('base64') };
    expect(await authz.authorizeRequest(req)).toMatchObject({ Allow: false, Msg: expect.stringContaining('someone/evil') });
  });

  test('an invalid reference is denied, not waved through', async () => {
    const { authz } = authorizer();
    expect(await authz.authorizeRequest(request('POST', '/plugins/pull?remote=', []))).toMatchObject({
      Allow: false,
      Msg: expect.stringMatching(/^Image Access Management: cannot check "": /),
    });
    expect(await authz.authorizeRequest(request('POST', '/services/create', serviceSpec('someone/App')))).toMatchObject({
      Allow: false,
      Msg: expect.stringMatching(/^Image Access Management: cannot check "someone\/App": .*lowercase/),
    });
  });
});

describe('echoed values are bounded (a 0.9 MB reference was a 1.8 MB log line and a 1.6 MB audit line)', () => {
  const huge = `someone/app:${'x'.repeat(900_000)}`;
  const cases: Array<[string, AuthZRequest, boolean]> = [
    ['an invalid pull', request('POST', `/images/create?fromImage=${encodeURIComponent(huge)}`), true],
    ['an invalid registry', request('POST', `/images/create?fromImage=${'r'.repeat(900_000)}.io%2Fx`), true],
    ['a service spec', request('POST', '/services/create', serviceSpec(huge)), true],
    ['a plugin upgrade', request('POST', `/plugins/x/upgrade?remote=${encodeURIComponent(huge)}`, []), true],
    ['an import from a long host', request('POST', `/images/create?fromSrc=http%3A%2F%2F${'h'.repeat(60_000)}.example.com%2Fx.tar`), false],
    ['a form body on a long path', { ...request('POST', `/plugins/${'p'.repeat(900_000)}/set`), requestHeaders: { 'content-type': 'application/x-www-form-urlencoded' } }, true],
  ];
  test.each(cases)('%s: the message and every log field stay short, marked where cut', async (_name, req, echoed) => {
    const { authz, lines } = authorizer({ user: 'dev' });
    const reply = await authz.authorizeRequest(req);
    expect(reply.Allow).toBe(false);
    expect(reply.Msg.length).toBeLessThan(2_000);
    if (echoed) expect(reply.Msg).toContain('...[cut: ');
    expect(lines.length).toBeGreaterThan(0);
    for (const line of lines) expect(JSON.stringify(line).length).toBeLessThan(2_000);
    expect(JSON.stringify(lines)).toContain('...[cut: ');
  });
});

describe('routes whose content cannot be checked follow their setting', () => {
  const cases: Array<[string, string, keyof RouteSettings, string]> = [
    ['docker import -', '/v1.41/images/create?fromSrc=-&repo=x', 'allowImport', 'docker import'],
    ['docker import URL', '/v1.41/images/create?fromSrc=https%3A%2F%2Fh.example%2Fx.tar', 'allowImport', 'docker import'],
    ['docker load', '/v1.41/images/load', 'allowLoad', 'docker load'],
    ['docker plugin create', '/v1.41/plugins/create?name=x', 'allowLoad', 'docker plugin create'],
    ['docker build', '/v1.41/build?t=x', 'allowBuild', 'docker build'],
    ['BuildKit session', '/v1.41/session', 'allowBuild', 'docker build'],
    ['BuildKit grpc', '/grpc', 'allowBuild', 'docker build'],
    ['docker commit', '/v1.41/commit?container=c', 'allowBuild', 'docker commit'],
  ];

  test.each(cases)('%s is denied to a member when %s is off, naming the setting', async (_name, uri, setting, what) => {
    const { authz } = authorizer({ user: 'dev', routes: { [setting]: false } });
    const reply = await authz.authorizeRequest(request('POST', uri));
    expect(reply.Allow).toBe(false);
    expect(reply.Msg).toContain(what);
    expect(reply.Msg).toContain(setting === 'allowImport' ? 'IMAGE_ACCESS_ALLOW_IMPORT' : setting === 'allowLoad' ? 'IMAGE_ACCESS_ALLOW_LOAD' : 'IMAGE_ACCESS_ALLOW_BUILD');
    expect(reply.Msg).toContain('Only owners of organization "acme"');
  });

  test.each(cases)('%s is allowed for everyone when %s is on, and logged', async (_name, uri, setting) => {
    const { authz, lines } = authorizer({ routes: { [setting]: true } });
    expect(await authz.authorizeRequest(request('POST', uri))).toEqual({ Allow: true, Msg: '' });
    expect(lines).toEqual([expect.objectContaining({ message: 'image decision', decision: 'allow', rule: 'activity-allowed' })]);
  });

  test.each(cases)('%s is allowed for an owner of the organization', async (_name, uri, setting) => {
    const { authz } = authorizer({ user: 'olivia', routes: { [setting]: false } });
    expect(await authz.authorizeRequest(request('POST', uri))).toEqual({ Allow: true, Msg: '' });
  });

  test('the defaults: import and load refused, build and commit allowed', async () => {
    const { authz } = authorizer({ user: 'dev' });
    const allowed = async (uri: string) => (await authz.authorizeRequest(request('POST', uri))).Allow;
    expect(await allowed('/images/create?fromSrc=-')).toBe(false);
    expect(await allowed('/images/load')).toBe(false);
    expect(await allowed('/plugins/create?name=x')).toBe(false);
    expect(await allowed('/build')).toBe(true);
    expect(await allowed('/commit?container=x')).toBe(true);
  });

  test('with a registry mirror the gateway does not front, builds are refused whatever the setting, owners excepted', async () => {
    const { authz } = authorizer({ user: 'dev', mirrorsAroundGateway: ['localhost:5000'] });
    expect(await authz.authorizeRequest(request('POST', '/v1.41/build?t=x'))).toEqual({
      Allow: false,
      Msg:
        'Image Access Management: Building images (docker build, BuildKit) is not allowed on this host, because builders fetch FROM ' +
        'images through the registry mirror localhost:5000, which the image-access registry gateway does not see. Only owners of ' +
        `organization "acme" may do it; a Docker administrator can make the gateway front that mirror (README: registry mirrors). Note: ${DEMO_NOTICE}. ` +
        '[image-access: rule activity-not-allowed; signed in as dev (found by test). Help: ask your Docker administrator]',
    });
    expect((await authz.authorizeRequest(request('POST', '/commit?container=x'))).Allow).toBe(true);
    expect((await authorizer({ user: 'olivia', mirrorsAroundGateway: ['localhost:5000'] }).authz.authorizeRequest(request('POST', '/build'))).Allow).toBe(true);
    // IMAGE_ACCESS_ALLOW_BUILD=false keeps its own reason.
    const off = await authorizer({ user: 'dev', routes: { allowBuild: false }, mirrorsAroundGateway: ['localhost:5000'] }).authz.authorizeRequest(request('POST', '/build'));
    expect(off.Msg).toContain('IMAGE_ACCESS_ALLOW_BUILD');
  });

  test('warn mode lets it through and logs the would-be denial', async () => {
    const { authz, lines } = authorizer({ user: 'dev', mode: 'warn' });
    expect(await authz.authorizeRequest(request('POST', '/images/load'))).toEqual({ Allow: true, Msg: '' });
    expect(lines).toEqual([expect.objectContaining({ decision: 'warn', rule: 'activity-not-allowed' })]);
  });

  test('with the organization policy unavailable, nobody can be shown to be an owner', async () => {
    const down: PolicySource = {
      describe: 'down',
      policyFor: () => Promise.resolve({ unavailable: 'hub unreachable' }),
      badgeOf: () => Promise.resolve(undefined),
      close: () => undefined,
    };
    const { authz } = authorizer({ user: 'olivia', policy: down });
    const reply = await authz.authorizeRequest(request('POST', '/images/load'));
    expect(reply).toEqual({ Allow: false, Msg: expect.stringContaining('policy is unavailable (hub unreachable)') });
    // A build allowed by its setting never needs the policy.
    expect(await authz.authorizeRequest(request('POST', '/build'))).toEqual({ Allow: true, Msg: '' });
  });
});

test('a policy that never answers cannot hold a restricted route past the decision timeout', async () => {
  const stuck: PolicySource = {
    describe: 'stuck',
    policyFor: () => new Promise(() => undefined),
    badgeOf: () => Promise.resolve(undefined),
    close: () => undefined,
  };
  const { authz, lines } = authorizer({ user: 'olivia', policy: stuck, decisionTimeoutMs: 50 });
  const reply = await authz.authorizeRequest(request('POST', '/images/load'));
  expect(reply).toEqual({ Allow: false, Msg: expect.stringContaining('no answer within the decision timeout of 50 ms') });
  expect(lines).toEqual(expect.arrayContaining([expect.objectContaining({ message: 'image decision', decision: 'deny', rule: 'activity-not-allowed' })]));
});

describe('self-protection (IMAGE_ACCESS_PROTECT_PLUGIN)', () => {
  const changes: Array<[string, string, string]> = [
    ['disable', 'POST', '/v1.41/plugins/image-access:latest/disable'],
    ['disable by ID prefix', 'POST', '/v1.41/plugins/3f2a9c/disable'],
    ['remove', 'DELETE', '/v1.41/plugins/image-access?force=1'],
    ['set', 'POST', '/v1.41/plugins/docker.io%2Flibrary%2Fimage-access/set'],
    ['upgrade', 'POST', '/v1.41/plugins/image-access/upgrade?remote=acme%2Fimage-access%3A2'],
  ];

  test.each(changes)('%s of this plugin is denied to a non-owner', async (_name, method, uri) => {
    const { authz, lines } = authorizer({ user: 'dev', routes: { protectPlugin: true } });
    const reply = await authz.authorizeRequest(request(method, uri));
    expect(reply).toEqual({ Allow: false, Msg: expect.stringContaining('Disabling, removing, reconfiguring or upgrading the image-access plugin') });
    expect(lines).toEqual([expect.objectContaining({ decision: 'deny', rule: 'plugin-protected' })]);
  });

  test.each(changes)('%s of this plugin is allowed to an owner', async (_name, method, uri) => {
    const { authz } = authorizer({ user: 'olivia', routes: { protectPlugin: true } });
    expect(await authz.authorizeRequest(request(method, uri))).toEqual({ Allow: true, Msg: '' });
  });

  test.each(changes)('%s passes when protection is off (the default)', async (_name, method, uri) => {
    const { authz } = authorizer({ user: 'dev' });
    expect(await authz.authorizeRequest(request(method, uri))).toEqual({ Allow: true, Msg: '' });
  });

  test('other plugins are not protected, but an upgrade still judges its image', async () => {
    const { authz } = authorizer({ user: 'dev', routes: { protectPlugin: true } });
    expect(await authz.authorizeRequest(request('POST', '/plugins/vieux/sshfs:latest/disable'))).toEqual({ Allow: true, Msg: '' });
    expect(await authz.authorizeRequest(request('DELETE', '/plugins/vieux/sshfs'))).toEqual({ Allow: true, Msg: '' });
    const upgrade = await authz.authorizeRequest(request('POST', '/plugins/vieux/sshfs/upgrade?remote=vieux%2Fsshfs%3Anext', []));
    expect(upgrade).toMatchObject({ Allow: false, Msg: expect.stringContaining('docker.io/vieux/sshfs:next is a community image') });
  });

  test('the plugin name is a setting', async () => {
    const { authz } = authorizer({ user: 'dev', routes: { protectPlugin: true, pluginName: 'corp/iam:2.0' } });
    expect((await authz.authorizeRequest(request('POST', '/plugins/corp/iam:2.0/disable'))).Allow).toBe(false);
    expect((await authz.authorizeRequest(request('POST', '/plugins/image-access/disable'))).Allow).toBe(true);
  });

  test('the plugin stays protected while Image Access Management is off', async () => {
    const off = staticSource({ ...POLICY, restrictedImages: { ...POLICY.restrictedImages, enabled: false } }, 'off', 0);
    const { authz } = authorizer({ user: 'dev', routes: { protectPlugin: true }, policy: off });
    expect((await authz.authorizeRequest(request('POST', '/plugins/image-access/disable'))).Allow).toBe(false);
    expect((await authz.authorizeRequest(request('POST', '/images/load'))).Allow).toBe(true);
  });
});

test('no credential reaches a message or a log line on any route', async () => {
  const { authz, lines } = authorizer({ user: 'dev', routes: { protectPlugin: true } });
  const uris: Array<[string, string]> = [
    ['POST', `/images/create?fromSrc=https%3A%2F%2Fu%3A${SECRET}%40h.example%2Fx.tar%3Ftoken%3D${SECRET}`],
    ['POST', `/build?remote=https%3A%2F%2Fx%3A${SECRET}%40github.com%2Fa%2Fb.git`],
    ['POST', '/images/load'],
    ['POST', '/plugins/image-access/disable'],
  ];
  const messages = await Promise.all(uris.map(async ([method, uri]) => (await authz.authorizeRequest(request(method, uri))).Msg));
  expect(messages.join('\n')).not.toContain(SECRET);
  expect(JSON.stringify(lines)).not.toContain(SECRET);
  expect(lines.length).toBeGreaterThanOrEqual(uris.length);
});

describe('decideRestricted (pure)', () => {
  const activities: RestrictedActivity[] = ['import', 'load', 'build', 'commit', 'plugin-create', 'plugin-change'];

  test.each(activities)('%s: a setting that allows it needs no policy', (activity) => {
    expect(activityAllowedBySetting(activity, 'x')).toMatchObject({ allow: true, rule: 'activity-allowed', message: '' });
  });

  test.each(activities)('%s: owners by policy or by membership, nobody else', (activity) => {
    const input = { activity, detail: 'x', policy: POLICY };
    expect(decideRestricted({ ...input, identity: { username: 'olivia', source: 't' } })).toMatchObject({ allow: true, rule: 'owner' });
    expect(decideRestricted({ ...input, identity: { username: 'max', source: 't' }, membership: 'owner' })).toMatchObject({ allow: true, rule: 'owner' });
    expect(decideRestricted({ ...input, identity: { username: 'max', source: 't' }, membership: 'member' })).toMatchObject({ allow: false });
    expect(decideRestricted({ ...input, identity: { source: 'none' } })).toMatchObject({
      allow: false,
      reason: expect.stringContaining('nobody signed in'),
      message: expect.stringMatching(/^Image Access Management: .+ is not allowed on this host, because .+\. Only owners of organization "acme"/),
    });
  });
});
