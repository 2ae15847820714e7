import { decideRegistryConnection } from '../../src/decision/decide';
import { connectRoute, parseConnectTarget } from '../../src/gateway/hub-hosts';
import { parseRegistryRequest, type RegistryRequest } from '../../src/gateway/registry-request';
import { defaultPolicy } from '../../src/policy/default-policy';
import { parseHubMirrors } from '../../src/reference/reference';

const DIGEST = `sha256:${'a'.repeat(64)}`;

describe('registry requests seen by the gateway', () => {
  const fetch = (resource: string, path: string, image: Record<string, string>, upstreamPath: string): RegistryRequest =>
    ({ kind: 'fetch', resource, image: { domain: 'docker.io', path, ...image }, path: upstreamPath }) as RegistryRequest;

  it.each<[string, string, RegistryRequest]>([
    ['GET', '/v2/', { kind: 'ping' }],
    ['GET', '/v2', { kind: 'ping' }],
    ['HEAD', '/v2/someone/app/manifests/1.0', fetch('manifest', 'someone/app', { tag: '1.0' }, '/v2/someone/app/manifests/1.0')],
    ['GET', `/v2/someone/app/manifests/${DIGEST}`, fetch('manifest', 'someone/app', { digest: DIGEST }, `/v2/someone/app/manifests/${DIGEST}`)],
    // Docker Hub serves one-component names as library/: judged and fetched as the same repository.
    ['GET', '/v2/alpine/manifests/latest', fetch('manifest', 'library/alpine', { tag: 'latest' }, '/v2/library/alpine/manifests/latest')],
    ['GET', `/v2/someone/app/blobs/${DIGEST}`, fetch('blob', 'someone/app', { digest: DIGEST }, `/v2/someone/app/blobs/${DIGEST}`)],
    ['GET', '/v2/someone/app/tags/list?n=10', fetch('tags', 'someone/app', {}, '/v2/someone/app/tags/list?n=10')],
    ['GET', `/v2/someone/app/referrers/${DIGEST}`, fetch('referrers', 'someone/app', { digest: DIGEST }, `/v2/someone/app/referrers/${DIGEST}`)],
    // containerd adds ?ns= when it talks to a mirror: kept, not part of the name.
    ['GET', '/v2/library/alpine/manifests/3?ns=docker.io', fetch('manifest', 'library/alpine', { tag: '3' }, '/v2/library/alpine/manifests/3?ns=docker.io')],
    // A repository may itself have `manifests` or `blobs` in its name.
    ['GET', '/v2/a/manifests/b/manifests/1', fetch('manifest', 'a/manifests/b', { tag: '1' }, '/v2/a/manifests/b/manifests/1')],
    ['POST', '/v2/acme/app/blobs/uploads/', { kind: 'push' }],
    ['PATCH', '/v2/acme/app/blobs/uploads/123-abc', { kind: 'push' }],
    ['PUT', '/v2/acme/app/manifests/1.0', { kind: 'push' }],
    ['GET', '/v2/_catalog', { kind: 'other' }],
    ['DELETE', '/v2/someone/app/tags/list', { kind: 'other' }],
    ['GET', '/', { kind: 'other' }],
  ])('%s %s', (method, target, expected) => {
    expect(parseRegistryRequest(method, target)).toStrictEqual(expected);
  });

  it.each([
    ['/v2/Someone/app/manifests/1.0', 'Someone/app'],
    ['/v2/someone/app/manifests/bad:tag', 'someone/app/manifests/bad:tag'],
    ['/v2/someone/app/blobs/latest', 'someone/app/blobs/latest'],
    ['/v2/someone%2fapp/manifests/1.0', '/v2/someone%2fapp/manifests/1.0'],
    ['/v2/someone/../library/alpine/manifests/1', 'someone/../library/alpine'],
  ])('refuses %s (names %s)', (target, name) => {
    const parsed = parseRegistryRequest('GET', target);
    expect(parsed.kind).toBe('invalid');
    expect(parsed.kind === 'invalid' && parsed.name).toBe(name);
  });
});

