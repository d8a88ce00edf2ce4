/**
 * CPU reference of shaders/channel_stats.wgsl, in float64. Also the accumulator of the
 * no-WebGPU path (WASM in the browser, onnxruntime-node in Node).
 */

import type { ChannelStats } from '../../../core/stats';

/**
 * Adds activations [tokens, channels] (row-major; tokens = weights.length) with one weight per token.
 * Tokens with weight 0 are skipped, so padding may hold anything.
 */
export function accumulateChannelStats(stats: ChannelStats, activations: ArrayLike<number>, weights: ArrayLike<number>): void {
  const channels = stats.sum.length;
  if (activations.length < weights.length * channels) {
    throw new RangeError(`${activations.length} activations cannot hold ${weights.length} tokens x ${channels} channels`);
  }
  const { sumSq, sum, sumAbs } = stats;
  for (let t = 0; t < weights.length; t++) {
    const w = weights[t];
    if (w === 0) continue;
    stats.weight += w;
    const row = t * channels;
    for (let c = 0; c < channels; c++) {
      const a = activations[row + c];
      const wa = w * a;
      sumSq[c] += wa * a;
      sum[c] += wa;
      sumAbs[c] += w * Math.abs(a);
    }
  }
}
