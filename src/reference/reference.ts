/**
 * Image reference parsing and normalisation, following distribution/reference's ParseNormalizedNamed
 * (the function dockerd runs on `fromImage`), so that the plugin judges exactly the repository the engine pulls.
 */
import { canonicalHost, splitHostKey } from './registry-identity';

export const DOCKER_HUB = 'docker.io';
/** Hosts that are Docker Hub under another name; the engine talks to Hub for all of them. */
const HUB_ALIASES = new Set(['docker.io', 'index.docker.io', 'registry-1.docker.io', 'registry.hub.docker.com']);
/** Ports that name the same host as no port at all, as far as telling registries apart goes. */
const DEFAULT_PORTS = new Set(['443', '80']);

const OFFICIAL_NAMESPACE = 'library';
const NAME_TOTAL_LENGTH_MAX = 255;

export interface ImageReference {
  /** Registry host (with port), `docker.io` for Docker Hub. */
  readonly domain: string;
  /** Repository path inside the registry, e.g. `library/alpine`. */
  readonly path: string;
  readonly tag?: string;
  readonly digest?: string;
}

export type ParseResult = { ok: true; reference: ImageReference } | { ok: false; error: string };

const alphanumeric = '[a-z0-9]+';
const separator = '(?:[._]|__|[-]+)';
const pathComponent = `${alphanumeric}(?:${separator}${alphanumeric})*`;
const domainComponent = '(?:[a-zA-Z0-9]|[a-zA-Z0-9][a-zA-Z0-9-]*[a-zA-Z0-9])';
const ipv6 = '\\[(?:[a-fA-F0-9:]+)\\]';
const domainName = `${domainComponent}(?:\\.${domainComponent})*`;
const domainAndPort = `(?:${domainName}|${ipv6})(?::[0-9]+)?`;
const PATH = new RegExp(`^${pathComponent}(?:/${pathComponent})*$`);
const DOMAIN = new RegExp(`^${domainAndPort}$`);
export const TAG = /^[\w][\w.-]{0,127}$/;
const DIGEST = /^[A-Za-z][A-Za-z0-9]*(?:[-_+.][A-Za-z][A-Za-z0-9]*)*:[0-9a-fA-F]{32,}$/;
const DIGEST_HEX_LENGTH: Readonly<Record<string, number>> = { sha256: 64, sha384: 96, sha512: 128 };
const ANCHORED_IDENTIFIER = /^[a-f0-9]{64}$/;

const invalid = (error: string): ParseResult => ({ ok: false, error });

/** Checks a digest as go-digest's Parse does: well-formed, and the right length for the algorithms it knows. */
export function validateDigest(digest: string): string | undefined {
  if (!DIGEST.test(digest)) return `invalid digest "${digest}"`;
  const [algorithm = '', hex = ''] = digest.split(':');
  const expected = DIGEST_HEX_LENGTH[algorithm];
  if (expected === undefined) return `unsupported digest algorithm "${algorithm}"`;
  if (hex.length !== expected || hex !== hex.toLowerCase()) return `invalid ${algorithm} digest "${digest}"`;
  return undefined;
}

/** Splits `name` into domain and remainder the way distribution/reference's splitDockerDomain does. */
function splitDomain(name: string): { domain: string; remainder: string } {
  const slash = name.indexOf('/');
  const first = slash === -1 ? '' : name.slice(0, slash);
  const isRegistry = slash !== -1 && (/[.:]/.test(first) || first === 'localhost' || first.toLowerCase() !== first);
  if (!isRegistry) return { domain: DOCKER_HUB, remainder: name };
  return { domain: first, remainder: name.slice(slash + 1) };
}

/**
 * Parses a reference as `docker pull` accepts it (`alpine`, `acme/app:1.0`, `ghcr.io/o/r@sha256:...`) into its
 * canonical form. Hub aliases fold to `docker.io` and one-component Hub names gain `library/`; a registry mirror
 * named directly is another registry here (see viaHubMirror).
 */
export function parseReference(input: string): ParseResult {
  if (input.length === 0) return invalid('invalid reference format: repository name must have at least one component');
  if (ANCHORED_IDENTIFIER.test(input)) {
    return invalid(`invalid repository name (${input}), cannot specify 64-byte hexadecimal strings`);
  }
  let rest = input;
  let digest: string | undefined;
  const at = rest.indexOf('@');
  if (at !== -1) {
    digest = rest.slice(at + 1);
    rest = rest.slice(0, at);
    const problem = validateDigest(digest);
    if (problem) return invalid(`invalid reference format: ${problem}`);
  }
  let tag: string | undefined;
  const colon = rest.lastIndexOf(':');
  if (colon > rest.lastIndexOf('/')) {
    tag = rest.slice(colon + 1);
    rest = rest.slice(0, colon);
    if (!TAG.test(tag)) return invalid(`invalid reference format: invalid tag "${tag}"`);
  }
  const split = splitDomain(rest);
  let domain = split.domain;
  let path = split.remainder;
  if (!DOMAIN.test(domain)) return invalid(`invalid reference format: invalid registry "${domain}"`);
  // A name without a registry (nearly every pull) is Docker Hub's already: no host to canonicalise.
  if (domain === DOCKER_HUB || isHubDomain(domain)) {
    domain = DOCKER_HUB;
    if (!path.includes('/')) path = `${OFFICIAL_NAMESPACE}/${path}`;
  }
  if (path !== path.toLowerCase()) {
    return invalid(`invalid reference format: repository name (${path}) must be lowercase`);
  }
  if (!PATH.test(path)) return invalid(`invalid reference format: invalid repository name "${path}"`);
  if (domain.length + 1 + path.length > NAME_TOTAL_LENGTH_MAX) {
    return invalid(`invalid reference format: repository name must not be more than ${NAME_TOTAL_LENGTH_MAX} characters`);
  }
  return { ok: true, reference: { domain, path, ...(tag === undefined ? {} : { tag }), ...(digest === undefined ? {} : { digest }) } };
}