describe('CONNECT targets', () => {
  const mirrors = new Set(parseHubMirrors('https://mirror.example.com,http://127.0.0.1:5000') as string[]);

  it.each([
    ['registry-1.docker.io:443', { kind: 'intercept', host: 'registry-1.docker.io' }],
    ['Registry-1.Docker.IO:0443', { kind: 'intercept', host: 'registry-1.docker.io' }],
    ['index.docker.io:443', { kind: 'intercept', host: 'index.docker.io' }],
    ['registry.hub.docker.com:443', { kind: 'intercept', host: 'registry.hub.docker.com' }],
    // Another port is another registry, whatever its name.
    ['registry-1.docker.io:5000', { kind: 'tunnel', registry: 'registry-1.docker.io:5000' }],
    ['auth.docker.io:443', { kind: 'tunnel', registry: 'docker.io' }],
    ['production.cloudflare.docker.com:443', { kind: 'tunnel', registry: 'docker.io' }],
    ['docker-images-prod.6aa30f8b08e16409b46e0173d6de2f56.r2.cloudflarestorage.com:443', { kind: 'tunnel', registry: 'docker.io' }],
    ['evil-docker.io:443', { kind: 'tunnel', registry: 'evil-docker.io' }],
    ['other.r2.cloudflarestorage.com:443', { kind: 'tunnel', registry: 'other.r2.cloudflarestorage.com' }],
    ['ghcr.io:443', { kind: 'tunnel', registry: 'ghcr.io' }],
    ['mirror.example.com:443', { kind: 'mirror', host: 'mirror.example.com' }],
    ['localhost:5000', { kind: 'mirror', host: 'localhost:5000' }],
    ['[::1]:443', { kind: 'tunnel', registry: 'localhost' }],
  ])('%s', (target, route) => {
    const parsed = parseConnectTarget(target);
    expect(parsed).toBeDefined();
    expect(connectRoute(parsed!, mirrors)).toStrictEqual(route);
  });

  it.each(['registry-1.docker.io', 'host:0', 'host:65536', 'a b:443', '-bad.example:443', '/path:443', ''])('refuses %j', (target) => {
    expect(parseConnectTarget(target)).toBeUndefined();
  });
});

describe('Registry Access Management on tunnelled connections', () => {
  const policy = { ...defaultPolicy('acme'), registryAllowlist: ['docker.io', 'ghcr.io', 'registry.acme.internal:5000'] };

  it.each([
    ['ghcr.io:443', 'ghcr.io', true],
    ['registry.acme.internal:5000', 'registry.acme.internal:5000', true],
    ['auth.docker.io:443', 'docker.io', true],
    ['quay.io:443', 'quay.io', false],
    ['registry.acme.internal:443', 'registry.acme.internal', false],
  ])('%s as %s: allowed %s', (host, registry, allowed) => {
    const decision = decideRegistryConnection(host, registry, policy);
    expect(decision.allow).toBe(allowed);
    expect(decision.rule).toBe(allowed ? 'outside-hub' : 'registry-not-allowed');
    if (!allowed) expect(decision.message).toBe(`Registry Access Management: dockerd may not connect to ${host}: organization "acme" only allows pulls from docker.io, ghcr.io, registry.acme.internal:5000. Ask an owner of "acme" to allow it.`);
  });

  it('refuses Docker Hub hosts when docker.io is not allowed, and says they are Docker Hub', () => {
    const decision = decideRegistryConnection('auth.docker.io:443', 'docker.io', { ...policy, registryAllowlist: ['ghcr.io'] });
    expect(decision.allow).toBe(false);
    expect(decision.reason).toBe('registry auth.docker.io:443 (Docker Hub) is not in the registry allowlist of organization "acme"');
  });

  it('allows every connection without an allowlist, or without a policy', () => {
    expect(decideRegistryConnection('quay.io:443', 'quay.io', defaultPolicy('acme')).allow).toBe(true);
    expect(decideRegistryConnection('quay.io:443', 'quay.io', undefined).allow).toBe(true);
  });
});
