import { describe, expect, it } from 'vitest';
import { perplexity, sequenceNll, summariseNll } from './nll';

describe('sequenceNll', () => {
  it('shifts by one (position t predicts ids[t + 1]) and matches hand-computed values', () => {
    // Three positions over vocab 2; ids [BOS=1, 0, 1]: row 0 is uniform (ln 2), row 1 gives token 1
    // probability 3/4, row 2 is unused.
    const logits = Float32Array.from([0, 0, 0, Math.log(3), 99, -99]);
    const nll = sequenceNll(logits, 2, [1, 0, 1]);
    expect(nll.length).toBe(2);
    expect(nll[0]).toBeCloseTo(Math.LN2, 12);
    expect(nll[1]).toBeCloseTo(-Math.log(0.75), 6);
    expect(perplexity(Math.LN2)).toBeCloseTo(2, 12);
  });

  it('stays finite for huge logits where a naive softmax overflows', () => {
    const nll = sequenceNll(Float32Array.from([1000, 0, -1000, 1000, 1000, 1000, 0, 0, 0]), 3, [2, 0, 1]);
    expect(nll[0]).toBe(0);
    expect(nll[1]).toBeCloseTo(Math.log(3), 12);
    expect(Math.exp(1000)).toBe(Infinity);
  });

  it('pools texts token by token', () => {
    const s = summariseNll([Float64Array.from([1, 2]), Float64Array.from([4])]);
    expect(s).toEqual({ meanNll: 7 / 3, perplexity: Math.exp(7 / 3), tokens: 3 });
    expect(() => summariseNll([new Float64Array(0)])).toThrow(/no predicted tokens/);
  });

  it('rejects shapes and tokens that do not fit', () => {
    expect(() => sequenceNll(new Float32Array(4), 2, [1])).toThrow(/expected 1 rows/);
    expect(() => sequenceNll(new Float32Array(4), 2, [1, 2])).toThrow(/outside/);
    expect(() => sequenceNll(new Float32Array(4), 0, [1, 2])).toThrow(/vocab/);
  });
});
