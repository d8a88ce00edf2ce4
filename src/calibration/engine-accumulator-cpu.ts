/**
 * The no-WebGPU accumulator: float64 sums on the CPU (the kernels' reference sums). The Gram Σ w·a·aᵀ is
 * one product per batch on a MatMul backend where there is one (onnxruntime's: tens of times the JS loop's
 * speed, which made it most of a calibration's time at 1536 channels), else the blocked JS sums.
 */
import type { MatMul } from '../core/matmul';
import { accumulateChannelStats } from '../gpu/kernels/channel-stats/reference';
import { accumulateGramBlocked } from '../gpu/kernels/gram/reference';
import { readFloat32 } from '../model/logits';
import { checkActivations, copyLayerStats, type AccumulatorFactory } from './engine-accumulator';

export function cpuAccumulator(matmul?: MatMul): AccumulatorFactory {
  return (spec) => {
    const layers = spec.initial.layers.map(copyLayerStats);
    const gramLayers = new Set(spec.gramLayers);
    for (const l of gramLayers) {
      const c = spec.channels[l]!;
      layers[l]!.gram = Float64Array.from(layers[l]!.gram ?? new Float64Array(c * c));
    }
    return {
      async add(activations, weights) {
        for (const [layer, tensor] of activations) {
          checkActivations(tensor, layer, spec.channels[layer]!, weights.length);
          const values = await readFloat32(tensor);
          if (spec.channelStats) accumulateChannelStats(layers[layer]!, values, weights);
          if (!gramLayers.has(layer)) continue;
          const gram = layers[layer]!.gram as Float64Array;
          if (matmul) await accumulateGramProduct(gram, spec.channels[layer]!, values, weights, matmul);
          else accumulateGramBlocked(gram, spec.channels[layer]!, values, weights);
        }
      },
      read: async () => layers.map(copyLayerStats),
      dispose() {},
    };
  };
}

/** The accumulator with the JS sums only (tests, and runtimes without a MatMul). */
export const createCpuAccumulator = cpuAccumulator();

/** accumulateGram's sums as Aᵀ(w ⊙ A) over the tokens of non-zero weight, kept exactly symmetric as the reference keeps it. */
export async function accumulateGramProduct(gram: Float64Array, channels: number, activations: Float32Array, weights: Float32Array, matmul: MatMul): Promise<void> {
  const tokens: number[] = [];
  for (let t = 0; t < weights.length; t++) if (weights[t] !== 0) tokens.push(t);
  const n = tokens.length;
  if (n === 0) return;
  const at = new Float64Array(channels * n);
  const wa = new Float64Array(n * channels);
  tokens.forEach((t, k) => {
    const w = weights[t]!;
    for (let c = 0; c < channels; c++) {
      const v = activations[t * channels + c]!;
      at[c * n + k] = v;
      wa[k * channels + c] = w * v;
    }
  });
  const product = await matmul(at, wa, channels, n, channels);
  for (let i = 0; i < channels; i++) {
    const row = i * channels;
    for (let j = i; j < channels; j++) gram[row + j] += product[row + j]!;
    for (let j = 0; j < i; j++) gram[row + j] = gram[j * channels + i]!;
  }
}
