import { BodyBudget } from '../../src/protocol/body-parsers';

const settle = () => new Promise((resolve) => setImmediate(resolve));

describe('BodyBudget: large bodies held at once are bounded', () => {
  test('requests within the budget are let in at once; the next waits until one is answered, in order', async () => {
    const budget = new BodyBudget(10);
    const admitted: string[] = [];
    const releases = new Map<string, () => void>();
    const ask = (name: string, bytes: number) => void budget.reserve(bytes).then((release) => (admitted.push(name), releases.set(name, release)));
    ask('a', 6);
    ask('b', 4);
    ask('c', 3);
    ask('d', 1);
    await settle();
    expect(admitted).toEqual(['a', 'b']);
    releases.get('b')!();
    releases.get('b')!();
    await settle();
    expect(admitted).toEqual(['a', 'b', 'c', 'd']);
  });

  test('one request larger than the whole budget is let in alone, never left waiting', async () => {
    const budget = new BodyBudget(10);
    const first = await budget.reserve(50);
    let second = false;
    void budget.reserve(1).then(() => (second = true));
    await settle();
    expect(second).toBe(false);
    first();
    await settle();
    expect(second).toBe(true);
  });
});
