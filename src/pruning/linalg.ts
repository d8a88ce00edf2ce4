/**
 * Dense linear algebra for the pruning maths: row-major Float64 matrices of a few thousand rows at most
 * (one layer's FFN width). Loops walk rows contiguously, which is what makes them fast enough in JS; the
 * O(n³) work of large matrices goes to a MatMul backend (spdInverseBlocked), since JS loops reach about
 * 1 GFLOP/s and onnxruntime's MatMul 10–70.
 */
import type { MatMul } from '../core/matmul';

/** Lower Cholesky factor L (row-major n×n, zeros above the diagonal) of a symmetric positive-definite matrix. */
export function cholesky(a: ArrayLike<number>, n: number): Float64Array {
  checkSquare(a, n);
  const l = new Float64Array(n * n);
  for (let i = 0; i < n; i++) {
    const rowI = i * n;
    for (let j = 0; j <= i; j++) {
      const rowJ = j * n;
      let s = a[rowI + j];
      for (let k = 0; k < j; k++) s -= l[rowI + k] * l[rowJ + k];
      if (i === j) {
        if (!(s > 0)) throw new RangeError(`matrix is not positive definite (pivot ${j} is ${s})`);
        l[rowI + i] = Math.sqrt(s);
      } else {
        l[rowI + j] = s / l[rowJ + j];
      }
    }
  }
  return l;
}

/** Inverse of a symmetric positive-definite matrix: A⁻¹ = L⁻ᵀ L⁻¹ from its Cholesky factor. */
export function spdInverse(a: ArrayLike<number>, n: number): Float64Array {
  const l = cholesky(a, n);
  // Row i of L⁻¹ = (e_i − Σ_{k<i} L[i,k] · row k of L⁻¹) / L[i,i]: row-wise axpys keep memory access contiguous.
  const linv = new Float64Array(n * n);
  for (let i = 0; i < n; i++) {
    const rowI = i * n;
    for (let k = 0; k < i; k++) {
      const f = l[rowI + k];
      if (f === 0) continue;
      const rowK = k * n;
      for (let j = 0; j <= k; j++) linv[rowI + j] -= f * linv[rowK + j];
    }
    const d = l[rowI + i];
    for (let j = 0; j < i; j++) linv[rowI + j] /= d;
    linv[rowI + i] = 1 / d;
  }
  // A⁻¹ = Σ_k outer(row k of L⁻¹, itself): accumulate the lower triangle, then mirror it.
  const inv = new Float64Array(n * n);
  for (let k = 0; k < n; k++) {
    const rowK = k * n;
    for (let i = 0; i <= k; i++) {
      const f = linv[rowK + i];
      if (f === 0) continue;
      const rowI = i * n;
      for (let j = 0; j <= i; j++) inv[rowI + j] += f * linv[rowK + j];
    }
  }
  for (let i = 0; i < n; i++) for (let j = 0; j < i; j++) inv[j * n + i] = inv[i * n + j];
  return inv;
}

/**
 * Removes index j from the inverse of an SPD matrix in place: for the remaining rows and columns,
 * (M without row/column j)⁻¹ = A − A[:,j] A[j,:] / A[j,j] (Schur complement), so no re-inversion is needed.
 * Only rows listed in `rows` are updated (and read); columns are updated across the full row, since
 * entries of removed indices are never read again.
 */
export function removeFromInverse(inv: Float64Array, n: number, j: number, rows: ArrayLike<number>): void {
  const rowJ = j * n;
  const pivot = inv[rowJ + j];
  for (let r = 0; r < rows.length; r++) {
    const i = rows[r];
    if (i === j) continue;
    const f = inv[i * n + j] / pivot;
    if (f === 0) continue;
    const rowI = i * n;
    for (let k = 0; k < n; k++) inv[rowI + k] -= f * inv[rowJ + k];
  }
}

export function transpose(a: ArrayLike<number>, rows: number, cols: number): Float64Array {
  const out = new Float64Array(rows * cols);
  for (let i = 0; i < rows; i++) for (let j = 0; j < cols; j++) out[j * rows + i] = a[i * cols + j];
  return out;
}

/** Rows r0..r1 and columns c0..c1 of an n-column matrix, as a new matrix. */
function block(a: ArrayLike<number>, n: number, r0: number, r1: number, c0: number, c1: number): Float64Array {
  const w = c1 - c0;
  const out = new Float64Array((r1 - r0) * w);
  for (let i = r0; i < r1; i++) for (let j = 0; j < w; j++) out[(i - r0) * w + j] = a[i * n + c0 + j];
  return out;
}

/** Below this size the JS inverse is faster than the round trips to the backend. */
const BLOCKED_LEAF = 192;

/**
 * Inverse of a symmetric positive-definite matrix by 2×2 blocks, M = [[A, B], [Bᵀ, D]]: with X = A⁻¹B and
 * the Schur complement S = D − BᵀX (SPD too), M⁻¹ = [[A⁻¹ + X S⁻¹ Xᵀ, −X S⁻¹], [−(X S⁻¹)ᵀ, S⁻¹]], A⁻¹ and S⁻¹
 * recursively. About 2n³/3 multiply-adds, all in four products per level, which `mm` runs; small blocks use
 * spdInverse. The result is exactly symmetric.
 */
export async function spdInverseBlocked(a: ArrayLike<number>, n: number, mm: MatMul, leaf = BLOCKED_LEAF): Promise<Float64Array> {
  checkSquare(a, n);
  if (n <= leaf) return spdInverse(a, n);
  const h = n >> 1;
  const m = n - h;
  const ai = await spdInverseBlocked(block(a, n, 0, h, 0, h), h, mm, leaf);
  const b = block(a, n, 0, h, h, n);
  const x = await mm(ai, b, h, h, m);
  const btx = await mm(transpose(b, h, m), x, m, h, m);
  const s = block(a, n, h, n, h, n);
  for (let i = 0; i < m; i++) for (let j = 0; j < m; j++) s[i * m + j] -= 0.5 * (btx[i * m + j] + btx[j * m + i]);
  const si = await spdInverseBlocked(s, m, mm, leaf);
  const y = await mm(x, si, h, m, m);
  const yxt = await mm(y, transpose(x, h, m), h, m, h);
  const out = new Float64Array(n * n);
  for (let i = 0; i < h; i++) {
    for (let j = 0; j <= i; j++) out[i * n + j] = out[j * n + i] = ai[i * h + j] + 0.5 * (yxt[i * h + j] + yxt[j * h + i]);
    for (let j = 0; j < m; j++) out[i * n + h + j] = out[(h + j) * n + i] = -y[i * m + j];
  }
  for (let i = 0; i < m; i++) for (let j = 0; j < m; j++) out[(h + i) * n + h + j] = si[i * m + j];
  return out;
}

function checkSquare(a: ArrayLike<number>, n: number): void {
  if (a.length !== n * n) throw new RangeError(`expected a ${n}×${n} matrix, got ${a.length} values`);
}
