import { describe, expect, it } from 'vitest';
import { slidingWindows, windowedNll } from './windows';

describe('slidingWindows', () => {
  it('covers every target once, each with the context the stride leaves (hand-computed)', () => {
    // 10 tokens, windows of 4, 2 apart: targets 1-3 | 4-5 | 6-7 | 8-9.
    expect(slidingWindows(10, 4, 2)).toEqual([
      { start: 0, end: 4, countFrom: 0 },
      { start: 2, end: 6, countFrom: 1 },
      { start: 4, end: 8, countFrom: 1 },
      { start: 6, end: 10, countFrom: 1 },
    ]);
    // 7 tokens, windows of 5, default stride 2: targets 1-4 | 5-6.
    expect(slidingWindows(7, 5)).toEqual([
      { start: 0, end: 5, countFrom: 0 },
      { start: 2, end: 7, countFrom: 2 },
    ]);
    expect(slidingWindows(4, 4)).toEqual([{ start: 0, end: 4, countFrom: 0 }]);
  });

  it('rejects windows that cannot make progress', () => {
    expect(() => slidingWindows(10, 1)).toThrow(/at least 2 tokens/);
    expect(() => slidingWindows(10, 4, 4)).toThrow(/stride/);
  });
});

describe('windowedNll', () => {
  it('stitches each target’s NLL from the window that counts it (hand-computed)', async () => {
    // A fake model: predicting token x after c tokens of context costs x + c / 10.
    const evaluate = async (sequences: readonly (readonly number[])[]) =>
      sequences.map((ids) => Float64Array.from(ids.slice(1), (x, t) => x + (t + 1) / 10));
    const calls: number[][] = [];
    const spy = async (s: readonly (readonly number[])[]) => (calls.push(s.map((ids) => ids.length)), evaluate(s));
    const [long, short] = await windowedNll(spy, [[0, 1, 2, 3, 4, 5, 6], [7, 8]], 5, 2);
    // Window [0,5): targets 1..4 with context 1..4; window [2,7): targets 5, 6 with context 3, 4.
    expect([...long!]).toEqual([1.1, 2.2, 3.3, 4.4, 5.3, 6.4].map((v) => expect.closeTo(v, 12)));
    expect([...short!]).toEqual([8.1].map((v) => expect.closeTo(v, 12)));
    expect(calls).toEqual([[5, 5, 2]]);
  });
});
