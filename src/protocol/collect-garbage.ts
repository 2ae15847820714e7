/**
 * A full garbage collection of the main thread's heap, asked for once a burst of large bodies is over (body-parsers.ts).
 * Node's HTTP parser hands a body over in pieces of up to 64 KiB, each an allocation of its own that is garbage once
 * copied but freed only by a collection. When the burst stops, so does the allocation that would trigger one, and V8's
 * memory reducer acts only on a heap that grew by 10 MB or more: after 500 1 MiB bodies, 3.5 to 6 MiB of pieces stayed
 * allocated and held glibc's heap (bench/main.ts's memory phase). It costs a few milliseconds of the main thread (the
 * heap is ~12 MB), once per burst.
 *
 * V8 gives scripts `gc` only under --expose-gc: the flag is set while one context is made to take it and unset at once,
 * since under other flags V8 refuses every code cache (node:http and node:https loaded afterwards took 42 ms instead of
 * 8 from source). Where that cannot be done, nothing is collected.
 */
import { setV8Flags } from '../v8-flags';

let gc: (() => void) | null | undefined;

export function collectGarbage(): void {
  gc ??= exposedGc();
  // Twice: what the first finds dead, its sweeper frees only by the next collection (each piece's record, a small
  // malloc of its own, among them), and the second compacts the pages the first emptied. With one, glibc's heap stayed
  // held in 1 of 5 replays (13.6 MiB free in it, resident 1.27x); with two it was given back in each.
  gc?.();
  gc?.();
}

function exposedGc(): (() => void) | null {
  if (!setV8Flags('--expose-gc')) return null;
  try {
    const found: unknown = (require('node:vm') as typeof import('node:vm')).runInNewContext('typeof gc === "function" ? gc : null');
    return typeof found === 'function' ? (found as () => void) : null;
  } finally {
    setV8Flags('--no-expose-gc');
  }
}
