/**
 * Held-out KL of the Node runtime (plan fed as graph inputs, CPU reference) against an independent
 * computation: the llama2.c-style reference forward pass, dense and with the plan's channels masked.
 */
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { CalibrationSample } from '../core/stats';
import type { GgufModel } from '../import/gguf-file';
import { importGguf } from '../import/import-gguf';
import { referenceLogits } from '../import/llama-reference';
import { loadBuiltin } from '../fixtures/builtin';
import { createRng } from '../model/sampling';
import { writeFolderAtomic } from '../node/folder-io';
import { NodePipelineRuntime } from '../node/pipeline-runtime';
import { keepMasks } from '../core/keep-plan';
import { CpuHeldOutKl, DenseLogitsCache, klRowWeights } from './held-out-kl';

let dir: string;
let gguf: GgufModel;
let node: NodePipelineRuntime;

beforeAll(async () => {
  dir = await mkdtemp(join(tmpdir(), 'pps-kl-'));
  gguf = await loadBuiltin();
  await writeFolderAtomic(join(dir, 'model'), importGguf(gguf));
  node = await NodePipelineRuntime.open(join(dir, 'model'));
});

afterAll(async () => {
  await node?.dispose();
  await rm(dir, { recursive: true, force: true });
});

/** KL(p ‖ q) of one row in float64, written out independently of the reference module. */
function rowKl(dense: Float32Array, pruned: Float32Array): number {
  const logSoftmax = (x: Float32Array) => {
    const max = Math.max(...x);
    const lse = max + Math.log(x.reduce((s, v) => s + Math.exp(v - max), 0));
    return Array.from(x, (v) => v - lse);
  };
  const lp = logSoftmax(dense);
  const lq = logSoftmax(pruned);
  return lp.reduce((s, l, k) => s + Math.exp(l) * (l - lq[k]!), 0);
}

describe('held-out KL', () => {
  it('row t predicts token t + 1, so it counts with that token’s weight', () => {
    expect([...klRowWeights({ ids: [1, 5, 6, 7], weights: Float32Array.of(0, 0, 2, 0.5) })]).toEqual([0, 2, 0.5, 0]);
  });

  it('the Node runtime equals the reference forward pass, dense and masked, weighted by answer tokens', async () => {
    const rng = createRng(4);
    const { nLayers, ffnDim } = gguf.config;
    const samples: CalibrationSample[] = [
      { ids: [1, 403, 261, 289, 300, 301, 302, 46], weights: Float32Array.of(0, 0, 0, 1, 1, 1, 1, 1) },
      { ids: [1, 70, 80, 90, 100, 110], weights: Float32Array.of(0, 0, 2, 2, 2, 2) },
    ];
    const keep = Array.from({ length: nLayers }, () => Array.from({ length: ffnDim }, (_, c) => c).filter(() => rng() < 0.7));
    const mask = keepMasks({ keep }, Array(nLayers).fill(ffnDim));
    let sum = 0;
    let weight = 0;
    for (const s of samples) {
      const dense = referenceLogits(gguf, s.ids);
      const pruned = referenceLogits(gguf, s.ids, { ffnMask: mask });
      for (let t = 0; t + 1 < s.ids.length; t++) {
        const w = s.weights[t + 1]!;
        sum += w * rowKl(dense[t]!, pruned[t]!);
        weight += w;
      }
    }
    const expected = sum / weight;
    expect(expected).toBeGreaterThan(0.01);

    const identity = await node.heldOutKl(samples, { keep: Array.from({ length: nLayers }, () => Array.from({ length: ffnDim }, (_, c) => c)) });
    expect(identity.meanKl).toBeLessThan(1e-6);
    expect(identity).toMatchObject({ tokens: 9, weight: 13 });
    // Twice: the second call reuses the cached dense logits.
    for (let i = 0; i < 2; i++) {
      const kl = await node.heldOutKl(samples, { keep });
      expect(Math.abs(kl.meanKl - expected)).toBeLessThan(1e-4 * expected);
      // Per sample: 5 counted rows of weight 1, then 4 of weight 2; together they give the overall mean.
      expect(kl.perSample).toHaveLength(2);
      expect((5 * kl.perSample[0]! + 8 * kl.perSample[1]!) / 13).toBeCloseTo(kl.meanKl, 12);
    }

    const controller = new AbortController();
    controller.abort();
    await expect(node.heldOutKl(samples, { keep }, { signal: controller.signal })).rejects.toMatchObject({ name: 'AbortError' });
  });

  it('keeps the dense logits of each sample set the search alternates between, the oldest dropped beyond the budget', async () => {
    const vocab = 3;
    const sample = (ids: number[]): CalibrationSample => ({ ids, weights: Float32Array.from(ids, (_, t) => (t > 0 ? 1 : 0)) });
    const [a, b] = [[sample([0, 1, 2])], [sample([2, 1]), sample([1, 0, 0])]];
    let denseRuns = 0;
    const logits = (shift: number) => async (batch: readonly CalibrationSample[]) => {
      const length = Math.max(...batch.map((s) => s.ids.length));
      return Float32Array.from({ length: batch.length * length * vocab }, (_, i) => Math.sin(i + shift));
    };
    const dense = async (batch: readonly CalibrationSample[]) => {
      denseRuns++;
      return logits(0)(batch);
    };
    const kl = new CpuHeldOutKl();
    const first = await kl.evaluate(a, vocab, dense, logits(1));
    await kl.evaluate(b, vocab, dense, logits(1));
    // Back to the first set: its dense logits are still kept, and the KL is the same.
    expect((await kl.evaluate(a, vocab, dense, logits(1))).meanKl).toBe(first.meanKl);
    expect(first.meanKl).toBeGreaterThan(0);
    expect(denseRuns).toBe(2);

    const freed: string[][] = [];
    const cache = new DenseLogitsCache<string>(10, (d) => freed.push(d));
    cache.keep('a', ['a'], 6);
    cache.keep('b', ['b'], 4);
    cache.keep('c', ['c'], 5);
    expect([cache.get('a'), cache.get('b'), cache.get('c')]).toEqual([undefined, ['b'], ['c']]);
    cache.keep('d', ['d'], 11);
    expect(freed).toEqual([['a'], ['d']]);
  });
});
