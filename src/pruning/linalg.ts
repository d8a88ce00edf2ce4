/**
 * Dense linear algebra for the pruning maths: row-major Float64 matrices of a few thousand rows at most
 * (one layer's FFN width). Loops walk rows contiguously, which is what makes them fast enough in JS.
 */

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

/** C = A·B with A m×k and B k×n, row-major. */
export function matmul(a: ArrayLike<number>, b: ArrayLike<number>, m: number, k: number, n: number): Float64Array {
  if (a.length !== m * k || b.length !== k * n) throw new RangeError(`matmul: ${a.length} and ${b.length} do not fit ${m}×${k} · ${k}×${n}`);
  const c = new Float64Array(m * n);
  for (let i = 0; i < m; i++) {
    const rowC = i * n;
    for (let p = 0; p < k; p++) {
      const f = a[i * k + p];
      if (f === 0) continue;
      const rowB = p * n;
      for (let j = 0; j < n; j++) c[rowC + j] += f * b[rowB + j];
    }
  }
  return c;
}

function checkSquare(a: ArrayLike<number>, n: number): void {
  if (a.length !== n * n) throw new RangeError(`expected a ${n}×${n} matrix, got ${a.length} values`);
}
