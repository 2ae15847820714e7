import type { AuthZRequest } from '../protocol/wire';
import { parseRequestUri } from './uri';

/**
 * Finds the API requests that bring images onto the host. Everything else is `passthrough` and is allowed on the
 * fast path without further work.
 */
export type RecognizedRequest =
  | { readonly kind: 'passthrough' }
  /** `POST /images/create?fromImage=`: a pull. `tag` may be a tag or a digest; absent means every tag. */
  | { readonly kind: 'pull'; readonly fromImage: string; readonly tag: string }
  /** A request that must be refused as it stands, whatever the policy. */
  | { readonly kind: 'reject'; readonly reason: string };

const PASSTHROUGH: RecognizedRequest = { kind: 'passthrough' };

export function recognize(request: AuthZRequest): RecognizedRequest {
  if (request.requestMethod.toUpperCase() !== 'POST') return PASSTHROUGH;
  const target = parseRequestUri(request.requestUri);
  if (target === undefined) return { kind: 'reject', reason: `unreadable request URI ${JSON.stringify(request.requestUri)}` };
  if (target.path !== '/images/create') return PASSTHROUGH;
  const fromImage = target.query.get('fromImage') ?? '';
  if (fromImage === '') return PASSTHROUGH;
  return { kind: 'pull', fromImage, tag: target.query.get('tag') ?? '' };
}
