import { f16ToF32Array } from '../onnx/float16';
import type { OrtTensor } from './ort';

/** A float tensor's values as float32, downloading them first when they live on the GPU. */
export async function readFloat32(tensor: OrtTensor): Promise<Float32Array> {
  const data = tensor.location === 'cpu' || tensor.location === 'cpu-pinned' ? tensor.data : await tensor.getData();
  if (data instanceof Float32Array) return data;
  if (tensor.type !== 'float16') throw new Error(`Unsupported logits type ${tensor.type}`);
  // Without Float16Array the data holds the raw half-precision bits; with it, values are already numbers.
  return data instanceof Uint16Array ? f16ToF32Array(data) : Float32Array.from(data as ArrayLike<number>);
}

/** The logits of the last position of a [1, seq, vocab] tensor. */
export async function lastPositionLogits(logits: OrtTensor): Promise<Float32Array> {
  const vocab = logits.dims[logits.dims.length - 1];
  const all = await readFloat32(logits);
  return all.slice(all.length - vocab);
}
