/**
 * Allowlist entries of the policy document, normalised once with the engine's own reference parsing and then matched
 * by exact equality of normalised names: never by string prefix, so `acme` cannot admit `acmeevil`.
 */
import { DOCKER_HUB, parseReference, registryHostKey, type ImageReference } from '../reference/reference';

/**
 * A Docker Hub repository (`docker.io/library/alpine`), one tag or digest of it (`docker.io/bitnami/redis:7`,
 * `docker.io/someone/app@sha256:...`), or every repository under a namespace (`docker.io/acme/*`).
 */
export interface RepositoryPattern {
  readonly domain: string;
  /** Repository path, or the namespace path when `namespace` is set. */
  readonly path: string;
  readonly namespace: boolean;
  /** Only this tag, pulled by tag (not by a digest, which may name any content of the repository). */
  readonly tag?: string;
  /** Only this content; a tag written beside it is ignored, as the engine ignores it when pulling. */
  readonly digest?: string;
}

export type EntryParseResult<T> = { ok: true; value: T } | { ok: false; error: string };

const NAMESPACE_SUFFIX = '/*';
/** Parsed after a namespace so that the engine's parser normalises it as it would any repository under it. */
const PLACEHOLDER = 'x';

/**
 * `mlrun/mlrun`, `bitnami/redis:7`, `someone/app@sha256:...`, `docker.io/bitnami/*`: normalised as `docker pull`
 * would; Docker Hub only; a namespace entry has no tag or digest.
 */
export function parseRepositoryPattern(entry: string): EntryParseResult<RepositoryPattern> {
  const namespace = entry.endsWith(NAMESPACE_SUFFIX);
  const name = namespace ? `${entry.slice(0, -NAMESPACE_SUFFIX.length)}/${PLACEHOLDER}` : entry;
  const parsed = parseReference(name);
  if (!parsed.ok) return { ok: false, error: `${JSON.stringify(entry)}: ${parsed.error}` };
  const { domain, path, tag, digest } = parsed.reference;
  if (domain !== DOCKER_HUB) {
    return {
      ok: false,
      error: `${JSON.stringify(entry)} is not on Docker Hub; other registries are governed by registry_allowlist`,
    };
  }
  if (!namespace) {
    const version = digest !== undefined ? { digest } : tag !== undefined ? { tag } : {};
    return { ok: true, value: { domain, path, namespace: false, ...version } };
  }
  if (tag !== undefined || digest !== undefined) {
    return { ok: false, error: `${JSON.stringify(entry)}: a namespace entry has no tag or digest` };
  }
  const namespacePath = path.slice(0, -`/${PLACEHOLDER}`.length);
  // `docker.io/*` would parse as `library/*`: a namespace entry must name its namespace.
  if (!entry.slice(0, -NAMESPACE_SUFFIX.length).endsWith(namespacePath)) {
    return { ok: false, error: `${JSON.stringify(entry)}: a namespace entry names its namespace, e.g. docker.io/acme/*` };
  }
  return { ok: true, value: { domain, path: namespacePath, namespace: true } };
}

/** `ghcr.io`, `registry.acme.internal:5000`, `docker.io` (Hub's aliases fold to it): a registry host, lowercase. */
export function parseRegistryHost(entry: string): EntryParseResult<string> {
  const host = entry.toLowerCase();
  const parsed = host.includes('/') ? undefined : parseReference(`${host}/${PLACEHOLDER}`);
  // A name the parser reads as a Hub namespace (`acme/x`) was not a registry host.
  if (parsed === undefined || !parsed.ok || parsed.reference.path === `${host}/${PLACEHOLDER}`) {
    return { ok: false, error: `${JSON.stringify(entry)} is not a registry host such as ghcr.io or registry.example.com:5000` };
  }
  return { ok: true, value: parsed.reference.domain };
}

/** An entry as normalised, for people to read: `docker.io/bitnami/redis:7`, `docker.io/acme/*`. */
export function formatRepositoryPattern(pattern: RepositoryPattern): string {
  if (pattern.namespace) return `${pattern.domain}/${pattern.path}/*`;
  const version = pattern.digest !== undefined ? `@${pattern.digest}` : pattern.tag !== undefined ? `:${pattern.tag}` : '';
  return `${pattern.domain}/${pattern.path}${version}`;
}

/** The version an entry names matches exactly: a pull of every tag (no tag, no digest) matches no tag entry. */
function versionMatches(pattern: RepositoryPattern, image: ImageReference): boolean {
  if (pattern.digest !== undefined) return image.digest === pattern.digest;
  if (pattern.tag !== undefined) return image.digest === undefined && image.tag === pattern.tag;
  return true;
}

export function repositoryAllowlisted(image: ImageReference, patterns: readonly RepositoryPattern[]): boolean {
  return patterns.some((pattern) =>
    pattern.domain === image.domain &&
    (pattern.namespace ? image.path.startsWith(`${pattern.path}/`) : image.path === pattern.path && versionMatches(pattern, image)),
  );
}

/** Whether a listed registry host and an image's registry host are one registry. */
export type SameRegistry = (listed: string, domain: string) => boolean;

/** Without resolutions: the same host as registryHostKey spells it (`127.0.0.1:5000` is `localhost:5000`). */
export const spelledAlike: SameRegistry = (listed, domain) => registryHostKey(listed) === registryHostKey(domain);

export function registryAllowlisted(image: ImageReference, hosts: readonly string[], same: SameRegistry = spelledAlike): boolean {
  return hosts.some((listed) => same(listed, image.domain));
}
