/**
 * Worker threads that prepare large AuthZReq bodies (a service spec of megabytes), so that requests needing no
 * body (`docker ps`) never wait behind one that does: 100 one-MiB specs in flight held `docker ps` for seconds when
 * the main thread parsed them all. Small bodies are prepared inline, where a worker's round trip would cost more.
 * Without the compiled worker script (unit tests run the sources), or when a worker fails, bodies are prepared inline.
 */
import { existsSync } from 'node:fs';
import { availableParallelism } from 'node:os';
import { join } from 'node:path';
import type { Worker } from 'node:worker_threads';
import type { MaybeAsync } from '../maybe-async';
import { prepareRequest, type PreparedRequest } from '../recognition/prepared';
import { collectGarbage } from './collect-garbage';

/** From this size on a body is prepared off the main thread (a 64 KiB spec takes well under a millisecond inline). */
export const OFF_THREAD_FROM_BYTES = 64 * 1024;

export interface BodyJob {
  readonly id: number;
  readonly body: Uint8Array;
}
export type BodyResult = { readonly id: number; readonly prepared: PreparedRequest } | { readonly id: number; readonly failed: string };

const WORKER_SCRIPT = join(__dirname, 'body-worker.js');

type Pending = (prepared: PreparedRequest) => void;

/** A worker that stopped took the bodies it held (they were moved to it, not copied): those requests are refused. */
const WORKER_STOPPED: PreparedRequest = { ok: false, error: 'its body parser stopped; run the command again' };

/**
 * A worker's own heap: room for the largest body dockerd forwards (4 MiB, parsed: a few tens of MiB), small enough
 * that a worker never grows the process by more. A body that needs more stops its worker (V8 ends a worker at its
 * limit, not the process): that request is refused and the next large body gets a new worker.
 */
const WORKER_LIMITS = { maxOldGenerationSizeMb: 96, maxYoungGenerationSizeMb: 4 };

/**
 * Idle workers end: large bodies come in bursts (a stack deploy), and a worker's heap stays at the size its largest
 * burst grew it to (tens of MiB) for as long as it lives. A new one costs ~20 ms of CPU on the next burst.
 */
export const WORKER_IDLE_MS = 1_000;

class BodyWorker {
  readonly pending = new Map<number, Pending>();
  // Required with the first large body, not before the plugin listens.
  private readonly worker: Worker = new (require('node:worker_threads') as typeof import('node:worker_threads')).Worker(WORKER_SCRIPT, { resourceLimits: WORKER_LIMITS });
  private idleTimer: NodeJS.Timeout | undefined;

  constructor(onExit: (worker: BodyWorker) => void) {
    this.worker.unref();
    this.worker.on('message', (result: BodyResult) => {
      const resolve = this.pending.get(result.id);
      if (resolve === undefined) return;
      this.pending.delete(result.id);
      if (this.pending.size === 0) {
        // Out of the pool first, so no body is sent to a worker on its way out.
        this.idleTimer = setTimeout(() => (onExit(this), this.terminate()), WORKER_IDLE_MS).unref();
      }
      resolve('prepared' in result ? result.prepared : { ok: false, error: `unreadable request (${result.failed})` });
    });
    const fail = () => {
      clearTimeout(this.idleTimer);
      onExit(this);
      for (const resolve of this.pending.values()) resolve(WORKER_STOPPED);
      this.pending.clear();
    };
    this.worker.on('error', fail);
    this.worker.on('exit', fail);
  }

  send(id: number, body: Buffer, resolve: Pending): void {
    clearTimeout(this.idleTimer);
    this.pending.set(id, resolve);
    // Moved, not copied, when the bytes have their own ArrayBuffer (Buffer.concat of a large body does).
    const owned = body.byteOffset === 0 && body.byteLength === body.buffer.byteLength ? body : Buffer.from(body);
    const bytes = new Uint8Array(owned.buffer, 0, owned.byteLength);
    this.worker.postMessage({ id, body: bytes } satisfies BodyJob, [bytes.buffer as ArrayBuffer]);
  }

  terminate(): void {
    void this.worker.terminate();
  }
}

export class BodyParsers {
  private readonly workers: BodyWorker[] = [];
  private readonly size = Math.max(1, Math.min(4, availableParallelism() - 1));
  private readonly available = existsSync(WORKER_SCRIPT);
  private nextId = 0;

  /** Prepared at once (no promise) when small enough to be done inline. */
  prepare(body: Buffer): MaybeAsync<PreparedRequest> {
    if (!this.available || body.length < OFF_THREAD_FROM_BYTES) return prepareRequest(body.toString('utf8'));
    return new Promise((resolve) => this.leastBusy().send(this.nextId++, body, resolve));
  }

  close(): void {
    for (const worker of this.workers.splice(0)) worker.terminate();
  }

  private leastBusy(): BodyWorker {
    if (this.workers.length < this.size) {
      const worker = new BodyWorker((gone) => {
        const at = this.workers.indexOf(gone);
        if (at === -1) return;
        this.workers.splice(at, 1);
        // The burst is over: what it left on the main thread is collected now rather than at the next busy spell.
        if (this.workers.length === 0) collectGarbage();
      });
      this.workers.push(worker);
      return worker;
    }
    return this.workers.reduce((best, worker) => (worker.pending.size < best.pending.size ? worker : best));
  }
}

/**
 * Bytes of large request bodies held at once. A request that would take more waits, unread (its sender is held back
 * by the socket), until others are answered: 60 four-MiB specs in flight took the plugin past 650 MB. One request
 * is always let in, however large, so nothing waits forever.
 */
export class BodyBudget {
  private used = 0;
  private readonly waiting: Array<{ readonly bytes: number; readonly grant: () => void }> = [];

  constructor(private readonly limitBytes: number) {}

  /** Resolves, once `bytes` fit, with the function that gives them back. */
  reserve(bytes: number): Promise<() => void> {
    return new Promise((resolve) => {
      const grant = () => {
        this.used += bytes;
        let released = false;
        resolve(() => {
          if (released) return;
          released = true;
          this.used -= bytes;
          this.admit();
        });
      };
      this.waiting.push({ bytes, grant });
      this.admit();
    });
  }

  private admit(): void {
    while (this.waiting.length > 0 && (this.used === 0 || this.used + this.waiting[0]!.bytes <= this.limitBytes)) this.waiting.shift()!.grant();
  }
}
