import { describe, expect, it } from 'vitest';
import { emptyChannelStats } from '../core/stats';
import { topChannels } from './allocation';
import { buildPlan, type BuildPlanInput } from './plan-builder';
import { reconstructLayer, mixedGram } from './reconstruct';
import { planWithOverrides } from './plan-overrides';

const hidden = 4;
const widths = [8, 8, 8];
const shape = { hiddenSize: hidden, vocabSize: 16, numLayers: 3, numHeads: 2, numKvHeads: 2, headDim: 2, intermediateSizes: widths, tiedEmbeddings: true };
const rand = (seed: number) => () => ((seed = (seed * 1103515245 + 12345) % 2 ** 31) / 2 ** 31) - 0.5;
const r = rand(7);
const weights = widths.map((c) => ({ down: Float32Array.from({ length: c * hidden }, r) }));
const stats = widths.map((c) => {
  const s = emptyChannelStats(c) as ReturnType<typeof emptyChannelStats> & { gram?: Float64Array };
  const rows = Array.from({ length: 20 }, () => Array.from({ length: c }, r));
  s.gram = new Float64Array(c * c);
  for (const a of rows) for (let i = 0; i < c; i++) for (let j = 0; j < c; j++) s.gram[i * c + j] += a[i]! * a[j]!;
  for (const a of rows) a.forEach((v, i) => ((s.sumSq[i] += v * v), (s.sumAbs[i] += Math.abs(v)), (s.sum[i] += v)));
  s.weight = 20;
  return s;
});

const input = (method: BuildPlanInput['method']): BuildPlanInput => ({ method, allocation: 'uniform', sparsity: 0.5, shape, weights, stats });

describe('planWithOverrides', () => {
  it('without overrides is buildPlan', async () => {
    expect((await planWithOverrides(input('activation'), [null, null, null])).keep).toEqual((await buildPlan(input('activation'))).keep);
  });

  it('an overridden layer keeps its top channels by score; the others are untouched; estimates follow', async () => {
    const base = await buildPlan(input('activation'));
    const plan = await planWithOverrides(input('activation'), [null, 6, null]);
    expect(plan.keep[1]).toEqual(topChannels(base.scores[1]!, 6));
    expect(plan.keep[0]).toEqual(base.keep[0]);
    expect(plan.keep[2]).toEqual(base.keep[2]);
    expect(plan.estimates.keptPerLayer).toEqual([4, 6, 4]);
    expect(plan.estimates.ffnSparsity).toBeCloseTo(1 - 14 / 24);
  });

  it('reconstruct re-solves an overridden layer at its new count, with refit weights', async () => {
    const plan = await planWithOverrides(input('reconstruct'), [2, null, null]);
    const expected = reconstructLayer(mixedGram(stats[0]!), weights[0]!.down, hidden, 2);
    expect(plan.keep[0]).toEqual(expected.keep);
    expected.down.forEach((v, i) => expect(plan.downWeights![0]![i]).toBeCloseTo(v, 6));
    expect(plan.keep[1]).toHaveLength(4);
  });

  it('rejects counts a layer cannot keep', async () => {
    await expect(planWithOverrides(input('activation'), [0])).rejects.toThrow(/layer 1 can keep 1 to 8/);
    await expect(planWithOverrides(input('activation'), [9])).rejects.toThrow(RangeError);
    await expect(planWithOverrides(input('activation'), [null, null, null, 3])).rejects.toThrow(/4 layer overrides for a model of 3 layers/);
  });
});
