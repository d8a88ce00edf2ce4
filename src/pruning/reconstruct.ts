/**
 * Layer-wise reconstruction: greedy structured OBS removal of FFN channels on the weighted Gram matrix of
 * the down_proj input, then a least-squares refit of down_proj on the kept channels.
 *
 * Notation: X [tokens, C] is the down_proj input (token weights folded in), W [C, H] the down_proj weight
 * in the ONNX [in, out] layout, G = Xᵀ diag(w) X. Keeping the channel set K and choosing new rows W'
 * minimises the damped objective
 *     E(W') = ‖X W − X_K W'‖² + λ‖W' − W_K‖²  =  tr((W̃' − W)ᵀ (G + λI) (W̃' − W)),   W̃' = W' padded with zero rows,
 * whose minimiser is W' = (G+λI)_KK⁻¹ (G+λI)_{K,all} W = (G_KK + λI)⁻¹ (G_{K,all} W + λ W_K):
 * the normal equations of the plain least squares ‖XW − X_K W'‖² (G_KK W' = G_{K,all} W), damped towards
 * the original weights rather than towards zero. Removing one more channel j from K costs exactly
 * ‖W'_j‖² / A_jj with A = (G+λI)_KK⁻¹ (the OBS saliency); the compensated rows are
 * W'_K ← W'_K − A[:,j] W'_j / A_jj, and A loses j by a rank-1 downdate.
 */
import type { LayerStats } from '../core/stats';
import { removeFromInverse, spdInverse } from './linalg';

/** Σ w·a·aᵀ (C×C row-major) and Σ w of one layer's calibration statistics. */
export type GramStats = Pick<LayerStats, 'gram' | 'weight'>;

export interface ReconstructOptions {
  /** λ as a fraction of the mean diagonal of G (default 0.01): keeps G invertible when channels are dead or collinear. */
  damping?: number;
}

export interface ReconstructResult {
  /** Kept channels, ascending. */
  keep: number[];
  /** Refit down_proj rows for the kept channels, [keep.length, hidden] row-major, in `keep` order. */
  down: Float32Array;
  /** Removed channels in removal order. */
  removed: number[];
  /** Increase of the damped reconstruction error caused by each removal, in `removed` order. */
  removalError: Float64Array;
  /** OBS saliency ‖W_j‖² / (G+λI)⁻¹_jj of every channel before any removal. */
  saliency: Float64Array;
}

export const DEFAULT_DAMPING = 0.01;

/**
 * Mean Gram of the persona statistics, plus `alpha` times the mean Gram of generic statistics. Each is
 * divided by its own token weight first, so `alpha` means the same whatever the sizes of the two sets.
 */
export function mixedGram(persona: GramStats, generic?: GramStats, alpha = 0): Float64Array {
  const gram = meanGram(persona, 'persona');
  if (generic && alpha !== 0) {
    const other = meanGram(generic, 'generic');
    if (other.length !== gram.length) throw new RangeError(`generic Gram has ${other.length} entries, persona Gram ${gram.length}`);
    for (let i = 0; i < gram.length; i++) gram[i] += alpha * other[i];
  }
  return gram;
}

function meanGram(stats: GramStats, label: string): Float64Array {
  if (!stats.gram) throw new Error(`the ${label} statistics have no Gram matrix: the reconstruct method needs one (collect it during calibration)`);
  if (!(stats.weight > 0)) throw new Error(`the ${label} statistics have no token weight (weight ${stats.weight})`);
  const out = Float64Array.from(stats.gram);
  for (let i = 0; i < out.length; i++) out[i] /= stats.weight;
  return out;
}

/** G + λ·mean(diag G)·I, and the channel count. */
export function dampedGram(gram: ArrayLike<number>, down: Float32Array, hidden: number, damping: number): { g: Float64Array; c: number } {
  const c = down.length / hidden;
  if (!Number.isInteger(c)) throw new RangeError(`down_proj has ${down.length} values, not a multiple of hidden size ${hidden}`);
  if (gram.length !== c * c) throw new RangeError(`Gram has ${gram.length} entries, expected ${c}×${c}`);
  const g = Float64Array.from(gram);
  let trace = 0;
  for (let i = 0; i < c; i++) trace += g[i * c + i];
  // An all-zero Gram (a layer that never fired) still needs an invertible matrix.
  const lambda = trace > 0 ? (damping * trace) / c : damping || 1;
  for (let i = 0; i < c; i++) g[i * c + i] += lambda;
  return { g, c };
}

