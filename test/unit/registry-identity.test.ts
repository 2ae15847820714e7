import { silentLogger } from '../../src/audit/logger';
import { Authorizer } from '../../src/authorizer';
import { decide } from '../../src/decision/decide';
import type { DecisionEvent } from '../../src/observability/events';
import { defaultPolicy } from '../../src/policy/default-policy';
import { staticSource } from '../../src/policy/file-source';
import type { OrgPolicy } from '../../src/policy/policy';
import { bareRequest } from '../../src/protocol/wire';
import { cachingHostResolver, type HostResolver } from '../../src/reference/host-resolver';
import { parseReference, registryHostKey } from '../../src/reference/reference';
import { canonicalAddress, matchMirror, resolvedHost, sameRegistry, unresolvedHost } from '../../src/reference/registry-identity';

/**
 * Registries are told apart by where dockerd connects, not by spelling (issue 11): with the mirror at
 * 127.0.0.1:5101, dockerd 26.1 pulls `[::ffff:7f00:1]:5101/someone/app:1.0` and both engines pull
 * `HOSTNAME:5101/someone/app:1.0` for an /etc/hosts name of the mirror; both were judged "outside Docker Hub".
 */

describe('canonical addresses and host keys', () => {
  test.each([
    ['127.0.0.1', 'localhost'],
    ['127.9.9.9', 'localhost'],
    ['::1', 'localhost'],
    ['[0:0:0:0:0:0:0:1]', 'localhost'],
    ['::ffff:7f00:1', 'localhost'],
    ['[::ffff:127.0.0.1]', 'localhost'],
    ['::ffff:a00:5', '10.0.0.5'],
    ['[::FFFF:0A00:0005]', '10.0.0.5'],
    ['2001:DB8:0:0:0:0:0:1', '2001:db8::1'],
    ['10.0.0.5', '10.0.0.5'],
    ['LOCALHOST', 'localhost'],
  ])('%s is dialled as %s', (address, canonical) => {
    expect(canonicalAddress(address)).toBe(canonical);
  });

  test.each(['vm', 'mirror.example.com', '10.0.0', '0x7f000001'])('%s is a name to resolve', (name) => {
    expect(canonicalAddress(name)).toBeUndefined();
  });

  test.each([
    ['[::ffff:7f00:1]:5101', 'localhost:5101'],
    ['[::ffff:a00:5]:05000', '10.0.0.5:5000'],
    ['[2001:db8::0:1]:443', '[2001:db8::1]'],
    ['VM:5101', 'vm:5101'],
  ])('registry host %s is keyed %s', (host, key) => {
    expect(registryHostKey(host)).toBe(key);
  });
});

describe('matchMirror (pure: resolutions are passed in)', () => {
  const mirror = resolvedHost('localhost:5101', ['localhost']);
  test('a name that resolves to the mirror, on its port, is the mirror', () => {
    expect(matchMirror(resolvedHost('vm:5101', ['127.0.0.1']), [mirror])).toBe('mirror');
    expect(matchMirror(resolvedHost('vm:5101', ['::ffff:7f00:1', '10.1.1.1']), [mirror])).toBe('mirror');
  });

  test('another port, or other addresses, is another registry', () => {
    expect(matchMirror(resolvedHost('vm:5102', ['127.0.0.1']), [mirror])).toBe('other');
    expect(matchMirror(resolvedHost('vm', ['127.0.0.1']), [mirror])).toBe('other');
    expect(matchMirror(resolvedHost('ghcr.io', ['140.82.1.1']), [mirror])).toBe('other');
  });

  test('a mirror given by name matches an address it resolves to', () => {
    const named = resolvedHost('mirror.internal:5000', ['10.0.0.5']);
    expect(matchMirror(resolvedHost('10.0.0.5:5000', ['10.0.0.5']), [named])).toBe('mirror');
    expect(matchMirror(resolvedHost('[::ffff:a00:5]:5000', ['10.0.0.5']), [named])).toBe('mirror');
  });

  test('a failed resolution on either side makes the answer unknown, never "other"', () => {
    expect(matchMirror(unresolvedHost('vm:5101', 'ENOTFOUND'), [mirror])).toEqual({ unknown: 'vm:5101: ENOTFOUND' });
    expect(matchMirror(resolvedHost('ghcr.io', ['140.82.1.1']), [unresolvedHost('mirror.internal:5000', 'EAI_AGAIN')])).toEqual({
      unknown: 'mirror.internal:5000: EAI_AGAIN',
    });
    // The same spelling needs no resolution.
    expect(matchMirror(unresolvedHost('mirror.internal:5000', 'EAI_AGAIN'), [unresolvedHost('mirror.internal:5000', 'EAI_AGAIN')])).toBe('mirror');
  });

  test('sameRegistry: the same key, or an endpoint in common', () => {
    expect(sameRegistry(unresolvedHost('a:1', 'x'), unresolvedHost('a:1', 'y'))).toBe(true);
    expect(sameRegistry(resolvedHost('a:1', ['10.0.0.1']), resolvedHost('b:1', ['10.0.0.2', '10.0.0.1']))).toBe(true);
    expect(sameRegistry(resolvedHost('a:1', ['10.0.0.1']), resolvedHost('b:2', ['10.0.0.1']))).toBe(false);
  });
});