/** `docker.io/library/alpine` */
export function repositoryName(ref: ImageReference): string {
  return `${ref.domain}/${ref.path}`;
}

/** `docker.io/library/alpine:3.20`, or with `@digest`; no tag and no digest means every tag. */
export function formatReference(ref: ImageReference): string {
  return repositoryName(ref) + (ref.tag === undefined ? '' : `:${ref.tag}`) + (ref.digest === undefined ? '' : `@${ref.digest}`);
}

/**
 * A registry host as the engine reaches it: any case (DNS ignores it), an IP literal in canonical form (an
 * IPv4-mapped IPv6 address is its IPv4 address; every loopback address is `localhost`), the port as Go dials it
 * (`:0443` is 443), and the default ports dropped (an explicit `:443` names the same host; dockerd would otherwise
 * skip the mirror and the classifier). Names are compared by what they resolve to in registry-identity.ts.
 */
export function registryHostKey(host: string): string {
  const { host: bare, port } = splitHostKey(host);
  const shown = canonicalHost(bare);
  const number = port.replace(/^0+(?=[0-9])/, '');
  return number === '' || DEFAULT_PORTS.has(number) ? shown : `${shown}:${number}`;
}

/**
 * The hosts of registry mirrors as daemon.json's `registry-mirrors` lists them (`https://mirror.example.com`,
 * `http://127.0.0.1:5000/`) or bare (`mirror.example.com:5000`); an Error names the first that is neither.
 */
export function parseHubMirrors(raw: string): string[] | Error {
  const hosts: string[] = [];
  for (const entry of raw.split(',').map((item) => item.trim()).filter((item) => item !== '')) {
    const host = entry.replace(/^[a-z][a-z0-9+.-]*:\/\//i, '').replace(/\/+$/, '');
    if (!DOMAIN.test(host)) return new Error(`"${entry}" is not a registry host or URL`);
    hosts.push(registryHostKey(host));
  }
  return hosts;
}

/** Whether a registry host (`docker.io`, `index.docker.io`, `registry-1.docker.io`, ... any case, `:443` or not) is Docker Hub. */
export function isHubDomain(host: string): boolean {
  return HUB_ALIASES.has(registryHostKey(host));
}

/**
 * A reference that names a Docker Hub mirror directly, as the Hub repository the mirror serves under the same path:
 * `MIRROR/someone/app` is Hub's `someone/app`. No `library/` is added: dockerd asks the mirror for the path as
 * written, so `MIRROR/someone` is the mirror's repository `someone`, no Docker Official Image.
 */
export function viaHubMirror(ref: ImageReference): ImageReference {
  return { ...ref, domain: DOCKER_HUB };
}

export function isDockerHub(ref: ImageReference): boolean {
  return ref.domain === DOCKER_HUB;
}

/**
 * First path component on Docker Hub: the user or organisation that owns the repository (`library` for DOI). A
 * one-component path (only reached through a mirror) has no owner: ''.
 */
export function hubNamespace(ref: ImageReference): string {
  const slash = ref.path.indexOf('/');
  return slash === -1 ? '' : ref.path.slice(0, slash);
}

/** `library/NAME`, exactly: Docker Hub has no deeper repositories under `library/`, so `library/someone/app` is none. */
export function isOfficialImage(ref: ImageReference): boolean {
  const [namespace, name, ...deeper] = ref.path.split('/');
  return isDockerHub(ref) && namespace === OFFICIAL_NAMESPACE && name !== undefined && deeper.length === 0;
}

/**
 * The reference dockerd pulls for `POST /images/create?fromImage=IMAGE&tag=TAG` (moby's PullImage): `tag` may be a
 * digest, and replaces any tag or digest written in `fromImage`. Without either, every tag is pulled.
 */
export function pullReference(fromImage: string, tag: string): ParseResult {
  const parsed = parseReference(fromImage.endsWith(':') ? fromImage.slice(0, -1) : fromImage);
  if (!parsed.ok || tag === '') return parsed;
  const { domain, path } = parsed.reference;
  if (validateDigest(tag) === undefined) return { ok: true, reference: { domain, path, digest: tag } };
  if (!TAG.test(tag)) return invalid(`invalid reference format: invalid tag "${tag}"`);
  const digest = parsed.reference.digest;
  return { ok: true, reference: { domain, path, tag, ...(digest === undefined ? {} : { digest }) } };
}