function rowNormsSq(w: ArrayLike<number>, rows: number, cols: number): Float64Array {
  const out = new Float64Array(rows);
  for (let i = 0; i < rows; i++) {
    let s = 0;
    for (let k = 0; k < cols; k++) s += w[i * cols + k] ** 2;
    out[i] = s;
  }
  return out;
}

/** One-shot OBS saliency of every channel (no removal): what the greedy pass would rank first. */
export function obsSaliency(gram: ArrayLike<number>, down: Float32Array, hidden: number, options: ReconstructOptions = {}): Float64Array {
  const { g, c } = dampedGram(gram, down, hidden, options.damping ?? DEFAULT_DAMPING);
  const inv = spdInverse(g, c);
  const norms = rowNormsSq(down, c, hidden);
  return norms.map((n, j) => n / inv[j * c + j]);
}

/** Greedy OBS removal down to `keepCount` channels, then the closed-form refit of down_proj on them. */
export function reconstructLayer(
  gram: ArrayLike<number>,
  down: Float32Array,
  hidden: number,
  keepCount: number,
  options: ReconstructOptions = {},
): ReconstructResult {
  const { g, c } = dampedGram(gram, down, hidden, options.damping ?? DEFAULT_DAMPING);
  if (!Number.isInteger(keepCount) || keepCount < 1 || keepCount > c) throw new RangeError(`keepCount must be an integer in [1, ${c}], got ${keepCount}`);
  const inv = spdInverse(g, c);
  const w = Float64Array.from(down);
  const norms = rowNormsSq(w, c, hidden);
  const saliency = norms.map((n, j) => n / inv[j * c + j]);

  let active = Array.from({ length: c }, (_, i) => i);
  const removed: number[] = [];
  const removalError = new Float64Array(c - keepCount);
  const wj = new Float64Array(hidden);
  for (let step = 0; step < c - keepCount; step++) {
    let j = -1;
    let best = Infinity;
    for (const i of active) {
      const s = norms[i] / inv[i * c + i];
      if (s < best) [best, j] = [s, i];
    }
    removalError[step] = best;
    removed.push(j);
    active = active.filter((i) => i !== j);

    // OBS compensation of the remaining rows, fused with their new squared norms.
    const pivot = inv[j * c + j];
    wj.set(w.subarray(j * hidden, (j + 1) * hidden));
    for (const i of active) {
      const f = inv[i * c + j] / pivot;
      const row = i * hidden;
      let s = 0;
      for (let k = 0; k < hidden; k++) {
        const v = (w[row + k] -= f * wj[k]);
        s += v * v;
      }
      norms[i] = s;
    }
    removeFromInverse(inv, c, j, active);
  }
  return { keep: active, down: refit(g, inv, down, hidden, active, removed), removed, removalError, saliency };
}

/**
 * The refit in closed form from the original weights (the OBS-tracked rows equal it in exact arithmetic but
 * accumulate rounding over many steps): with M = G + λI and A = M_KK⁻¹ (the downdated inverse),
 * W' = A M_{K,all} W = W_K + A M_KR W_R, which costs K·R·H + K²·H instead of K·C·H + K²·H.
 */
function refit(m: Float64Array, inv: Float64Array, down: Float32Array, hidden: number, keep: number[], removed: number[]): Float32Array {
  const c = down.length / hidden;
  const k = keep.length;
  const out = new Float32Array(k * hidden);
  for (let r = 0; r < k; r++) out.set(down.subarray(keep[r] * hidden, (keep[r] + 1) * hidden), r * hidden);
  if (removed.length === 0) return out;

  const rhs = new Float64Array(k * hidden);
  for (let r = 0; r < k; r++) {
    const row = keep[r] * c;
    const base = r * hidden;
    for (const p of removed) {
      const f = m[row + p];
      if (f === 0) continue;
      const src = p * hidden;
      for (let q = 0; q < hidden; q++) rhs[base + q] += f * down[src + q];
    }
  }
  const acc = new Float64Array(hidden);
  for (let r = 0; r < k; r++) {
    const row = keep[r] * c;
    for (let q = 0; q < hidden; q++) acc[q] = out[r * hidden + q];
    for (let s = 0; s < k; s++) {
      const f = inv[row + keep[s]];
      const base = s * hidden;
      for (let q = 0; q < hidden; q++) acc[q] += f * rhs[base + q];
    }
    out.set(acc, r * hidden);
  }
  return out;
}