/** A resolver over a fixed table; names not in it fail as an unknown name does. */
function tableResolver(table: Record<string, string[]>, calls: string[] = []): HostResolver {
  return cachingHostResolver({
    logger: silentLogger(),
    clock: () => 0,
    lookup: (name) => {
      calls.push(name);
      const found = Object.hasOwn(table, name) ? table[name] : undefined;
      return found ? Promise.resolve(found) : Promise.reject(new Error(`getaddrinfo ENOTFOUND ${name}`));
    },
  });
}

const MIRROR = '127.0.0.1:5101';
const HOSTS = { vm: ['127.0.0.1'], 'mirror.internal': ['10.0.0.5'], 'registry.acme.internal': ['10.0.0.9'], 'other.internal': ['10.0.0.10'] };

function authorizer(options: { mirrors?: string[]; policy?: OrgPolicy; failMode?: 'open' | 'closed'; resolver?: HostResolver } = {}) {
  const events: DecisionEvent[] = [];
  const authz = new Authorizer({
    policySource: staticSource(options.policy ?? defaultPolicy('acme'), 'test', 0),
    identity: { identify: () => Promise.resolve({ username: 'dev', source: 'test' }) },
    logger: silentLogger(),
    mode: 'enforce',
    failMode: options.failMode ?? 'closed',
    clock: () => 0,
    routes: { allowImport: false, allowLoad: false, allowBuild: true, protectPlugin: false, pluginName: 'image-access' },
    observers: [{ decided: (event) => events.push(event) }],
    hubMirrors: options.mirrors ?? [MIRROR],
    hostResolver: options.resolver ?? tableResolver(HOSTS),
  });
  const pull = (image: string) => authz.authorizeRequest(bareRequest('POST', `/v1.41/images/create?fromImage=${encodeURIComponent(image)}`));
  return { pull, events };
}

describe('the mirror under every name dockerd reaches it by is Docker Hub', () => {
  test.each(['vm:5101/someone/app:1.0', '[::ffff:7f00:1]:5101/someone/app:1.0', 'localhost:5101/someone/app:1.0', '127.0.0.1:5101/someone/app:1.0'])(
    'docker pull %s is judged as docker.io/someone/app:1.0',
    async (image) => {
      const { pull, events } = authorizer();
      expect(await pull(image)).toEqual({ Allow: false, Msg: expect.stringContaining('docker.io/someone/app:1.0 is a community image') });
      expect(events[0]).toMatchObject({ image: 'docker.io/someone/app:1.0', rule: 'category-not-allowed' });
    },
  );

  test('a mirror configured by name is reached by its address too', async () => {
    const { pull, events } = authorizer({ mirrors: ['mirror.internal:5000'] });
    expect((await pull('10.0.0.5:5000/someone/app:1.0')).Allow).toBe(false);
    expect((await pull('[::ffff:a00:5]:5000/someone/app:1.0')).Allow).toBe(false);
    expect(events.map((event) => event.image)).toEqual(['docker.io/someone/app:1.0', 'docker.io/someone/app:1.0']);
  });

  test('the same host on another port, or another host, is another registry', async () => {
    const { pull, events } = authorizer();
    expect((await pull('vm:5102/someone/app:1.0')).Allow).toBe(true);
    expect((await pull('other.internal:5101/someone/app:1.0')).Allow).toBe(true);
    expect(events.map((event) => event.rule)).toEqual(['outside-hub', 'outside-hub']);
  });

  test('a host that cannot be resolved is not waved through: fail-closed denies, saying why; fail-open allows', async () => {
    const closed = authorizer();
    const reply = await closed.pull('nowhere.example:5101/someone/app:1.0');
    expect(reply).toEqual({ Allow: false, Msg: expect.stringContaining("could not be resolved to tell whether it is this engine's Docker Hub mirror") });
    expect(reply.Msg).toContain('ENOTFOUND nowhere.example');
    expect(closed.events[0]).toMatchObject({ rule: 'fail-closed' });
    const open = authorizer({ failMode: 'open' });
    expect((await open.pull('nowhere.example:5101/someone/app:1.0')).Allow).toBe(true);
    expect(open.events[0]).toMatchObject({ rule: 'fail-open' });
  });

  test('without mirrors, or for Docker Hub names, nothing is resolved', async () => {
    const calls: string[] = [];
    const { pull } = authorizer({ mirrors: [], resolver: tableResolver(HOSTS, calls) });
    expect((await pull('nowhere.example:5101/someone/app:1.0')).Allow).toBe(true);
    const withMirror = authorizer({ resolver: tableResolver(HOSTS, calls) });
    expect((await withMirror.pull('someone/app:1.0')).Allow).toBe(false);
    expect((await withMirror.pull('registry-1.docker.io/library/alpine')).Allow).toBe(true);
    expect(calls).toEqual([]);
  });
});

