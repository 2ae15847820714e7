/**
 * Registry API requests (distribution's v2 routes) as the gateway sees them on Docker Hub's registry endpoint: which
 * repository, and which manifest or blob, a request fetches. Pure: the gateway server judges what this returns.
 */
import { DOCKER_HUB, parseReference, TAG, validateDigest, type ImageReference } from '../reference/reference';

/** What a registry request does, as far as Image Access Management cares. */
export type RegistryRequest =
  /** `/v2/`: the API version check and its auth challenge. */
  | { readonly kind: 'ping' }
  /** Content of a repository coming towards this machine: judged like a pull of `image`. */
  | { readonly kind: 'fetch'; readonly resource: FetchedResource; readonly image: ImageReference; readonly path: string }
  /** Content going out (a push): nothing reaches the host, so it is forwarded unjudged. */
  | { readonly kind: 'push' }
  /** A name or path the registry itself would refuse (or that could mean something else upstream): denied. */
  | { readonly kind: 'invalid'; readonly name: string; readonly problem: string }
  /** Nothing of a repository (`/v2/_catalog`, unknown routes): refused, a registry client never needs it here. */
  | { readonly kind: 'other' };

export type FetchedResource = 'manifest' | 'blob' | 'tags' | 'referrers';

const READ_METHODS = new Set(['GET', 'HEAD']);
/** Greedy name, then the route: a repository may itself contain `manifests` or `blobs` as a path component. */
const ROUTES: ReadonlyArray<{ readonly resource: FetchedResource | 'upload'; readonly pattern: RegExp }> = [
  { resource: 'upload', pattern: /^\/v2\/(.+)\/blobs\/uploads\/[^/]*$/ },
  { resource: 'manifest', pattern: /^\/v2\/(.+)\/manifests\/([^/]+)$/ },
  { resource: 'blob', pattern: /^\/v2\/(.+)\/blobs\/([^/]+)$/ },
  { resource: 'tags', pattern: /^\/v2\/(.+)\/tags\/list$/ },
  { resource: 'referrers', pattern: /^\/v2\/(.+)\/referrers\/([^/]+)$/ },
];

/**
 * Reads a request target (origin-form, as inside the intercepted TLS connection or at the mirror front). `path` of a
 * fetch is the target to send upstream: the repository as judged (`alpine` is fetched as `library/alpine`, as Docker
 * Hub serves it), so what was judged is what is fetched.
 */
export function parseRegistryRequest(method: string, target: string): RegistryRequest {
  const query = target.indexOf('?');
  const rawPath = query === -1 ? target : target.slice(0, query);
  // Registry names never need escaping: an escaped path could be read one way here and another way upstream.
  if (rawPath.includes('%')) return { kind: 'invalid', name: rawPath, problem: 'percent-encoded registry path' };
  if (rawPath === '/v2' || rawPath === '/v2/') return { kind: 'ping' };
  for (const { resource, pattern } of ROUTES) {
    const match = pattern.exec(rawPath);
    if (match === null) continue;
    const name = match[1]!;
    if (resource === 'upload' || !READ_METHODS.has(method)) {
      return resource === 'upload' || resource === 'manifest' || resource === 'blob' ? { kind: 'push' } : { kind: 'other' };
    }
    const reference = match[2];
    const parsed = parseReference(`${DOCKER_HUB}/${name}`);
    if (!parsed.ok) return { kind: 'invalid', name, problem: parsed.error };
    const image = withReference(parsed.reference, resource, reference);
    if (image instanceof Error) return { kind: 'invalid', name: `${name}/${resource}s/${reference ?? ''}`, problem: image.message };
    const suffix = rawPath.slice(`/v2/${name}`.length);
    return { kind: 'fetch', resource, image, path: `/v2/${parsed.reference.path}${suffix}${query === -1 ? '' : target.slice(query)}` };
  }
  return { kind: 'other' };
}

/** A manifest by tag or digest, a blob or referrers by digest; tags of the whole repository. */
function withReference(repository: ImageReference, resource: FetchedResource, reference: string | undefined): ImageReference | Error {
  const { domain, path } = repository;
  if (reference === undefined) return { domain, path };
  if (validateDigest(reference) === undefined) return { domain, path, digest: reference };
  if (resource === 'manifest' && TAG.test(reference)) return { domain, path, tag: reference };
  return new Error(`invalid ${resource === 'manifest' ? 'tag or digest' : 'digest'} "${reference}"`);
}
