/**
 * reconstructLayer (reconstruct.ts) at the speed large FFNs need, and for every kept count at once.
 *
 * The greedy OBS removal order does not depend on the target count: removing down to k channels is a prefix
 * of removing down to k' < k. So one pass over a layer serves every count the plan search tries, and the pass
 * keeps, per removal t, the factors u_t = A_t[:, j_t] / √p_t and v_t = W'_t[j_t] / √p_t (A_t the inverse
 * after t − 1 removals, p_t its pivot, W'_t the compensated rows). They give, for any prefix of t removals,
 *     A_t = A₀ − Σ_{s<t} u_s u_sᵀ   and   W'_K = W_K − Σ_{s<t} u_s[K] v_s,
 * i.e. the refit of reconstructLayer in one product (U_K V, on the MatMul backend) instead of a re-solve.
 *
 * Cost per layer of width C with R removals, hidden size H: the inverse (2C³/3 on the backend), then per
 * removal O(C·b + K·H) in JS — A's columns are formed lazily from the last b factors, and every b removals
 * A₀ absorbs them in one C×b×C product — instead of reconstructLayer's O(K·C + K·H) per removal in JS.
 * The same maths as reconstructLayer step by step (its tests compare the two); only rounding differs.
 */
import { cpuMatMul, type MatMul } from '../core/matmul';
import { spdInverseBlocked, transpose } from './linalg';
import { dampedGram, DEFAULT_DAMPING, type ReconstructOptions, type ReconstructResult } from './reconstruct';

export interface PathOptions extends ReconstructOptions {
  /** Runs the O(C³) products (default: the JS reference, cpuMatMul). */
  matmul?: MatMul;
}

/**
 * Removals between two folds of the pending factors into A₀. A lazy column costs C·b multiply-adds in JS, a
 * fold a few passes over A₀'s C² entries: b ≈ √(8C) balances the two (32 at C = 128, 197 at C = 4864).
 */
const foldEvery = (c: number) => Math.max(32, Math.round(Math.sqrt(8 * c)));

interface Path {
  /** Removed channels in order, and the saliency each had when removed. */
  order: number[];
  errors: number[];
  /** u_t (length C) and v_t (length H) of each removal. */
  u: Float64Array[];
  v: Float64Array[];
  saliency: Float64Array;
}

/** One layer's reconstruction (Gram, dense down_proj, damping) for any kept count; the path is computed on demand. */
export class LayerReconstructor {
  private readonly c: number;
  private path?: Promise<Path>;

  /**
   * `gram` makes the layer's Gram when a pass needs it: held solvers (the plan search's, the studio's
   * previews) then keep only their paths, not a C×C matrix per layer.
   */
  constructor(
    private readonly gram: () => ArrayLike<number>,
    private readonly down: Float32Array,
    private readonly hidden: number,
    private readonly options: PathOptions = {},
  ) {
    this.c = down.length / hidden;
    if (!Number.isInteger(this.c)) throw new RangeError(`down_proj has ${down.length} values, not a multiple of hidden size ${hidden}`);
  }

  /** OBS saliency ‖W_j‖² / (G+λI)⁻¹_jj of every channel before any removal (as obsSaliency). */
  async saliency(): Promise<Float64Array> {
    return (await this.removals(0)).saliency;
  }

  /** reconstructLayer(gram, down, hidden, keepCount, options), from the shared removal path. */
  async solve(keepCount: number): Promise<ReconstructResult> {
    const c = this.c;
    if (!Number.isInteger(keepCount) || keepCount < 1 || keepCount > c) throw new RangeError(`keepCount must be an integer in [1, ${c}], got ${keepCount}`);
    const t = c - keepCount;
    const path = await this.removals(t);
    const removed = path.order.slice(0, t);
    const gone = new Uint8Array(c);
    for (const j of removed) gone[j] = 1;
    const keep: number[] = [];
    for (let i = 0; i < c; i++) if (!gone[i]) keep.push(i);
    return { keep, down: await this.refit(path, keep, t), removed, removalError: Float64Array.from(path.errors.slice(0, t)), saliency: path.saliency };
  }

  /** A path of at least t removals: the one held, or a longer one computed afresh (the same prefix, as the pass is deterministic). */
  private async removals(t: number): Promise<Path> {
    const held = this.path && (await this.path);
    if (held && held.order.length >= t) return held;
    // Some slack, so the plan search's next slightly smaller count does not start a pass again.
    const target = Math.min(this.c - 1, t === 0 ? 0 : t + Math.ceil(this.c / 16));
    const path = this.compute(Math.max(target, t));
    this.path = path;
    // A failed pass (a bad Gram, say) is not kept: the next call tries again.
    path.catch(() => {
      if (this.path === path) this.path = undefined;
    });
    return path;
  }

