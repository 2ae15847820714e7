import type { Logger } from '../audit/logger';
import { HeldBack } from './remote-gate';

export interface ConcurrencyLimitOptions {
  /** For logs and messages: `Docker Hub badge lookups`. */
  readonly name: string;
  /** Calls under way at once at most. */
  readonly limit: number;
  /** Calls waiting for a turn at most; past it a call fails at once. */
  readonly maxWaiting: number;
  /** A call that could not start within this long is not made: whoever wanted it has given up by then. */
  readonly maxWaitMs: number;
  readonly clock: () => number;
  readonly logger: Logger;
}

interface Waiting {
  readonly what: string;
  readonly since: number;
  readonly start: () => void;
  readonly drop: (error: HeldBack) => void;
}

/**
 * At most `limit` calls to a remote under way at once, the others started in their order of arrival. A flood of
 * distinct lookups (a host pulling thousands of namespaces) thus keeps a few requests, sockets and replies in flight
 * instead of one per lookup. A call that waited past `maxWaitMs`, or finds `maxWaiting` ahead of it, fails with
 * HeldBack (its caller already answered without it, or answers at once); one log line per such episode.
 */
export class ConcurrencyLimit {
  private running = 0;
  private readonly waiting: Waiting[] = [];
  /** Index of the next waiting call: the queue is consumed from the front without shifting the array each time. */
  private head = 0;
  private shedding = false;

  constructor(private readonly options: ConcurrencyLimitOptions) {}

  /** Runs `call` once a turn is free. `what` names the call in a failure: method and path, no secret. */
  async run<T>(what: string, call: () => Promise<T>): Promise<T> {
    if (this.running < this.options.limit) this.running++;
    // The turn is handed over with its slot still counted: no call arriving meanwhile can take it.
    else await this.turn(what);
    try {
      return await call();
    } finally {
      this.release();
    }
  }

  private turn(what: string): Promise<void> {
    const waiting = this.waiting.length - this.head;
    if (waiting >= this.options.maxWaiting) {
      return Promise.reject(this.dropped(what, `${waiting} ${this.options.name} are waiting already`));
    }
    return new Promise((start, drop) => this.waiting.push({ what, since: this.options.clock(), start, drop }));
  }

  /** Hands the ending call's slot to the first waiting call still wanted (dropping those that waited too long), or frees it. */
  private release(): void {
    const now = this.options.clock();
    let handedOver = false;
    while (!handedOver && this.head < this.waiting.length) {
      const call = this.waiting[this.head]!;
      this.head++;
      const waitedMs = now - call.since;
      if (waitedMs >= this.options.maxWaitMs) {
        call.drop(this.dropped(call.what, `it waited ${waitedMs} ms for one of ${this.options.limit} ${this.options.name} to end`));
      } else {
        this.shedding = false;
        call.start();
        handedOver = true;
      }
    }
    if (this.head === this.waiting.length) {
      this.waiting.length = 0;
      this.head = 0;
    }
    if (!handedOver) this.running--;
  }

  private dropped(what: string, why: string): HeldBack {
    if (!this.shedding) {
      this.shedding = true;
      this.options.logger.warn(`${this.options.name}: calls not made while too many wait`, {
        limit: this.options.limit,
        waiting: this.waiting.length - this.head,
        cause: why,
      });
    }
    return new HeldBack('unavailable', `${what}: not asked: ${why}`);
  }
}
