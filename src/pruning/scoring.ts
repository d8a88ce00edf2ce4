/**
 * Per-channel importance scores of one layer's FFN, each a pure function of calibration statistics and
 * weights. Higher = more important (kept first). Weights use the ONNX [in, out] layout: down_proj is
 * [C, H] (row j holds channel j's output weights, the "column" j of PyTorch's [H, C] weight), gate/up
 * are [H, C].
 */
import type { LayerStats } from '../core/stats';
import { createRng } from '../model/sampling';

/** The part of the calibration engine's per-layer statistics that activation scores read. */
export type ActivationStats = Pick<LayerStats, 'sumSq' | 'sum' | 'weight'>;

/** One layer's FFN weights (ONNX [in, out] layout, float32). */
export interface LayerWeights {
  /** down_proj [C, H]. */
  down: Float32Array;
  /** gate_proj [H, C]. */
  gate?: Float32Array;
  /** up_proj [H, C]. */
  up?: Float32Array;
}

/** Channel count of a [C, H] down_proj. */
function channelCount(down: Float32Array, hidden: number): number {
  const c = down.length / hidden;
  if (!Number.isInteger(c) || c < 1) throw new RangeError(`down_proj has ${down.length} values, not a multiple of hidden size ${hidden}`);
  return c;
}

function checkStats(stats: ActivationStats, c: number): void {
  if (stats.sumSq.length !== c || stats.sum.length !== c) {
    throw new RangeError(`statistics cover ${stats.sumSq.length} channels, down_proj has ${c}`);
  }
  if (!(stats.weight > 0)) throw new Error(`statistics have no token weight (weight ${stats.weight}): no calibration token counted`);
}

/** Σ_k W[j,k]² for each row j of a [C, H] matrix. */
function downRowNormSq(down: Float32Array, c: number, hidden: number): Float64Array {
  const out = new Float64Array(c);
  for (let j = 0; j < c; j++) {
    let s = 0;
    for (let k = 0; k < hidden; k++) s += down[j * hidden + k] ** 2;
    out[j] = s;
  }
  return out;
}

/** Norm of column j of an [H, C] matrix (gate/up output channel j). */
function columnNorms(m: Float32Array, hidden: number, c: number): Float64Array {
  if (m.length !== hidden * c) throw new RangeError(`gate/up has ${m.length} values, expected ${hidden}×${c}`);
  const out = new Float64Array(c);
  for (let k = 0; k < hidden; k++) for (let j = 0; j < c; j++) out[j] += m[k * c + j] ** 2;
  return out.map(Math.sqrt);
}

/**
 * Persona-weighted activation score: E_w[a_j²] · ‖W_down[j,:]‖², the expected squared size of channel j's
 * contribution to the layer output over the (persona-voiced answer) tokens.
 */
export function activationScores(stats: ActivationStats, down: Float32Array, hidden: number): Float64Array {
  const c = channelCount(down, hidden);
  checkStats(stats, c);
  const norms = downRowNormSq(down, c, hidden);
  return norms.map((n, j) => (stats.sumSq[j] / stats.weight) * n);
}

/** Wanda-sp: mean_k |W_down[j,k]| · ‖X_j‖₂ with ‖X_j‖₂ = sqrt(Σ w·a_j²). */
export function wandaSpScores(stats: ActivationStats, down: Float32Array, hidden: number): Float64Array {
  const c = channelCount(down, hidden);
  checkStats(stats, c);
  const out = new Float64Array(c);
  for (let j = 0; j < c; j++) {
    let s = 0;
    for (let k = 0; k < hidden; k++) s += Math.abs(down[j * hidden + k]);
    out[j] = (s / hidden) * Math.sqrt(stats.sumSq[j]);
  }
  return out;
}

/**
 * Wanda's per-weight metric on down_proj, |W_down[j,k]| · ‖X_j‖₂ for every element ([C, H] row-major);
 * without statistics, |W_down[j,k]|. OWL counts the outliers among these.
 */
export function wandaElementScores(stats: ActivationStats | undefined, down: Float32Array, hidden: number): Float64Array {
  const c = channelCount(down, hidden);
  if (stats) checkStats(stats, c);
  const out = new Float64Array(down.length);
  for (let j = 0; j < c; j++) {
    const norm = stats ? Math.sqrt(stats.sumSq[j]) : 1;
    for (let k = 0; k < hidden; k++) out[j * hidden + k] = Math.abs(down[j * hidden + k]) * norm;
  }
  return out;
}

/** Weighted mean activation of each channel, Σ w·a / Σ w (FLAP's bias compensation uses it). */
export function channelMeans(stats: ActivationStats): Float64Array {
  if (!(stats.weight > 0)) throw new Error(`statistics have no token weight (weight ${stats.weight})`);
  return Float64Array.from(stats.sum, (s) => s / stats.weight);
}

/**
 * FLAP's weighted input feature variance: Var(X_j) · Σ_k W_down[j,k]², with the weighted population
 * variance Σw·a²/Σw − (Σw·a/Σw)². The mean part is what bias compensation restores, so only the
 * fluctuation counts as lost.
 */
export function flapScores(stats: ActivationStats, down: Float32Array, hidden: number): Float64Array {
  const c = channelCount(down, hidden);
  checkStats(stats, c);
  const norms = downRowNormSq(down, c, hidden);
  const means = channelMeans(stats);
  // Rounding can make a tiny variance negative; a channel cannot fluctuate less than not at all.
  return norms.map((n, j) => Math.max(0, stats.sumSq[j] / stats.weight - means[j] ** 2) * n);
}

/**
 * Magnitude (weights only): ‖W_gate[:,j]‖ · ‖W_up[:,j]‖ · ‖W_down[j,:]‖, the norms of everything channel j
 * reads and writes; gate/up factors are left out when those weights are not given.
 */
export function magnitudeScores(weights: LayerWeights, hidden: number): Float64Array {
  const c = channelCount(weights.down, hidden);
  const out = downRowNormSq(weights.down, c, hidden).map(Math.sqrt);
  for (const m of [weights.gate, weights.up]) {
    if (!m) continue;
    const norms = columnNorms(m, hidden, c);
    for (let j = 0; j < c; j++) out[j] *= norms[j];
  }
  return out;
}

/** Uniform random scores in [0, 1), reproducible from (seed, layer). */
export function randomScores(channels: number, seed: number, layer: number): Float64Array {
  const rng = createRng((seed ^ Math.imul(layer + 1, 0x9e3779b1)) >>> 0);
  return Float64Array.from({ length: channels }, rng);
}
