import { BoundedMap } from '../../src/policy/bounded-map';

describe('BoundedMap', () => {
  test('past max it drops the least recently used key; a get counts as a use', () => {
    const map = new BoundedMap<string, number>(2);
    map.set('a', 1);
    map.set('b', 2);
    expect(map.get('a')).toBe(1);
    map.set('c', 3);
    expect(map.get('b')).toBeUndefined();
    expect(map.get('a')).toBe(1);
    expect(map.get('c')).toBe(3);
    expect(map.size).toBe(2);
  });

  test('setting a key again replaces its value and makes it the newest', () => {
    const map = new BoundedMap<string, number>(2);
    map.set('a', 1);
    map.set('b', 2);
    map.set('a', 10);
    map.set('c', 3);
    expect(map.get('a')).toBe(10);
    expect(map.get('b')).toBeUndefined();
  });

  test('100,000 distinct keys (pulls of distinct namespaces) leave it at its bound', () => {
    const map = new BoundedMap<string, string>(1_000);
    for (let i = 0; i < 100_000; i++) map.set(`namespace-${i}`, 'community');
    expect(map.size).toBe(1_000);
    expect(map.get('namespace-98999')).toBeUndefined();
    expect(map.get('namespace-99000')).toBe('community');
  });

  test('delete removes a key', () => {
    const map = new BoundedMap<string, number>(2);
    map.set('a', 1);
    map.delete('a');
    expect(map.get('a')).toBeUndefined();
    expect(map.size).toBe(0);
  });
});
