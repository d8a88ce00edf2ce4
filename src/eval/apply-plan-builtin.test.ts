/**
 * Plans on the built-in model, end to end on the CPU: statistics from the reference forward pass, plans
 * from buildPlan, applied to the dense weights in memory, scored by NLL. Checks the weight layouts agree
 * (ONNX [in, out] in the pruning code, GGUF rows in the reference) and that the refit does its job.
 */
import { describe, expect, it } from 'vitest';
import { GGMLQuantizationType } from '@huggingface/gguf';
import { accumulateChannelStats } from '../gpu/kernels/channel-stats/reference';
import { emptyChannelStats } from '../core/stats';
import { accumulateGram } from '../gpu/kernels/gram/reference';
import { readGguf, type GgufModel } from '../import/gguf-file';
import { encodeF32 } from '../onnx/float16';
import { hfConfig } from '../import/import-gguf';
import { referenceGreedy, referenceLogits } from '../import/llama-reference';
import { loadBuiltin, rewriteGguf } from '../fixtures/builtin';
import { buildTokenizerFiles } from '../import/tokenizer-json';
import type { ModelConfig } from '../model/config';
import { loadTokenizer } from '../model/tokenizer';
import { modelShapeFromConfig } from '../pruning/estimates';
import { keepMasks } from '../core/keep-plan';
import { buildPlan } from '../pruning/plan-builder';
import type { LayerStats } from '../core/stats';
import { applyPlanToWeights, type PlanWeights } from './apply-plan';
import { sequenceNll, summariseNll } from './nll';

/** [rows, cols] row-major → [cols, rows]. GGUF ffn_down is [hidden rows of C]; ONNX wants [C, hidden]. */
function transpose(m: Float32Array, rows: number, cols: number): Float32Array {
  const out = new Float32Array(m.length);
  for (let r = 0; r < rows; r++) for (let c = 0; c < cols; c++) out[c * rows + r] = m[r * cols + c];
  return out;
}

function flatLogits(model: GgufModel, ids: number[]): Float32Array {
  const rows = referenceLogits(model, ids);
  const out = new Float32Array(rows.length * model.config.vocabSize);
  rows.forEach((row, t) => out.set(row, t * model.config.vocabSize));
  return out;
}

describe('plans applied in memory on the built-in model', () => {
  it('equal the reference channel mask, and reconstruct’s refit beats Wanda-sp on its calibration texts', async () => {
    const model = await loadBuiltin();
    const { dim: hidden, ffnDim: channels, nLayers: layers, vocabSize } = model.config;
    const { tokenizerJson, tokenizerConfig } = buildTokenizerFiles(model);
    const tokenizer = loadTokenizer(tokenizerJson, tokenizerConfig as unknown as Record<string, unknown>);
    const texts = ['One day, the little dog', 'The old sailor looked at the sea and', 'Lily went to the park with her mom. She', 'The bunny was hungry, so it'].map((p) => {
      const prompt = tokenizer.encode(p, { addBos: true });
      return [...prompt, ...referenceGreedy(model, prompt, 24)];
    });

    // Every token after BOS counts, weight 1.
    const stats: LayerStats[] = Array.from({ length: layers }, () => ({ ...emptyChannelStats(channels), gram: new Float64Array(channels * channels) }));
    for (const ids of texts) {
      const acts = Array.from({ length: layers }, () => new Float32Array(ids.length * channels));
      referenceLogits(model, ids, { capture: (l, t, { downInput }) => acts[l].set(downInput, t * channels) });
      const weights = Float32Array.from(ids, (_, t) => (t === 0 ? 0 : 1));
      stats.forEach((s, l) => {
        accumulateChannelStats(s, acts[l], weights);
        accumulateGram(s.gram as Float64Array, channels, acts[l], weights);
      });
    }

    const downs = Array.from({ length: layers }, (_, l) => transpose(model.tensorF32(`blk.${l}.ffn_down.weight`), hidden, channels));
    const shape = modelShapeFromConfig(hfConfig(model) as ModelConfig);
    const plan = (method: 'wanda-sp' | 'reconstruct') => buildPlan({ method, allocation: 'uniform', sparsity: 0.25, shape, weights: downs.map((down) => ({ down })), stats });
    const applied = async (p: PlanWeights) => {
      const layerDowns = applyPlanToWeights(downs, hidden, p).map((l) => l.down);
      const bytes = rewriteGguf(model, {
        encode: (name, values) => {
          const layer = /^blk\.(\d+)\.ffn_down\.weight$/.exec(name)?.[1];
          const data = layer === undefined ? values : transpose(layerDowns[Number(layer)], channels, hidden);
          return { type: GGMLQuantizationType.F32, data: encodeF32(data) };
        },
      });
      return readGguf(bytes);
    };
    const nll = (m: GgufModel) => summariseNll(texts.map((ids) => sequenceNll(flatLogits(m, ids), vocabSize, ids))).meanNll;

    const wanda = await plan('wanda-sp');
    const wandaModel = await applied(wanda);
    const masked = referenceLogits(model, texts[0], { ffnMask: keepMasks(wanda, shape.intermediateSizes) });
    referenceLogits(wandaModel, texts[0]).forEach((row, t) => expect([...row]).toEqual([...masked[t]]));

    const reconstruct = await plan('reconstruct');
    expect(reconstruct.downWeights).toHaveLength(layers);
    const dense = nll(model);
    const wandaNll = nll(wandaModel);
    const reconstructNll = nll(await applied(reconstruct));
    expect(wandaNll).toBeGreaterThan(dense);
    expect(reconstructNll).toBeGreaterThan(dense);
    // The refit minimises each layer's output error on exactly these tokens, so it must lose less.
    expect(reconstructNll - dense).toBeLessThan(0.8 * (wandaNll - dense));
  });
});
