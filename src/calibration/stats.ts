/** Per-layer calibration statistics: what the engine returns, checkpoints carry and the CLI writes. */
import { emptyChannelStats, type ChannelStats } from '../gpu/reference/channel-stats';
import { channelStatsError, gramError } from '../gpu/reference/errors';

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

/**
 * Largest relative error of `actual` against `expected` over every layer, Gram matrices included (see
 * gpu/reference/errors.ts); Infinity when one has a Gram matrix the other lacks.
 */
export function calibrationStatsError(actual: CalibrationStats, expected: CalibrationStats): number {
  if (actual.layers.length !== expected.layers.length) return Infinity;
  let worst = 0;
  expected.layers.forEach((layer, l) => {
    const other = actual.layers[l]!;
    worst = Math.max(worst, channelStatsError(other, layer));
    if (layer.gram && other.gram) worst = Math.max(worst, gramError(other.gram, layer.gram, layer.sum.length));
    else if (layer.gram || other.gram) worst = Infinity;
  });
  return worst;
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
