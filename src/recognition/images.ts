import type { RecognizedRequest, RouteInput } from './recognized';
import { describeRemote } from './uri';

/** `GET /distribution/{name:.*}/json`: the engine asks the image's registry for its manifest (`docker service create` does first). */
const DISTRIBUTION_ROUTE = /^\/distribution\/(.+)\/json$/;

/**
 * `POST /images/create` and `POST /images/load`. dockerd's postImagesCreate pulls when `fromImage` is set and
 * otherwise imports, from the request body (`fromSrc=-`) or from a URL it downloads.
 */
export function recognizeImageRoute({ method, target }: RouteInput): RecognizedRequest | undefined {
  if (method === 'GET') {
    const named = DISTRIBUTION_ROUTE.exec(target.path);
    return named ? { kind: 'image-use', route: 'distribution', images: [named[1]!] } : undefined;
  }
  if (method !== 'POST') return undefined;
  if (target.path === '/images/load') return { kind: 'unverifiable', activity: 'load', detail: 'an uploaded image archive' };
  if (target.path !== '/images/create') return undefined;
  const fromImage = target.query.get('fromImage') ?? '';
  if (fromImage !== '') return { kind: 'pull', fromImage, tag: target.query.get('tag') ?? '' };
  const fromSrc = target.query.get('fromSrc') ?? '';
  const detail = fromSrc === '-' ? 'an uploaded archive' : fromSrc === '' ? 'no source' : `a download from ${describeRemote(fromSrc)}`;
  return { kind: 'unverifiable', activity: 'import', detail };
}
