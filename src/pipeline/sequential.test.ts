import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { calibrationTestSamples } from '../calibration/engine-test-texts';
import { calibrationStatsError } from '../gpu/kernels/errors';
import { buildFixtureSet, type FixtureName, type FixtureSet } from '../fixtures/fixtures';
import { NodePipelineRuntime } from '../node/pipeline-runtime';
import { readModelFile } from '../node/model-files';
import { cutLayers, LayerCutError } from './layer-cut';
import { keepCounts } from '../pruning/allocation';
import { layerwiseReconstruct, sequentialReconstruct, wholeModelReconstruct, type SequentialInput } from './sequential';

const FLOAT_FIXTURES = ['optimum-fp32', 'optimum-fp16', 'genai-fp32', 'genai-fp16'] as const satisfies readonly FixtureName[];

let set: FixtureSet;
beforeAll(async () => {
  set = await buildFixtureSet([...FLOAT_FIXTURES, 'genai-int4']);
});
afterAll(() => set?.remove());

/**
 * Sequential reconstruction of `name` at 50% on two sets (the test stories, split), through the whole-model
 * path; then the layer-wise statistics of every layer given the same solutions, against whole-model
 * calibrations of the model with the earlier layers' solutions applied; and the layer-wise plan itself.
 */
async function bothWays(name: FixtureName) {
  const fx = set.fixtures[name];
  const runtime = await NodePipelineRuntime.open(fx.dir, { modelFile: fx.modelFile, batchSize: 3 });
  try {
    const samples = calibrationTestSamples(runtime.tokenizer);
    const sets = [samples.slice(0, 5), samples.slice(5)];
    const weights = await runtime.ffnWeights({ gateUp: false });
    const hidden = runtime.config.hidden_size;
    const counts = keepCounts('uniform', weights.map((w) => new Float64Array(w.down.length / hidden)), { sparsity: 0.5 });
    const input: SequentialInput = { runtime, weights, counts, sets, genericMix: 0.5 };
    const whole = await wholeModelReconstruct(input);

    let statsError = 0;
    const progress: number[] = [];
    await runtime.calibrateLayerwise(sets, {
      onProgress: (done) => progress.push(done),
      solve: async (l, stats) => {
        const upstream = {
          keep: weights.map((w, i) => (i < l ? whole.keep[i]! : Array.from({ length: w.down.length / hidden }, (_, c) => c))),
          downWeights: weights.map((w, i) => (i < l ? whole.downWeights[i]! : w.down)),
        };
        for (const [s, samples] of sets.entries()) {
          const expected = (await runtime.calibrate(samples, { gram: true, plan: upstream })).layers[l]!;
          statsError = Math.max(statsError, calibrationStatsError({ layers: [stats[s]!], tokens: 0, samples: 0 }, { layers: [expected], tokens: 0, samples: 0 }));
        }
        return { keep: whole.keep[l]!, down: whole.downWeights[l]! };
      },
    });
    expect(progress).toEqual([1, 2, 3, 4, 5]);
    return { layerwise: await layerwiseReconstruct(input), whole, statsError, hidden };
  } finally {
    await runtime.dispose();
  }
}

describe('layer-wise sequential reconstruction', () => {
  it.each(FLOAT_FIXTURES)('%s: the statistics and the plan of calibrating the whole model per layer', async (name) => {
    const { layerwise, whole, statsError, hidden } = await bothWays(name);
    // fp16 graphs round activations to half precision at different points in a layer run alone (a
    // separate session, another fusion of the residual sum and the norm) and in the whole model.
    if (name.endsWith('fp16')) {
      expect(statsError).toBeLessThan(1e-2);
      return;
    }
    expect(statsError).toBeLessThan(1e-5);
    whole.keep.forEach((keep, l) => {
      expect(layerwise.keep[l]).toEqual(keep);
      const scale = Math.max(...whole.downWeights[l]!.map(Math.abs));
      layerwise.downWeights[l]!.forEach((v, i) => expect(Math.abs(v - whole.downWeights[l]![i]!)).toBeLessThanOrEqual(1e-5 * scale));
      expect(layerwise.downWeights[l]!.length).toBe(keep.length * hidden);
    });
  });

  it('says why a graph cannot be cut, and the pipeline then calibrates the whole model', async () => {
    const fx = set.fixtures['genai-int4'];
    const model = await readModelFile(join(fx.dir, fx.modelFile));
    expect(() => cutLayers(model)).toThrow(LayerCutError);
    expect(() => cutLayers(model)).toThrow(/layer 0: down_proj is quantized \(MatMulNBits\)/);

    // A runtime whose layer-wise calibration refuses the graph: the whole-model path runs instead.
    const runtime = await NodePipelineRuntime.open(set.fixtures['optimum-fp32'].dir);
    try {
      const weights = await runtime.ffnWeights({ gateUp: false });
      const samples = calibrationTestSamples(runtime.tokenizer).slice(0, 3);
      const refusing = Object.assign(Object.create(runtime) as NodePipelineRuntime, {
        calibrateLayerwise: () => Promise.reject(new LayerCutError('layer 2 reads layer 0’s FFN other than through the residual stream')),
      });
      const result = await sequentialReconstruct({ runtime: refusing, weights, counts: weights.map(() => 100), sets: [samples], genericMix: 0 });
      expect(result.calibration).toEqual({ mode: 'whole-model', reason: 'layer 2 reads layer 0’s FFN other than through the residual stream' });
      const direct = await sequentialReconstruct({ runtime, weights, counts: weights.map(() => 100), sets: [samples], genericMix: 0 });
      expect(direct.calibration).toEqual({ mode: 'layer-wise' });
      expect(direct.keep).toEqual(result.keep);
    } finally {
      await runtime.dispose();
    }
  });

  it('stops between batches when its signal aborts', async () => {
    const runtime = await NodePipelineRuntime.open(set.fixtures['genai-fp32'].dir, { modelFile: set.fixtures['genai-fp32'].modelFile, batchSize: 2 });
    try {
      const weights = await runtime.ffnWeights({ gateUp: false });
      const controller = new AbortController();
      const solved: number[] = [];
      const run = runtime.calibrateLayerwise([calibrationTestSamples(runtime.tokenizer)], {
        signal: controller.signal,
        solve: (l) => {
          solved.push(l);
          if (l === 1) controller.abort();
          return { keep: Array.from({ length: 172 }, (_, c) => c), down: weights[l]!.down };
        },
      });
      await expect(run).rejects.toMatchObject({ name: 'AbortError' });
      expect(solved).toEqual([0, 1]);
    } finally {
      await runtime.dispose();
    }
  });
});
