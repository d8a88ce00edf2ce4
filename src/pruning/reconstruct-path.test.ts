import { describe, expect, it } from 'vitest';
import { createRng } from '../model/sampling';
import { cpuMatMul } from '../core/matmul';
import { obsSaliency, reconstructLayer } from './reconstruct';
import { LayerReconstructor } from './reconstruct-path';

/** A Gram of n tokens whose c channels share a few factors (so removals compensate each other), and a down_proj. */
function layer(c: number, hidden: number, seed: number) {
  const rng = createRng(seed);
  const factors = 4;
  const mix = Float64Array.from({ length: factors * c }, () => rng() * 2 - 1);
  const gram = new Float64Array(c * c);
  const x = new Float64Array(c);
  for (let t = 0; t < 3 * c; t++) {
    const f = Array.from({ length: factors }, () => rng() * 2 - 1);
    for (let j = 0; j < c; j++) {
      let s = (rng() * 2 - 1) * (0.1 + j / c);
      for (let q = 0; q < factors; q++) s += f[q]! * mix[q * c + j]!;
      x[j] = s;
    }
    for (let i = 0; i < c; i++) for (let j = 0; j < c; j++) gram[i * c + j] += x[i]! * x[j]!;
  }
  const down = Float32Array.from({ length: c * hidden }, () => rng() * 2 - 1);
  return { gram, down };
}

describe('LayerReconstructor', () => {
  it('gives reconstructLayer’s plan at every count from one removal path (factors folded every 32 removals)', async () => {
    const [c, hidden] = [80, 6];
    const { gram, down } = layer(c, hidden, 1);
    const damping = 0.02;
    const solver = new LayerReconstructor(() => gram, down, hidden, { damping, matmul: cpuMatMul });
    // Largest count first: later, smaller counts need a longer path and must not change the earlier answers.
    for (const keepCount of [78, 60, 41, 20, 5, 1]) {
      const got = await solver.solve(keepCount);
      const want = reconstructLayer(gram, down, hidden, keepCount, { damping });
      expect(got.keep).toEqual(want.keep);
      expect(got.removed).toEqual(want.removed);
      const scale = Math.max(...want.down.map(Math.abs));
      for (let i = 0; i < want.down.length; i++) expect(Math.abs(got.down[i]! - want.down[i]!) / scale).toBeLessThan(1e-5);
      for (let i = 0; i < want.removalError.length; i++) expect(got.removalError[i]).toBeCloseTo(want.removalError[i]!, 8);
    }
    const saliency = await solver.saliency();
    const reference = obsSaliency(gram, down, hidden, { damping });
    for (let j = 0; j < c; j++) expect(saliency[j]! / reference[j]!).toBeCloseTo(1, 10);
  });

  it('answers a count the same whatever was asked before it', async () => {
    const { gram, down } = layer(50, 3, 2);
    const fresh = await new LayerReconstructor(() => gram, down, 3).solve(30);
    const used = new LayerReconstructor(() => gram, down, 3);
    await used.solve(45);
    await used.solve(10);
    const again = await used.solve(30);
    expect(again.keep).toEqual(fresh.keep);
    expect([...again.down]).toEqual([...fresh.down]);
  });

  it('keeps every channel unchanged at full width and refuses bad counts and shapes', async () => {
    const { gram, down } = layer(8, 2, 3);
    const solver = new LayerReconstructor(() => gram, down, 2);
    const full = await solver.solve(8);
    expect(full.keep).toEqual([0, 1, 2, 3, 4, 5, 6, 7]);
    expect([...full.down]).toEqual([...down]);
    await expect(solver.solve(0)).rejects.toThrow(/keepCount/);
    await expect(solver.solve(9)).rejects.toThrow(/keepCount/);
    await expect(new LayerReconstructor(() => new Float64Array(10), down, 2).solve(4)).rejects.toThrow(/Gram/);
    expect(() => new LayerReconstructor(() => gram, down, 3)).toThrow(/multiple/);
  });
});
