import { describe, expect, it } from 'vitest';
import { argmax, createRng, sampleToken } from './sampling';

const logits = Float32Array.from([0.5, 3, 1, 2.9, -1]);

describe('sampling', () => {
  it('repeats a seeded sequence and differs across seeds', () => {
    const draw = (seed: number) => Array.from({ length: 5 }, createRng(seed));
    expect(draw(42)).toEqual(draw(42));
    expect(draw(42)).not.toEqual(draw(43));
    expect(draw(1).every((x) => x >= 0 && x < 1)).toBe(true);
  });

  it('is greedy at temperature 0 and with top-k 1', () => {
    const rng = createRng(1);
    expect(argmax(logits)).toBe(1);
    expect(sampleToken(logits, { temperature: 0 }, rng)).toBe(1);
    expect(sampleToken(logits, { temperature: 5, topK: 1 }, rng)).toBe(1);
  });

  it('keeps only the top-p nucleus', () => {
    const rng = createRng(3);
    const picks = new Set(Array.from({ length: 200 }, () => sampleToken(logits, { temperature: 1, topP: 0.6 }, rng)));
    expect(picks).toEqual(new Set([1, 3]));
  });

  it('samples every token in proportion at high temperature', () => {
    const rng = createRng(5);
    const picks = new Set(Array.from({ length: 500 }, () => sampleToken(logits, { temperature: 100 }, rng)));
    expect(picks.size).toBe(logits.length);
  });
});
