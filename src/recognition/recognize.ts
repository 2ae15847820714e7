import type { AuthZRequest } from '../protocol/wire';
import { recognizeBuildRoute } from './build';
import { recognizeImageRoute } from './images';
import { recognizePluginRoute } from './plugins';
import { recognizeServiceRoute } from './services';
import type { RecognizedRequest, RouteInput } from './recognized';
import { parseRequestUri, shownValue } from './uri';

const PASSTHROUGH: RecognizedRequest = { kind: 'passthrough' };

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
