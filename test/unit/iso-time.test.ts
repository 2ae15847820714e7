import { isoTimes } from '../../src/audit/iso-time';

describe('isoTimes', () => {
  test('the same text as toISOString, for times in order, out of order, repeated, fractional and before 1970', () => {
    const iso = isoTimes();
    const times: number[] = [0, -1, -1.5, -999, -1000, -1001, 999.9, 1000, 1_796_034_555_123.5208, 1_796_034_555_999.99, 1_796_034_556_000];
    let t = 1_796_034_554_000;
    for (let i = 0; i < 5_000; i++) times.push((t += Math.random() * 3), t, t - 1500 * Math.random());
    // Year, leap-day and far-off boundaries.
    times.push(Date.UTC(2024, 1, 29, 23, 59, 59, 999), Date.UTC(2024, 2, 1), Date.UTC(9999, 11, 31, 23, 59, 59, 999), Date.UTC(10000, 0, 1), -62_198_755_200_000, 8.64e15, -8.64e15);
    for (const ms of times) expect(iso(ms)).toBe(new Date(ms).toISOString());
  });

  test('a time no Date can hold throws, as toISOString does', () => {
    const iso = isoTimes();
    expect(() => iso(Number.NaN)).toThrow(RangeError);
    expect(() => iso(8.64e15 + 1)).toThrow(RangeError);
    expect(iso(5)).toBe('1970-01-01T00:00:00.005Z');
  });
});
