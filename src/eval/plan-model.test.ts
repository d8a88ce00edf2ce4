import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { calibrationTestSamples } from '../calibration/engine-test-texts';
import type { GgufModel } from '../import/gguf-file';
import { importGguf } from '../import/import-gguf';
import { referenceLogits } from '../import/llama-reference';
import { loadBuiltin } from '../fixtures/builtin';
import { writeFolderAtomic } from '../node/folder-io';
import { NodePipelineRuntime } from '../node/pipeline-runtime';
import { modelShapeFromConfig } from '../pruning/estimates';
import { keepMasks } from '../core/keep-plan';
import { buildPlan, type ScoringMethod } from '../pruning/plan-builder';
import { sequenceNll } from './nll';
import { evaluationIds } from '../pipeline/text-set';

let dir: string;
let gguf: GgufModel;
let runtime: NodePipelineRuntime;
const opened: NodePipelineRuntime[] = [];

beforeAll(async () => {
  dir = await mkdtemp(join(tmpdir(), 'pps-plan-model-'));
  gguf = await loadBuiltin();
  await writeFolderAtomic(join(dir, 'model'), importGguf(gguf));
  runtime = await NodePipelineRuntime.open(join(dir, 'model'));
});

afterAll(async () => {
  for (const r of [runtime, ...opened]) await r?.dispose();
  await rm(dir, { recursive: true, force: true });
});

const TEXTS = ['The little cat sat on the mat and looked at the moon.', 'Tom and Sue went to the shop to buy a red ball. They were happy.'];

function referenceNll(ids: number[], masks?: Uint8Array[]): Float64Array {
  const rows = referenceLogits(gguf, ids, { ffnMask: masks });
  const flat = new Float32Array(rows.length * gguf.config.vocabSize);
  rows.forEach((row, t) => flat.set(row, t * gguf.config.vocabSize));
  return sequenceNll(flat, gguf.config.vocabSize, ids);
}

function expectClose(actual: Float64Array[], expected: Float64Array[], tolerance: number): void {
  expect(actual.map((a) => a.length)).toEqual(expected.map((e) => e.length));
  actual.forEach((a, i) => a.forEach((v, t) => expect(Math.abs(v - expected[i]![t]!)).toBeLessThan(tolerance)));
}

describe('plans evaluated in memory (applied to the dense weights)', () => {
  it('equal the exported pruned model within 1e-4 (refit down_proj, FLAP bias, plain masking, per-layer widths), in NLL and in calibration statistics', async () => {
    const samples = calibrationTestSamples(runtime.tokenizer);
    const stats = await runtime.calibrate(samples, { gram: true });
    const weights = await runtime.ffnWeights({ gateUp: false });
    const shape = modelShapeFromConfig(runtime.config);
    const sequences = TEXTS.map((t) => evaluationIds(runtime.tokenizer, t));
    const dense = await runtime.evaluateNll(sequences);
    // The dense path agrees with the independent reference forward pass.
    expectClose(dense, sequences.map((ids) => referenceNll(ids)), 1e-4);

    const cases: [ScoringMethod, 'uniform' | 'global'][] = [
      ['reconstruct', 'global'],
      ['flap', 'uniform'],
      ['wanda-sp', 'global'],
    ];
    for (const [method, allocation] of cases) {
      const plan = await buildPlan({ method, allocation, sparsity: 0.3, shape, weights, stats: stats.layers });
      expect(Boolean(plan.downWeights)).toBe(method === 'reconstruct');
      expect(Boolean(plan.channelMeans)).toBe(method === 'flap');
      const inMemory = await runtime.evaluateNll(sequences, plan);
      // Pruning changes the numbers: a test that compared two dense models would pass too.
      expect(Math.abs(inMemory[0]![3]! - dense[0]![3]!)).toBeGreaterThan(1e-3);

      const out = join(dir, `${method}-${allocation}`);
      await runtime.exportModel({ target: out, plan, method, manifest: { test: true } });
      const pruned = await NodePipelineRuntime.open(out);
      opened.push(pruned);
      expect((await pruned.ffnWeights({ gateUp: false })).map((w) => w.down.length / shape.hiddenSize)).toEqual(plan.keep.map((k) => k.length));
      expectClose(await pruned.evaluateNll(sequences), inMemory, 1e-4);

      // Calibrating with the plan applied (sequential reconstruction) gives the exported model's statistics on the kept channels.
      const planned = await runtime.calibrate(samples, { gram: true, plan });
      const exported = await pruned.calibrate(samples, { gram: true });
      plan.keep.forEach((keep, l) => {
        const [p, e] = [planned.layers[l]!, exported.layers[l]!];
        expect(e.weight).toBe(p.weight);
        keep.forEach((c, r) => {
          expect(Math.abs(e.sumSq[r]! - p.sumSq[c]!)).toBeLessThanOrEqual(1e-4 * p.sumSq[c]! + 1e-9);
          keep.forEach((c2, r2) => expect(Math.abs(e.gram![r * keep.length + r2]! - p.gram![c * 172 + c2]!)).toBeLessThanOrEqual(1e-4 * Math.sqrt(p.sumSq[c]! * p.sumSq[c2]!) + 1e-9));
        });
      });

      if (method === 'wanda-sp') {
        // Masking alone is the reference forward pass's channel mask.
        const masks = keepMasks(plan, shape.intermediateSizes);
        expectClose(inMemory, sequences.map((ids) => referenceNll(ids, masks)), 1e-4);
      }
    }
  });
});
