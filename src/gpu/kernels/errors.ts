/**
 * How far a kernel's result is from its float64 reference, each measured against the scale that bounds
 * its rounding error, so one tolerance fits inputs of any magnitude.
 */
import type { CalibrationStats, ChannelStats } from '../../core/stats';

/** diff / scale, with 0 for an exact match and Infinity for NaN or a nonzero diff at scale 0. */
export function relative(diff: number, scale: number): number {
  if (diff === 0) return 0;
  if (Number.isNaN(diff) || !(scale > 0)) return Infinity;
  return diff / scale;
}

/**
 * Largest relative error of `actual` against `expected`: Σw·a², Σw·|a| and Σw element by element; Σw·a
 * against the channel's Σw·|a|, which bounds the rounding error of a sum with cancellation.
 */
export function channelStatsError(actual: ChannelStats, expected: ChannelStats): number {
  if (actual.sum.length !== expected.sum.length) return Infinity;
  let worst = relative(Math.abs(actual.weight - expected.weight), Math.abs(expected.weight));
  for (let c = 0; c < expected.sum.length; c++) {
    worst = Math.max(
      worst,
      relative(Math.abs(actual.sumSq[c] - expected.sumSq[c]), expected.sumSq[c]),
      relative(Math.abs(actual.sumAbs[c] - expected.sumAbs[c]), expected.sumAbs[c]),
      relative(Math.abs(actual.sum[c] - expected.sum[c]), expected.sumAbs[c]),
    );
  }
  return worst;
}

/** Largest |Δ_ij| / sqrt(G_ii G_jj): Cauchy-Schwarz bounds every entry of a Gram matrix by that scale. */
export function gramError(actual: ArrayLike<number>, expected: ArrayLike<number>, channels: number): number {
  if (actual.length !== expected.length) return Infinity;
  let worst = 0;
  for (let i = 0; i < channels; i++) {
    for (let j = 0; j < channels; j++) {
      const k = i * channels + j;
      const scale = Math.sqrt(expected[i * channels + i] * expected[j * channels + j]);
      worst = Math.max(worst, relative(Math.abs(actual[k] - expected[k]), scale));
    }
  }
  return worst;
}

/** Largest |Δ| / max(1, |expected|): absolute near zero, relative for large values. */
export function valueError(actual: ArrayLike<number>, expected: ArrayLike<number>): number {
  if (actual.length !== expected.length) return Infinity;
  let worst = 0;
  for (let i = 0; i < expected.length; i++) {
    worst = Math.max(worst, relative(Math.abs(actual[i] - expected[i]), Math.max(1, Math.abs(expected[i]))));
  }
  return worst;
}

/**
 * Largest relative error of `actual` against `expected` over every layer, Gram matrices included;
 * Infinity when one has a Gram matrix the other lacks.
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
