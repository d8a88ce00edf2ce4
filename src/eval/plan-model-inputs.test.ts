import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import * as ort from 'onnxruntime-node';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { runCalibration } from '../calibration/engine';
import { createCpuAccumulator } from '../calibration/engine-accumulator-cpu';
import { calibrationTestSamples } from '../calibration/engine-test-texts';
import { type CalibrationStats } from '../core/stats';
import { calibrationStatsError } from '../gpu/kernels/errors';
import { importGguf } from '../import/import-gguf';
import { loadBuiltin } from '../fixtures/builtin';
import { writeFolderAtomic } from '../node/folder-io';
import { NodePipelineRuntime } from '../node/pipeline-runtime';
import { instrumentModel } from '../onnx/instrument';
import { readModelFile } from '../node/model-files';
import { encodeModel } from '../onnx/model-io';
import { modelShapeFromConfig } from '../pruning/estimates';
import { buildPlan, type ScoringMethod } from '../pruning/plan-builder';
import type { PlanWeights } from './apply-plan';
import { applyPlanToModel } from './plan-model';

let dir: string;
let runtime: NodePipelineRuntime;

beforeAll(async () => {
  dir = await mkdtemp(join(tmpdir(), 'pps-plan-inputs-'));
  await writeFolderAtomic(join(dir, 'model'), importGguf(await loadBuiltin()));
  runtime = await NodePipelineRuntime.open(join(dir, 'model'));
});

afterAll(async () => {
  await runtime?.dispose();
  await rm(dir, { recursive: true, force: true });
});

/** The per-plan path: the plan baked into the weights of a model of its own, on a fresh session. */
async function statsOfBakedModel(plan: PlanWeights, samples: Parameters<typeof runCalibration>[1]): Promise<CalibrationStats> {
  const { model: instrumented, outputs } = instrumentModel(applyPlanToModel(await readModelFile(join(dir, 'model', 'onnx', 'model.onnx')), plan));
  const session = await ort.InferenceSession.create(encodeModel(instrumented).model);
  try {
    const result = await runCalibration({ ort, session, config: runtime.config, outputs: [...outputs].sort((a, b) => a.layer - b.layer) }, samples, createCpuAccumulator, { gram: { budgetBytes: 1 << 30 } });
    if (result.status !== 'done') throw new Error('cancelled');
    return result.stats;
  } finally {
    await session.release();
  }
}

describe('planned calibration on one session (plan weights fed as inputs)', () => {
  it('gives the statistics of a model with the plan baked into its weights, within 1e-5, for plan after plan', async () => {
    const samples = calibrationTestSamples(runtime.tokenizer);
    const dense = await runtime.calibrate(samples, { gram: true });
    const weights = await runtime.ffnWeights({ gateUp: false });
    const shape = modelShapeFromConfig(runtime.config);
    const methods: ScoringMethod[] = ['reconstruct', 'flap', 'wanda-sp'];
    for (const method of methods) {
      const plan = await buildPlan({ method, allocation: 'global', sparsity: 0.3, shape, weights, stats: dense.layers });
      // The same runtime session serves every plan: each call only feeds that plan's weights (and FLAP's bias).
      const fed = await runtime.calibrate(samples, { gram: true, plan });
      const baked = await statsOfBakedModel(plan, samples);
      expect(calibrationStatsError(fed, baked)).toBeLessThan(1e-5);
      // The plan changes the statistics (a comparison of two dense runs would pass too).
      expect(calibrationStatsError(baked, dense)).toBeGreaterThan(1e-3);
    }
  });
});
