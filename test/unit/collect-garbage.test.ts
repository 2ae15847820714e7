import { runInNewContext } from 'node:vm';
import { collectGarbage } from '../../src/protocol/collect-garbage';

const nextTurn = () => new Promise((resolve) => setImmediate(resolve));

describe('collectGarbage: a full collection at the end of a burst of large bodies', () => {
  test('frees what nothing holds any more, without waiting for allocation to trigger it', async () => {
    const dropped = (() => new WeakRef(Buffer.alloc(64 * 1024)))();
    const kept = Buffer.alloc(16);
    const held = new WeakRef(kept);
    // A WeakRef holds its target until the turn that made it ends.
    await nextTurn();
    collectGarbage();
    expect(dropped.deref()).toBeUndefined();
    expect(held.deref()).toBe(kept);
  });

  test('leaves --expose-gc off: a context made afterwards has no gc, and V8 keeps taking code caches made without it', () => {
    collectGarbage();
    collectGarbage();
    expect(runInNewContext('typeof gc')).toBe('undefined');
    expect((globalThis as { gc?: unknown }).gc).toBeUndefined();
  });
});
