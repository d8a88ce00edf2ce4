/**
 * How many FFN channels each layer keeps, and which: per-layer channel scores (higher = more important)
 * plus an overall sparsity become a keep-plan.
 */
import type { KeepPlan } from '../core/keep-plan';

export type AllocationKind = 'uniform' | 'global' | 'owl';
export const ALLOCATIONS: readonly AllocationKind[] = ['uniform', 'global', 'owl'];

export interface AllocationOptions {
  /** Fraction of all FFN channels to remove, in [0, 1). */
  sparsity: number;
  /** Fewest channels any layer keeps (default 1; a layer never loses every channel). */
  minKeep?: number;
  /** Round each layer's kept count to a multiple of this (e.g. 32 or 128 for int4 kernels; default 1). */
  multiple?: number;
  /** OWL: per-layer keep ratios spread over a range of width 2λ around 1 − sparsity (default 0.08). */
  owlLambda?: number;
  /** OWL: a score is an outlier when it exceeds this many times its layer's mean (default 5). */
  owlThreshold?: number;
  /** OWL: per layer, the scores (of channels or of weights) among which outliers are counted (default: the ranking scores). */
  outlierScores?: ArrayLike<number>[];
}

const DEFAULT_OWL_LAMBDA = 0.08;
const DEFAULT_OWL_THRESHOLD = 5;

/** Kept count after rounding to `multiple`, raised to at least max(minKeep, 1) and capped at the layer width. */
export function roundKeep(target: number, channels: number, minKeep = 1, multiple = 1): number {
  let k = Math.round(target / multiple) * multiple;
  const floor = Math.max(1, minKeep);
  if (k < floor) k = Math.ceil(floor / multiple) * multiple;
  return Math.min(k, channels);
}

function checkOptions(scores: ArrayLike<number>[], options: AllocationOptions): void {
  if (scores.length === 0) throw new RangeError('no layers to allocate');
  if (!(options.sparsity >= 0 && options.sparsity < 1)) throw new RangeError(`sparsity must be in [0, 1), got ${options.sparsity}`);
  const multiple = options.multiple ?? 1;
  if (!Number.isInteger(multiple) || multiple < 1) throw new RangeError(`multiple must be a positive integer, got ${multiple}`);
  const minKeep = options.minKeep ?? 1;
  if (!Number.isInteger(minKeep) || minKeep < 0) throw new RangeError(`minKeep must be a non-negative integer, got ${minKeep}`);
  scores.forEach((s, l) => {
    if (s.length === 0) throw new RangeError(`layer ${l} has no channels`);
    for (let j = 0; j < s.length; j++) if (Number.isNaN(s[j])) throw new RangeError(`layer ${l} channel ${j} has a NaN score`);
  });
}

/** Standardised scores (z = (s − mean) / std per layer); a constant layer becomes all zeros. */
export function standardise(scores: ArrayLike<number>): Float64Array {
  const n = scores.length;
  let mean = 0;
  for (let j = 0; j < n; j++) mean += scores[j] / n;
  let variance = 0;
  for (let j = 0; j < n; j++) variance += (scores[j] - mean) ** 2 / n;
  const std = Math.sqrt(variance);
  return Float64Array.from(scores, (s) => (std > 0 ? (s - mean) / std : 0));
}

/** Fraction of a layer's channels whose score exceeds `threshold` × the layer's mean score. */
export function outlierRatio(scores: ArrayLike<number>, threshold: number): number {
  let mean = 0;
  for (let j = 0; j < scores.length; j++) mean += scores[j] / scores.length;
  let count = 0;
  for (let j = 0; j < scores.length; j++) if (scores[j] > threshold * mean) count++;
  return count / scores.length;
}

/** Per-layer kept counts before rounding (real numbers for uniform/OWL, integers for global). */
function targetCounts(kind: AllocationKind, scores: ArrayLike<number>[], options: AllocationOptions): number[] {
  const widths = scores.map((s) => s.length);
  const keepRatio = 1 - options.sparsity;
  switch (kind) {
    case 'uniform':
      return widths.map((c) => keepRatio * c);
    case 'global': {
      // FLAP: standardise per layer so layers compare, then keep the best channels of the whole model.
      const all: { z: number; layer: number; j: number }[] = [];
      scores.forEach((s, layer) => standardise(s).forEach((z, j) => all.push({ z, layer, j })));
      all.sort((a, b) => b.z - a.z || a.layer - b.layer || a.j - b.j);
      const counts = widths.map(() => 0);
      const total = Math.round(keepRatio * all.length);
      for (let i = 0; i < total; i++) counts[all[i].layer]++;
      return counts;
    }
    case 'owl': {
      // OWL (Yin et al. 2024): layers with more outliers keep more. Ratios are min-max scaled to [0, 2λ],
      // then shifted so the channel-weighted mean keep ratio is exactly 1 − sparsity.
      const lambda = options.owlLambda ?? DEFAULT_OWL_LAMBDA;
      const threshold = options.owlThreshold ?? DEFAULT_OWL_THRESHOLD;
      const outlierScores = options.outlierScores ?? scores;
      if (outlierScores.length !== scores.length) throw new RangeError(`outlierScores has ${outlierScores.length} layers, scores ${scores.length}`);
      const ratios = outlierScores.map((s) => outlierRatio(s, threshold));
      const lo = Math.min(...ratios);
      const hi = Math.max(...ratios);
      const spread = ratios.map((d) => (hi > lo ? ((d - lo) / (hi - lo)) * 2 * lambda : 0));
      const total = widths.reduce((a, b) => a + b, 0);
      const meanSpread = spread.reduce((acc, x, l) => acc + (x * widths[l]) / total, 0);
      return widths.map((c, l) => Math.min(1, Math.max(0, keepRatio + spread[l] - meanSpread)) * c);
    }
  }
}

/** Kept channel count of every layer. */
export function keepCounts(kind: AllocationKind, scores: ArrayLike<number>[], options: AllocationOptions): number[] {
  checkOptions(scores, options);
  return targetCounts(kind, scores, options).map((t, l) => roundKeep(t, scores[l].length, options.minKeep, options.multiple));
}

/** The `count` highest-scoring channels (ties: lower index first), ascending. */
export function topChannels(scores: ArrayLike<number>, count: number): number[] {
  const order = Array.from({ length: scores.length }, (_, j) => j);
  order.sort((a, b) => scores[b] - scores[a] || a - b);
  return order.slice(0, count).sort((a, b) => a - b);
}

/** Scores → keep-plan: counts by `kind`, then each layer's best channels. */
export function allocate(kind: AllocationKind, scores: ArrayLike<number>[], options: AllocationOptions): KeepPlan {
  const counts = keepCounts(kind, scores, options);
  return { keep: scores.map((s, l) => topChannels(s, counts[l])) };
}
