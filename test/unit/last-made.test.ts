import { lastMade } from '../../src/last-made';

describe('lastMade: what was made for the very same inputs last time', () => {
  test('the same inputs give the same object, made once; other inputs make anew, and only the last is kept', () => {
    const made: string[] = [];
    const pair = lastMade((name: string, settings: object) => (made.push(name), { name, settings }));
    const settings = { enabled: true };
    const first = pair('alice', settings);
    expect(pair('alice', settings)).toBe(first);
    // An equal object is not the same input.
    expect(pair('alice', { enabled: true })).not.toBe(first);
    expect(pair('bob', settings)).toEqual({ name: 'bob', settings });
    expect(pair('alice', settings)).not.toBe(first);
    expect(made).toEqual(['alice', 'alice', 'bob', 'alice']);
  });

  test('undefined inputs count as inputs', () => {
    let calls = 0;
    const withOwner = lastMade((owner: string | undefined) => (calls++, { owner }));
    const none = withOwner(undefined);
    expect(withOwner(undefined)).toBe(none);
    expect(withOwner('alice')).not.toBe(none);
    expect(calls).toBe(2);
  });
});
