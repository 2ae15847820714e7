/** The seed of every interleaved measurement's orders: the same shuffles in every run. */
export const ORDER_SEED = 20261130;

/**
 * The order of the configurations in each cycle of an interleaved measurement: a fresh shuffle every cycle, from a
 * seeded generator, so a run's orders are the same every time. A fixed cycle, even started at another place each
 * round, has every configuration always follow the same other one: what a call leaves behind (a Go peer's collector,
 * caches another process evicted) always lands on the same follower. Shuffled, it lands on each in turn.
 */
export function cycleOrders<T>(items: readonly T[], seed: number): () => T[] {
  // mulberry32: small, fast, and good enough to spread the orders evenly.
  let state = seed >>> 0;
  const random = () => {
    state = (state + 0x6d2b79f5) >>> 0;
    let t = Math.imul(state ^ (state >>> 15), state | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
  return () => {
    const order = [...items];
    for (let i = order.length - 1; i > 0; i--) {
      const j = Math.floor(random() * (i + 1));
      [order[i], order[j]] = [order[j]!, order[i]!];
    }
    return order;
  };
}
