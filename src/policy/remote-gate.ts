import type { Logger } from '../audit/logger';
import { RemoteError } from './remote-error';

/** Failures in a row (down, timed out, 5xx, 429) after which the remote is held back even without a Retry-After. */
const FAILURES_BEFORE_HOLD = 3;
const FIRST_HOLD_MS = 5_000;
const LONGEST_HOLD_MS = 60_000;

/** A call not made because its remote is held back; carries the failure that caused the hold. */
export class HeldBack extends RemoteError {}

export interface RemoteGateOptions {
  /** For logs and messages: `Docker Hub`, the policy URL without its query. */
  readonly name: string;
  readonly clock: () => number;
  readonly logger: Logger;
}

/**
 * The health of one remote (Docker Hub, the policy URL), shared by every call to it, whatever the key (namespace,
 * user, organisation): after a Retry-After (429, 503), or after FAILURES_BEFORE_HOLD failures in a row, no call goes
 * out until the hold ends (a Retry-After's time, or a backoff from 5 s doubling to 60 s while failures go on). Calls
 * meanwhile fail at once with HeldBack. One log line when the hold starts, one when the remote answers again.
 */
export class RemoteGate {
  private heldUntil = 0;
  private cause: RemoteError | undefined;
  private failuresInARow = 0;
  private nextHoldMs = FIRST_HOLD_MS;

  constructor(private readonly options: RemoteGateOptions) {}

  /** Throws HeldBack while the remote is held back. */
  admit(what: string): void {
    const now = this.options.clock();
    if (now >= this.heldUntil || this.cause === undefined) return;
    const waitMs = this.heldUntil - now;
    const message = `${what}: not asked: ${this.options.name} is held back for ${Math.ceil(waitMs / 1000)} s after ${this.cause.message}`;
    throw new HeldBack(this.cause.kind, message, waitMs);
  }

  /** The remote answered (any status but a 429 or a 5xx). */
  answered(): void {
    if (this.cause !== undefined) this.options.logger.info(`${this.options.name} answers again; no longer held back`, { remote: this.options.name });
    this.failuresInARow = 0;
    this.nextHoldMs = FIRST_HOLD_MS;
    this.cause = undefined;
    this.heldUntil = 0;
  }

  /** A call failed; only an unreachable, failing or rate-limiting remote counts, anything else is an answer. */
  failed(error: RemoteError): void {
    if (error.kind !== 'unavailable' && error.kind !== 'rate-limited') return this.answered();
    this.failuresInARow++;
    const now = this.options.clock();
    const held = now < this.heldUntil;
    // Calls already in flight when the hold began end during it: only a Retry-After may lengthen it.
    if (held && error.retryAfterMs === undefined) return;
    const holdMs = error.retryAfterMs ?? (this.failuresInARow >= FAILURES_BEFORE_HOLD ? this.backoff() : 0);
    if (holdMs <= 0) return;
    this.heldUntil = Math.max(this.heldUntil, now + holdMs);
    this.cause = error;
    if (held) return;
    this.options.logger.warn(`${this.options.name} held back: no call to it until the hold ends`, {
      remote: this.options.name,
      holdMs: this.heldUntil - now,
      cause: error.message,
      failuresInARow: this.failuresInARow,
    });
  }

  private backoff(): number {
    const holdMs = this.nextHoldMs;
    this.nextHoldMs = Math.min(LONGEST_HOLD_MS, holdMs * 2);
    return holdMs;
  }
}
