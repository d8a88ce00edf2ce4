/**
 * C = A·B for row-major float64 matrices (A m×k, B k×n): the one dense product the pruning maths hand to a
 * fast backend (onnxruntime's float64 MatMul where the build has one, src/model/ort-matmul.ts) for their
 * O(C³) parts. Async, because onnxruntime runs are. The inputs are read, never kept or changed.
 */
export type MatMul = (a: Float64Array, b: Float64Array, m: number, k: number, n: number) => Promise<Float64Array>;

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

/** `matmul` as a MatMul: the reference backend, and the one where no onnxruntime MatMul runs float64. */
export const cpuMatMul: MatMul = async (a, b, m, k, n) => matmul(a, b, m, k, n);
