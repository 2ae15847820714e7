import { cycleOrders } from '../../bench/interleave';

/** The bench's interleaving: every configuration follows every other about as often, the same way in every run. */

const CONFIGURATIONS = ['none', 'minimal', 'imageAccess', 'opa', 'authzBroker'] as const;

test('each cycle is an order of all the configurations, the same ones from the same seed', () => {
  const orders = cycleOrders(CONFIGURATIONS, 7);
  const again = cycleOrders(CONFIGURATIONS, 7);
  const cycles = Array.from({ length: 50 }, () => orders());
  for (const cycle of cycles) expect([...cycle].sort()).toEqual([...CONFIGURATIONS].sort());
  expect(Array.from({ length: 50 }, () => again())).toEqual(cycles);
  expect(new Set(cycles.map((cycle) => cycle.join())).size).toBeGreaterThan(25);
});

test('over a round of pulls, each configuration follows each other one about equally often', () => {
  const orders = cycleOrders(CONFIGURATIONS, 20261130);
  const follows = new Map<string, number>();
  let previous: string | undefined;
  for (let cycle = 0; cycle < 2000; cycle++) {
    for (const configuration of orders()) {
      if (previous !== undefined && previous !== configuration) follows.set(`${previous}>${configuration}`, (follows.get(`${previous}>${configuration}`) ?? 0) + 1);
      previous = configuration;
    }
  }
  // 20 ordered pairs share ~9,600 successions (a cycle may end with the next one's first configuration): ~480 each.
  expect(follows.size).toBe(20);
  for (const count of follows.values()) expect(count).toBeGreaterThan(380);
  for (const count of follows.values()) expect(count).toBeLessThan(580);
});
