/**
 * A float64 MatMul session of onnxruntime as the pruning maths' MatMul (src/core/matmul.ts): in Node about
 * 50× the speed of a JS loop (MLAS DGEMM, 70 GFLOP/s on 2 cores against 1.4 for linalg.ts), in the
 * browser's WASM about 8×. One session serves every shape (its dims are symbolic).
 */
import type { InferenceSession, Tensor } from 'onnxruntime-common';
import type { MatMul } from '../core/matmul';
import { makeModel, node, valueInfo } from '../onnx/builders';
import { DataType, encodeMessage, onnxTypes } from '../onnx/proto';

export interface OrtMatMulModule {
  InferenceSession: { create(model: Uint8Array, options?: InferenceSession.SessionOptions): Promise<InferenceSession> };
  Tensor: typeof Tensor;
}

function matMulGraph(): Uint8Array {
  const model = makeModel({
    graph: {
      name: 'matmul_f64',
      node: [node('MatMul', ['a', 'b'], ['c'], 'matmul')],
      input: [valueInfo('a', DataType.DOUBLE, ['m', 'k']), valueInfo('b', DataType.DOUBLE, ['k', 'n'])],
      output: [valueInfo('c', DataType.DOUBLE, ['m', 'n'])],
    },
    opsetImports: [{ domain: '', version: 13 }],
  });
  return encodeMessage(onnxTypes.ModelProto, model);
}

export function ortMatMul(ort: OrtMatMulModule, options: InferenceSession.SessionOptions = {}): MatMul {
  let session: Promise<InferenceSession> | undefined;
  return async (a, b, m, k, n) => {
    if (a.length !== m * k || b.length !== k * n) throw new RangeError(`matmul: ${a.length} and ${b.length} do not fit ${m}×${k} · ${k}×${n}`);
    if (m === 0 || n === 0) return new Float64Array(m * n);
    if (k === 0) return new Float64Array(m * n);
    session ??= ort.InferenceSession.create(matMulGraph(), options);
    const s = await session;
    const out = await s.run({ a: new ort.Tensor('float64', a, [m, k]), b: new ort.Tensor('float64', b, [k, n]) });
    const c = out.c!;
    const data = c.data as Float64Array;
    // Copy out of onnxruntime's buffer, which the tensor's dispose may free.
    const result = Float64Array.from(data);
    c.dispose?.();
    return result;
  };
}
