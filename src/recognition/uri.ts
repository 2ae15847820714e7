/**
 * Reads the raw `RequestUri` the daemon forwards the way its router does: percent-decoded path, optional `/vX.Y`
 * API version prefix, and query values as Go's `r.Form.Get` returns them (first value wins).
 */

export interface ApiRequestTarget {
  /** Decoded, cleaned path without the version prefix, e.g. `/images/create`. */
  readonly path: string;
  readonly query: ReadonlyMap<string, string>;
}

const VERSION_PREFIX = /^\/v[0-9.]+(?=\/|$)/;

/** What Go's url.QueryUnescape would change: nearly every key and value has neither. */
const QUERY_ESCAPES = /[%+]/;

/** Go's url.QueryUnescape: `+` is a space, a bad escape is an error. */
function queryUnescape(text: string): string | undefined {
  if (!QUERY_ESCAPES.test(text)) return text;
  try {
    return decodeURIComponent(text.replace(/\+/g, ' '));
  } catch {
    return undefined;
  }
}

/** Go's url.ParseQuery, keeping the first value of each key; pairs with `;` or bad escapes are skipped, as Go does. */
export function parseQuery(rawQuery: string): Map<string, string> {
  const query = new Map<string, string>();
  for (const pair of rawQuery.split('&')) {
    if (pair === '' || pair.includes(';')) continue;
    const eq = pair.indexOf('=');
    const key = queryUnescape(eq === -1 ? pair : pair.slice(0, eq));
    const value = queryUnescape(eq === -1 ? '' : pair.slice(eq + 1));
    if (key === undefined || value === undefined) continue;
    if (!query.has(key)) query.set(key, value);
  }
  return query;
}

/** An empty, `.` or `..` segment, or a trailing slash: what cleanPath changes in a path that starts with `/`. */
const UNCLEAN = /\/\/|\/\.\.?(?:\/|$)|.\/$/;

/** Resolves `.`/`..` segments and repeated slashes, like Go's path.Clean on an absolute path. */
export function cleanPath(path: string): string {
  // Nearly every path the daemon forwards is clean already (`/v1.41/containers/json`).
  if (path.startsWith('/') && !UNCLEAN.test(path)) return path;
  const segments: string[] = [];
  for (const segment of path.split('/')) {
    if (segment === '' || segment === '.') continue;
    if (segment === '..') segments.pop();
    else segments.push(segment);
  }
  return `/${segments.join('/')}`;
}

const SCHEME = /^[a-zA-Z][a-zA-Z0-9+.-]*:/;

/**
 * Splits a request target as Go's url.ParseRequestURI does for dockerd's router: an absolute form
 * (`http://host/images/create`, even `http:/images/create`) is routed on its path, and `#` is an ordinary character,
 * not a fragment. Returns undefined for a target the router would not route.
 */
function splitRequestTarget(rawUri: string): { rawPath: string; rawQuery: string } | undefined {
  const scheme = SCHEME.exec(rawUri);
  let rest = scheme ? rawUri.slice(scheme[0].length) : rawUri;
  const questionMark = rest.indexOf('?');
  const rawQuery = questionMark === -1 ? '' : rest.slice(questionMark + 1);
  if (questionMark !== -1) rest = rest.slice(0, questionMark);
  if (scheme && rest.startsWith('//')) {
    const slash = rest.indexOf('/', 2);
    rest = slash === -1 ? '' : rest.slice(slash);
  }
  return rest.startsWith('/') ? { rawPath: rest, rawQuery } : undefined;
}

/** Returns undefined when the path cannot be percent-decoded: the daemon's router would not have routed it. */
export function parseRequestUri(rawUri: string): ApiRequestTarget | undefined {
  const target = splitRequestTarget(rawUri);
  if (target === undefined) return undefined;
  const { rawPath, rawQuery } = target;
  let decoded = rawPath;
  try {
    if (rawPath.includes('%')) decoded = decodeURIComponent(rawPath);
  } catch {
    return undefined;
  }
  // Cleaned before the version is stripped, so no spelling of a path can hide it from recognition; what follows the
  // prefix of a clean path is clean, or empty (the root).
  const path = cleanPath(decoded).replace(VERSION_PREFIX, '') || '/';
  return { path, query: parseQuery(rawQuery) };
}

/**
 * Names where a URL the daemon will fetch points, for logs and messages: scheme and host only, since user info,
 * paths and queries of download and git URLs often carry tokens.
 */
export function describeRemote(raw: string): string {
  const withScheme = /^[a-z][a-z0-9+.-]*:\/\//i.test(raw) ? raw : `http://${raw}`;
  try {
    const url = new URL(withScheme);
    return `${url.protocol}//${url.host}`;
  } catch {
    return 'an unreadable URL';
  }
}

const SCHEME_PREFIX = /^[a-z][a-z0-9+.-]*:\/\//i;
/**
 * What follows the `@` of a digest reference (`repo@sha256:...`) to its end: a known algorithm with any hex (a typo
 * in a digest is still shown), or any algorithm with a digest's length of hex, which no `host:port` has.
 */
const DIGEST_TAIL = /^(?:sha(?:256|384|512):[0-9a-f]*|[a-z][a-z0-9]*(?:[-_+.][a-z][a-z0-9]*)*:[0-9a-f]{32,})$/i;

/**
 * Text a client wrote as an image or URL, fit for a message or a log line: whatever may be user info is replaced by
 * `***`. Go's URL parser takes the LAST `@` of an authority as its end, and a password may hold `@`, `/`, spaces or
 * anything else, so everything between the scheme (or the start) and the last `@` goes, unless that `@` begins the
 * digest that ends a reference (`repo@sha256:...`); then the `@` before it counts. An image reference holds no other
 * `@`, so nothing a valid reference says is lost.
 */
export function withoutUserInfo(text: string): string {
  let at = text.lastIndexOf('@');
  if (at !== -1 && DIGEST_TAIL.test(text.slice(at + 1))) at = at === 0 ? -1 : text.lastIndexOf('@', at - 1);
  if (at === -1) return text;
  const scheme = SCHEME_PREFIX.exec(text)?.[0].length ?? 0;
  return `${text.slice(0, Math.min(scheme, at))}***${text.slice(at)}`;
}

/** The most of one client-supplied value a message, log line or audit line repeats. */
export const MAX_SHOWN_CHARS = 300;

/**
 * A client-supplied value as a message or log line repeats it: without user info, and cut to MAX_SHOWN_CHARS with a
 * marker saying so, so that a 1 MB reference does not become a 1 MB message, log line and audit line.
 */
export function shownValue(text: string): string {
  const masked = withoutUserInfo(text);
  if (masked.length <= MAX_SHOWN_CHARS) return masked;
  return `${masked.slice(0, MAX_SHOWN_CHARS)}...[cut: ${masked.length - MAX_SHOWN_CHARS} more characters]`;
}
