import { describe, expect, it } from 'vitest';
import { createRng } from '../model/sampling';
import { beatsBeyondNoise, evolveCounts, mutateCounts, mutationStep, pairedDifference, selectPlan } from './plan-search';

describe('allocation search', () => {
  it('mutations keep the total kept count and every layer within [minKeep, width]', () => {
    const rng = createRng(1);
    const widths = [20, 20, 10, 20];
    let counts = [15, 15, 8, 15];
    for (let i = 0; i < 200; i++) {
      counts = mutateCounts(counts, widths, 3, 2, 3, rng);
      expect(counts.reduce((a, b) => a + b)).toBe(53);
      counts.forEach((c, l) => {
        expect(c).toBeGreaterThanOrEqual(2);
        expect(c).toBeLessThanOrEqual(widths[l]!);
      });
    }
    expect(mutationStep([172, 172, 172])).toBe(3);
    expect(mutationStep([1536], 32)).toBe(32);
  });

  it('evolution moves channels towards the layers that need them, at the same total', async () => {
    // A separable objective: each layer's loss falls with its kept count, layer 2 five times as steeply.
    const slopes = [1, 1, 5, 1];
    const judge = async (counts: readonly number[]) => counts.reduce((s, c, l) => s + slopes[l]! * Math.exp(-c / 10), 0);
    const start = [15, 15, 15, 15];
    const result = await evolveCounts({ start, widths: [30, 30, 30, 30], step: 2, minKeep: 1, generations: 12, offspring: 4, seed: 0, judge });
    expect(result.counts.reduce((a, b) => a + b)).toBe(60);
    expect(result.counts[2]).toBeGreaterThan(15);
    expect(result.kl).toBeLessThan(await judge(start));
    expect(result.evaluations).toBeGreaterThan(12);
  });

  it('chooses the lowest held-out KL and records every candidate', () => {
    const plan = (kept: number) => ({ keep: [Array.from({ length: kept }, (_, i) => i), [0, 1]] });
    const judged = [
      { candidate: { label: 'a', plan: plan(3) }, kl: 0.5, perSample: [0.5, 0.5, 0.5] },
      { candidate: { label: 'b', plan: plan(2) }, kl: 0.25, perSample: [0.25, 0.26, 0.24] },
      { candidate: { label: 'c', plan: plan(1) }, kl: 0.25, perSample: [0.25, 0.24, 0.26] },
    ];
    const { chosen, selection } = selectPlan(judged, [4, 4]);
    expect(chosen.label).toBe('b');
    expect(selection).toEqual({
      chosen: 'b',
      heldOutKl: 0.25,
      candidates: [
        { label: 'a', kl: 0.5, sparsities: [0.25, 0.5] },
        { label: 'b', kl: 0.25, sparsities: [0.5, 0.5] },
        { label: 'c', kl: 0.25, sparsities: [0.75, 0.5] },
      ],
    });
  });

  it('keeps the method’s own plan against a gap within one standard error, unless a baseline beats it', () => {
    const plan = { keep: [[0, 1]] };
    const own = { candidate: { label: 'own', plan }, kl: 0.3, perSample: [0.2, 0.4, 0.3] };
    const noisy = { candidate: { label: 'noisy', plan }, kl: 0.29, perSample: [0.3, 0.28, 0.29] };
    const baseline = (kl: number) => ({ candidate: { label: 'flap', plan, baseline: true }, kl, perSample: [kl, kl, kl] });
    expect(selectPlan([own, noisy, baseline(0.35)], [4]).chosen.label).toBe('own');
    // A baseline better than the method's plan: the plain minimum, never worse than the baseline.
    expect(selectPlan([own, noisy, baseline(0.295)], [4]).selection).toMatchObject({ chosen: 'noisy', heldOutKl: 0.29 });
    expect(selectPlan([own, baseline(0.295), noisy], [4]).selection.chosen).toBe('noisy');
    // Hand-computed: differences 2, 3, 4 have mean 3 and standard deviation 1.
    const { mean, standardError } = pairedDifference([3, 5, 7], [1, 2, 3]);
    expect(mean).toBe(3);
    expect(standardError).toBeCloseTo(1 / Math.sqrt(3), 12);
  });

  it('beats beyond noise only by more than one standard error of the paired differences', () => {
    // Differences incumbent − challenger [2, 3, 4]: mean 3, SE 1/√3 ≈ 0.577 → beats; [0.5, −0.5, 1.5]: mean 0.5, SE 0.577 → within noise.
    expect(beatsBeyondNoise([1, 2, 3], [3, 5, 7])).toBe(true);
    expect(beatsBeyondNoise([3, 5, 7], [1, 2, 3])).toBe(false);
    expect(beatsBeyondNoise([1, 2, 3], [1.5, 1.5, 4.5])).toBe(false);
  });
});
