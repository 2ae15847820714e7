/** How a call to a remote policy source (Docker Hub, a company policy URL) failed. */
export type RemoteFailure =
  | 'unauthorized'
  | 'forbidden'
  | 'not-found'
  | 'rate-limited'
  /** Down, refused, timed out, or a 5xx. */
  | 'unavailable'
  /** Not JSON, the wrong shape, or too large. */
  | 'bad-reply';

export class RemoteError extends Error {
  constructor(
    readonly kind: RemoteFailure,
    message: string,
    /** From a 429's (or 503's) Retry-After header: when the server wants to be asked again. */
    readonly retryAfterMs?: number,
  ) {
    super(message);
  }
}
