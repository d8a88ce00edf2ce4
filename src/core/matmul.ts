/**
 * C = A·B for row-major float64 matrices (A m×k, B k×n): the one dense product the pruning maths hand to a
 * fast backend (onnxruntime's MatMul in Node and the browser's WASM, src/model/ort-matmul.ts) for their
 * O(C³) parts. Async, because onnxruntime runs are. The inputs are read, never kept or changed.
 */
export type MatMul = (a: Float64Array, b: Float64Array, m: number, k: number, n: number) => Promise<Float64Array>;
