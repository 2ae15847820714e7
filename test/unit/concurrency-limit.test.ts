import { ConcurrencyLimit } from '../../src/policy/concurrency-limit';
import { HeldBack } from '../../src/policy/remote-gate';
import { captureLog } from '../hub/log-capture';

/** Calls that end when the test says so; `started` lists them in the order the limit started them. */
function remote() {
  const started: string[] = [];
  const endings = new Map<string, () => void>();
  const call = (name: string) => () =>
    new Promise<string>((resolve) => {
      started.push(name);
      endings.set(name, () => resolve(name));
    });
  const end = async (name: string) => {
    endings.get(name)!();
    // Let the ended call's continuation hand its turn over.
    for (let i = 0; i < 5; i++) await Promise.resolve();
  };
  return { started, call, end };
}

function limitOf(limit: number, options: { maxWaiting?: number; maxWaitMs?: number; clock?: () => number } = {}) {
  const log = captureLog();
  const concurrency = new ConcurrencyLimit({
    name: 'test lookups',
    limit,
    maxWaiting: options.maxWaiting ?? 100,
    maxWaitMs: options.maxWaitMs ?? 5_000,
    clock: options.clock ?? (() => 0),
    logger: log.logger,
  });
  return { concurrency, log };
}

const settle = async () => {
  for (let i = 0; i < 5; i++) await Promise.resolve();
};

test('no more than the limit run at once; the others start in their order of arrival as turns free', async () => {
  const { concurrency } = limitOf(2);
  const { started, call, end } = remote();
  const results = ['a', 'b', 'c', 'd', 'e'].map((name) => concurrency.run(name, call(name)));
  await settle();
  expect(started).toEqual(['a', 'b']);
  await end('b');
  expect(started).toEqual(['a', 'b', 'c']);
  await end('a');
  expect(started).toEqual(['a', 'b', 'c', 'd']);
  // A call arriving while d and c run waits behind e.
  const late = concurrency.run('f', call('f'));
  await end('c');
  expect(started).toEqual(['a', 'b', 'c', 'd', 'e']);
  await end('d');
  await end('e');
  await end('f');
  expect(started).toEqual(['a', 'b', 'c', 'd', 'e', 'f']);
  expect(await Promise.all([...results, late])).toEqual(['a', 'b', 'c', 'd', 'e', 'f']);
});

test('a turn freed by a failing call is handed over too', async () => {
  const { concurrency } = limitOf(1);
  const { started, call, end } = remote();
  const failing = concurrency.run('a', () => Promise.reject(new Error('Hub down')));
  const next = concurrency.run('b', call('b'));
  await expect(failing).rejects.toThrow('Hub down');
  await settle();
  expect(started).toEqual(['b']);
  await end('b');
  expect(await next).toBe('b');
});

test('a call that waited past maxWaitMs is not made: it fails with a clear message, logged once for the episode', async () => {
  let now = 0;
  const { concurrency, log } = limitOf(1, { maxWaitMs: 1_000, clock: () => now });
  const { started, call, end } = remote();
  const first = concurrency.run('GET /v2/orgs/a/', call('a'));
  const stale = [concurrency.run('GET /v2/orgs/b/', call('b')), concurrency.run('GET /v2/orgs/c/', call('c'))];
  now = 600;
  const fresh = concurrency.run('GET /v2/orgs/d/', call('d'));
  now = 1_200;
  await end('a');
  expect(started).toEqual(['a', 'd']);
  for (const dropped of stale) {
    const error = await dropped.catch((thrown: unknown) => thrown);
    expect(error).toBeInstanceOf(HeldBack);
    expect((error as HeldBack).kind).toBe('unavailable');
  }
  await expect(stale[0]).rejects.toThrow('GET /v2/orgs/b/: not asked: it waited 1200 ms for one of 1 test lookups to end');
  await end('d');
  expect(await first).toBe('a');
  expect(await fresh).toBe('d');
  expect(log.find('warn', 'test lookups: calls not made while too many wait')).toHaveLength(1);
});

test('a call finding maxWaiting calls ahead of it fails at once; the queue stays bounded', async () => {
  const { concurrency, log } = limitOf(1, { maxWaiting: 2 });
  const { started, call, end } = remote();
  const admitted = ['a', 'b', 'c'].map((name) => concurrency.run(name, call(name)));
  await expect(concurrency.run('d', call('d'))).rejects.toThrow('d: not asked: 2 test lookups are waiting already');
  expect(log.lines).toHaveLength(1);
  for (const name of ['a', 'b', 'c']) await end(name);
  expect(started).toEqual(['a', 'b', 'c']);
  expect(await Promise.all(admitted)).toEqual(['a', 'b', 'c']);
  // With room again, calls are made.
  const again = concurrency.run('e', call('e'));
  await settle();
  await end('e');
  expect(await again).toBe('e');
});
