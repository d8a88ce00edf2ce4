/**
 * CPU reference of shaders/accumulate_channel_stats.wgsl, in float64. Also the accumulator of the
 * no-WebGPU path (WASM in the browser, onnxruntime-node in Node).
 */

/** Weighted per-channel sums over the tokens seen so far. */
export interface ChannelStats {
  /** Σ w·a² per channel. */
  sumSq: Float64Array;
  /** Σ w·a per channel. */
  sum: Float64Array;
  /** Σ w·|a| per channel. */
  sumAbs: Float64Array;
  /** Σ w over the tokens (the same for every channel). */
  weight: number;
}

export function emptyChannelStats(channels: number): ChannelStats {
  return { sumSq: new Float64Array(channels), sum: new Float64Array(channels), sumAbs: new Float64Array(channels), weight: 0 };
}

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
