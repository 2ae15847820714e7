import type { AuthZRequest } from '../protocol/wire';
import { recognizeBuildRoute } from './build';
import { recognizeImageRoute } from './images';
import { recognizePluginRoute } from './plugins';
import { recognizeServiceRoute } from './services';
import { parseRequestUri, shownValue, type ApiRequestTarget } from './uri';

/** Routes that name an image the engine will then fetch from its registry, judged like a pull. */
export type ImageRoute = 'service' | 'plugin-install' | 'plugin-upgrade' | 'plugin-privileges' | 'distribution';

/** Routes that create images from content the plugin cannot inspect; each is allowed or not by a setting. */
export type ContentActivity = 'import' | 'load' | 'build' | 'commit' | 'plugin-create';

/** Requests that change an installed plugin; refused for THIS plugin when self-protection is on. */
export type PluginAction = 'disable' | 'remove' | 'set' | 'upgrade';

/**
 * Finds the API requests that bring images onto the host (docker-facts.md, "Ways images reach a host") or switch
 * the plugin off. Everything else is `passthrough` and is allowed on the fast path without further work.
 */
export type RecognizedRequest =
  | { readonly kind: 'passthrough' }
  /** `POST /images/create?fromImage=`: a pull. `tag` may be a tag or a digest; absent means every tag. */
  | { readonly kind: 'pull'; readonly fromImage: string; readonly tag: string }
  /** Image references written in a service spec or a plugin install, as the client wrote them. */
  | { readonly kind: 'image-use'; readonly route: ImageRoute; readonly images: readonly string[] }
  /** `detail` says where the content comes from, without credentials (for logs and messages). */
  | { readonly kind: 'unverifiable'; readonly activity: ContentActivity; readonly detail: string }
  /** `plugin` is the name or ID prefix as written in the path; `remote` the image an upgrade installs. */
  | { readonly kind: 'plugin-change'; readonly action: PluginAction; readonly plugin: string; readonly remote?: string }
  /** A request that must be refused as it stands, whatever the policy. */
  | { readonly kind: 'reject'; readonly reason: string };

const PASSTHROUGH: RecognizedRequest = { kind: 'passthrough' };

/** What a route family sees of a request; `undefined` from a family means "not one of mine". */
export interface RouteInput {
  readonly method: string;
  readonly target: ApiRequestTarget;
  readonly request: AuthZRequest;
}

const ROUTE_FAMILIES: ReadonlyArray<(input: RouteInput) => RecognizedRequest | undefined> = [
  recognizeImageRoute,
  recognizeBuildRoute,
  recognizePluginRoute,
  recognizeServiceRoute,
];

/** Methods of the routes above; every other method is passthrough without reading the URI. */
const RECOGNIZED_METHODS = new Set(['POST', 'DELETE', 'GET']);

/**
 * Go's `r.ParseForm` (run by every dockerd handler that reads parameters) takes a form-encoded body's values over
 * the query's, `r.FormValue` adds a multipart body's, and the daemon never forwards such a body: the plugin would
 * judge parameters the engine ignores. No Docker client sends either.
 */
function isFormEncoded(request: AuthZRequest): boolean {
  return /x-www-form-urlencoded|multipart\//i.test(request.requestHeaders['content-type'] ?? '');
}

/**
 * dockerd hands the plugin only the LAST value of a repeated header, while Go's ParseForm reads the FIRST
 * Content-Type: with `Content-Type: application/x-www-form-urlencoded` then `Content-Type: text/plain`, the plugin
 * sees text while the engine takes the body's `fromImage` (or `remote`) over the query's. So a request judged by its
 * query must carry no body the plugin has not seen: no Content-Type at all, `Content-Length: 0`, or a body the daemon
 * forwarded (it does so only when the first Content-Type is JSON). A chunked body reaches the plugin with neither
 * Transfer-Encoding nor Content-Length (Go removes both), so an absent length counts as a body.
 */
function mayHideFormBody(request: AuthZRequest): boolean {
  const headers = request.requestHeaders;
  if (headers['content-type'] === undefined || request.requestBody !== '') return false;
  return headers['content-length']?.trim() !== '0';
}

/** Requests whose verdict rests on query parameters that a form body would override. */
function judgedByQuery(recognized: RecognizedRequest): boolean {
  switch (recognized.kind) {
    case 'pull':
      return true;
    case 'image-use':
      return recognized.route !== 'service' && recognized.route !== 'distribution';
    case 'plugin-change':
      return recognized.remote !== undefined;
    default:
      return false;
  }
}

export function recognize(request: AuthZRequest): RecognizedRequest {
  // The router matches methods exactly; upper-casing only makes more requests recognised, never fewer.
  const method = request.requestMethod.toUpperCase();
  if (!RECOGNIZED_METHODS.has(method)) return PASSTHROUGH;
  const target = parseRequestUri(request.requestUri);
  // Not echoed: a URI may carry credentials (a download URL's user info or token).
  if (target === undefined) return { kind: 'reject', reason: 'unreadable request URI (not a routable path, or bad percent-encoding)' };
  const input: RouteInput = { method, target, request };
  for (const family of ROUTE_FAMILIES) {
    const recognized = family(input);
    if (recognized === undefined) continue;
    if (isFormEncoded(request)) {
      return {
        kind: 'reject',
        reason: `a form-encoded body on ${shownValue(target.path)} is refused: the engine reads parameters from it that are not forwarded for checking`,
      };
    }
    if (judgedByQuery(recognized) && mayHideFormBody(request)) {
      return {
        kind: 'reject',
        reason: `a body on ${shownValue(target.path)} that was not forwarded for checking is refused: the engine may read parameters from it; send the request without a body`,
      };
    }
    return recognized;
  }
  return PASSTHROUGH;
}
