/**
 * A float64 MatMul session of onnxruntime as the pruning maths' MatMul (src/core/matmul.ts): in Node about
 * 50× the speed of the JS loop (MLAS DGEMM, 70 GFLOP/s on 2 cores against ~1.4). onnxruntime-web's WebGPU
 * bundle, which the studio loads, has no float64 MatMul kernel: there the JS product serves instead. One
 * session serves every shape (its dims are symbolic).
 */
import type { InferenceSession, Tensor } from 'onnxruntime-common';
import { cpuMatMul, type MatMul } from '../core/matmul';
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

/** A build without the kernel refuses the session with this (onnxruntime's "no kernel for this type" error). */
const NO_KERNEL = /Could not find an implementation for MatMul/;

export function ortMatMul(ort: OrtMatMulModule, options: InferenceSession.SessionOptions = {}): MatMul {
  let backend: Promise<MatMul> | undefined;
  return async (a, b, m, k, n) => {
    if (a.length !== m * k || b.length !== k * n) throw new RangeError(`matmul: ${a.length} and ${b.length} do not fit ${m}×${k} · ${k}×${n}`);
    if (m === 0 || n === 0 || k === 0) return new Float64Array(m * n);
    backend ??= ort.InferenceSession.create(matMulGraph(), options).then(
      (session) => (a: Float64Array, b: Float64Array, m: number, k: number, n: number) => run(ort, session, a, b, m, k, n),
      (error: unknown) => {
        if (NO_KERNEL.test(error instanceof Error ? error.message : String(error))) return cpuMatMul;
        backend = undefined;
        throw error;
      },
    );
    return (await backend)(a, b, m, k, n);
  };
}

async function run(ort: OrtMatMulModule, session: InferenceSession, a: Float64Array, b: Float64Array, m: number, k: number, n: number): Promise<Float64Array> {
  const out = await session.run({ a: new ort.Tensor('float64', a, [m, k]), b: new ort.Tensor('float64', b, [k, n]) });
  const c = out.c!;
  // Copy out of onnxruntime's buffer, which the tensor's dispose may free.
  const result = Float64Array.from(c.data as Float64Array);
  c.dispose?.();
  return result;
}
