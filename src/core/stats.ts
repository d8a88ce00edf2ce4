/**
 * The calibration data every layer shares: the samples that run through a model and the per-layer
 * statistics the engine returns, checkpoints carry, scoring reads and the CLI writes.
 */

export interface CalibrationSample {
  ids: number[];
  /** One weight per token: sample weight x mask (e.g. 0 on the prompt, the sample's weight on the response). */
  weights: Float32Array;
}

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

/** Weighted statistics of one layer's down_proj input (one value per FFN channel). */
export interface LayerStats extends ChannelStats {
  /** Σ w·a·aᵀ (channels x channels, row-major), when asked for: f32 from the GPU, f64 from the CPU. */
  gram?: Float64Array | Float32Array;
}

export interface CalibrationStats {
  /** In layer order. */
  layers: LayerStats[];
  /** Tokens run through the model (padding excluded, weight-0 tokens included). */
  tokens: number;
  /** Samples run through the model. */
  samples: number;
}

export function emptyCalibrationStats(channels: readonly number[]): CalibrationStats {
  return { layers: channels.map((c) => emptyChannelStats(c)), tokens: 0, samples: 0 };
}

/** Plain JSON form: typed arrays as number arrays (float64 values survive JSON exactly). */
export interface CalibrationStatsJson {
  layers: { sumSq: number[]; sum: number[]; sumAbs: number[]; weight: number; gram?: number[] }[];
  tokens: number;
  samples: number;
}

export function statsToJson(stats: CalibrationStats): CalibrationStatsJson {
  return {
    layers: stats.layers.map((l) => ({
      sumSq: Array.from(l.sumSq),
      sum: Array.from(l.sum),
      sumAbs: Array.from(l.sumAbs),
      weight: l.weight,
      ...(l.gram ? { gram: Array.from(l.gram) } : {}),
    })),
    tokens: stats.tokens,
    samples: stats.samples,
  };
}

export function statsFromJson(json: CalibrationStatsJson): CalibrationStats {
  const numbers = (value: unknown, what: string): Float64Array => {
    if (!Array.isArray(value) || !value.every((v) => typeof v === 'number')) throw new Error(`calibration statistics: ${what} is not a list of numbers`);
    return Float64Array.from(value);
  };
  if (!json || !Array.isArray(json.layers)) throw new Error('calibration statistics: "layers" is missing');
  return {
    layers: json.layers.map((l, i) => {
      const layer: LayerStats = {
        sumSq: numbers(l.sumSq, `layer ${i} sumSq`),
        sum: numbers(l.sum, `layer ${i} sum`),
        sumAbs: numbers(l.sumAbs, `layer ${i} sumAbs`),
        weight: Number(l.weight),
      };
      if (layer.sumSq.length !== layer.sum.length || layer.sumAbs.length !== layer.sum.length) throw new Error(`calibration statistics: layer ${i} has sums of different lengths`);
      if (l.gram) layer.gram = numbers(l.gram, `layer ${i} gram`);
      return layer;
    }),
    tokens: Number(json.tokens),
    samples: Number(json.samples),
  };
}