  private async compute(removals: number): Promise<Path> {
    const { c, hidden } = this;
    const mm = this.options.matmul ?? cpuMatMul;
    const { g } = dampedGram(this.gram(), this.down, hidden, this.options.damping ?? DEFAULT_DAMPING);
    const a = await spdInverseBlocked(g, c, mm);
    const w = Float64Array.from(this.down);
    const norms = new Float64Array(c);
    const diag = new Float64Array(c);
    for (let i = 0; i < c; i++) {
      let s = 0;
      for (let k = i * hidden; k < (i + 1) * hidden; k++) s += w[k]! * w[k]!;
      norms[i] = s;
      diag[i] = a[i * c + i]!;
    }
    const saliency = norms.map((n, j) => n / diag[j]!);
    const path: Path = { order: [], errors: [], u: [], v: [], saliency };
    const gone = new Uint8Array(c);
    let folded = 0;
    const fold = foldEvery(c);
    const col = new Float64Array(c);
    for (let step = 0; step < removals; step++) {
      let j = -1;
      let best = Infinity;
      for (let i = 0; i < c; i++) {
        if (gone[i]) continue;
        const s = norms[i]! / diag[i]!;
        if (s < best) [best, j] = [s, i];
      }
      // Column j of the current inverse: A₀ (symmetric, so its row j) less the factors not folded in yet.
      col.set(a.subarray(j * c, (j + 1) * c));
      for (let s = folded; s < step; s++) {
        const u = path.u[s]!;
        const f = u[j]!;
        if (f !== 0) for (let i = 0; i < c; i++) col[i] -= f * u[i]!;
      }
      const pivot = col[j]!;
      const root = Math.sqrt(pivot);
      const u = new Float64Array(c);
      for (let i = 0; i < c; i++) u[i] = col[i]! / root;
      const v = new Float64Array(hidden);
      for (let k = 0; k < hidden; k++) v[k] = w[j * hidden + k]! / root;
      gone[j] = 1;
      path.order.push(j);
      path.errors.push(best);
      path.u.push(u);
      path.v.push(v);
      // OBS compensation of the remaining rows (W'_i −= u_i v), fused with their new squared norms.
      for (let i = 0; i < c; i++) {
        if (gone[i]) continue;
        const f = u[i]!;
        diag[i] -= f * f;
        if (f === 0) continue;
        const row = i * hidden;
        let s = 0;
        for (let k = 0; k < hidden; k++) {
          const x = (w[row + k] -= f * v[k]!);
          s += x * x;
        }
        norms[i] = s;
      }
      if (step + 1 - folded === fold && step + 1 < removals) {
        await foldInto(a, c, path.u.slice(folded, step + 1), mm);
        folded = step + 1;
      }
    }
    return path;
  }

  /** W'_K = W_K − U[K, :t] V[:t], the closed-form refit on the first t removals. */
  private async refit(path: Path, keep: number[], t: number): Promise<Float32Array> {
    const { hidden } = this;
    const k = keep.length;
    const out = new Float32Array(k * hidden);
    for (let r = 0; r < k; r++) out.set(this.down.subarray(keep[r]! * hidden, (keep[r]! + 1) * hidden), r * hidden);
    if (t === 0) return out;
    const uk = new Float64Array(k * t);
    for (let r = 0; r < k; r++) for (let s = 0; s < t; s++) uk[r * t + s] = path.u[s]![keep[r]!]!;
    const v = new Float64Array(t * hidden);
    for (let s = 0; s < t; s++) v.set(path.v[s]!, s * hidden);
    const correction = await (this.options.matmul ?? cpuMatMul)(uk, v, k, t, hidden);
    for (let i = 0; i < out.length; i++) out[i] = out[i]! - correction[i]!;
    return out;
  }
}

/** A₀ −= Σ u uᵀ over the given factors, as one product on the backend. */
async function foldInto(a: Float64Array, c: number, us: Float64Array[], mm: MatMul): Promise<void> {
  const b = us.length;
  const rows = new Float64Array(b * c);
  us.forEach((u, s) => rows.set(u, s * c));
  const product = await mm(transpose(rows, b, c), rows, c, b, c);
  for (let i = 0; i < a.length; i++) a[i] -= product[i]!;
}