describe("repositories on the mirror are normalised as dockerd fetches them, not as Hub's", () => {
  test.each([
    // dockerd asks the mirror for `someone`: its own repository, not docker.io/library/someone.
    ['vm:5101/someone:1.0', 'docker.io/someone:1.0'],
    ['127.0.0.1:5101/someone:1.0', 'docker.io/someone:1.0'],
    ['127.0.0.1:5101/library/someone/app:1.0', 'docker.io/library/someone/app:1.0'],
  ])('%s is %s, a community image', async (image, judged) => {
    const { pull, events } = authorizer();
    expect(await pull(image)).toEqual({ Allow: false, Msg: expect.stringContaining(`${judged} is a community image`) });
    expect(events[0]).toMatchObject({ image: judged, category: 'community' });
  });

  test('the library/ rule stays where dockerd applies it: alpine and MIRROR/library/alpine are official', async () => {
    const { pull, events } = authorizer();
    expect((await pull('alpine')).Allow).toBe(true);
    expect((await pull('127.0.0.1:5101/library/alpine')).Allow).toBe(true);
    expect((await pull('docker.io/library/someone/app')).Allow).toBe(false);
    expect(events.map((event) => event.category)).toEqual(['official', 'official', 'community']);
  });

  test("a one-component mirror repository never counts as the organisation's own", async () => {
    const { pull, events } = authorizer();
    expect((await pull('127.0.0.1:5101/acme:1.0')).Allow).toBe(false);
    expect(events[0]).toMatchObject({ category: 'community' });
  });
});

describe('the registry allowlist compares registries the same way', () => {
  const policy: OrgPolicy = { ...defaultPolicy('acme'), registryAllowlist: ['docker.io', 'registry.acme.internal:5000'] };

  test('an address or another name of a listed registry is that registry', async () => {
    const { pull, events } = authorizer({ mirrors: [], policy });
    expect((await pull('10.0.0.9:5000/team/app:1')).Allow).toBe(true);
    expect((await pull('[::ffff:a00:9]:5000/team/app:1')).Allow).toBe(true);
    expect((await pull('registry.acme.internal:5000/team/app:1')).Allow).toBe(true);
    expect(events.map((event) => event.rule)).toEqual(['outside-hub', 'outside-hub', 'outside-hub']);
  });

  test('another registry, another port, or a host that cannot be resolved is not allowed', async () => {
    const { pull, events } = authorizer({ mirrors: [], policy });
    expect((await pull('other.internal:5000/team/app:1')).Allow).toBe(false);
    expect((await pull('10.0.0.9:5001/team/app:1')).Allow).toBe(false);
    expect((await pull('nowhere.example:5000/team/app:1')).Allow).toBe(false);
    expect(events.map((event) => event.rule)).toEqual(['registry-not-allowed', 'registry-not-allowed', 'registry-not-allowed']);
  });

  test('decide is pure: the comparison is passed in, and spelling is the default', () => {
    const parsed = parseReference('10.0.0.9:5000/team/app:1');
    if (!parsed.ok) throw new Error(parsed.error);
    const input = { image: parsed.reference, category: 'outside_hub' as const, identity: { username: 'dev', source: 'test' }, policy };
    expect(decide(input).rule).toBe('registry-not-allowed');
    expect(decide({ ...input, sameRegistry: (listed, domain) => listed === 'registry.acme.internal:5000' && domain === '10.0.0.9:5000' }).rule).toBe('outside-hub');
  });
});

describe('cachingHostResolver', () => {
  test('resolutions are cached: a decision about a host seen recently does no lookup', async () => {
    const calls: string[] = [];
    const resolver = tableResolver(HOSTS, calls);
    await resolver.resolve('vm:5101');
    await resolver.resolve('vm:5102');
    expect(await resolver.resolve('vm')).toEqual(resolvedHost('vm', ['127.0.0.1']));
    expect(calls).toEqual(['vm']);
  });

  test('IP literals and localhost need no lookup', async () => {
    const calls: string[] = [];
    const resolver = tableResolver({}, calls);
    expect([...(await resolver.resolve('localhost:5101')).endpoints]).toEqual(['localhost:5101']);
    expect([...(await resolver.resolve('[2001:db8::1]:5000')).endpoints]).toEqual(['[2001:db8::1]:5000']);
    expect(calls).toEqual([]);
  });

  test('a lookup that fails or hangs gives an unresolved host with the reason', async () => {
    const failing = await tableResolver({}).resolve('nowhere:1');
    expect(failing).toEqual({ key: 'nowhere:1', endpoints: new Set(), error: 'getaddrinfo ENOTFOUND nowhere' });
    const hanging = cachingHostResolver({ logger: silentLogger(), clock: () => 0, lookup: () => new Promise(() => undefined) });
    const started = Date.now();
    const result = await hanging.resolve('slow:1');
    expect(result.error).toContain('still waiting');
    expect(Date.now() - started).toBeLessThan(5_000);
  });
});
