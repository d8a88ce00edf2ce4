import type { OrtTensor } from './ort';

/** A float tensor's values as float32, downloading them first when they live on the GPU. */
export async function readFloat32(tensor: OrtTensor): Promise<Float32Array> {
  const data = tensor.location === 'cpu' || tensor.location === 'cpu-pinned' ? tensor.data : await tensor.getData();
  if (data instanceof Float32Array) return data;
  if (tensor.type !== 'float16') throw new Error(`Unsupported logits type ${tensor.type}`);
  // Without Float16Array the data holds the raw half-precision bits; with it, values are already numbers.
  const values = data as ArrayLike<number>;
  const convert = data instanceof Uint16Array ? halfToFloat : (v: number) => v;
  return Float32Array.from({ length: values.length }, (_, i) => convert(values[i]));
}

/** The logits of the last position of a [1, seq, vocab] tensor. */
export async function lastPositionLogits(logits: OrtTensor): Promise<Float32Array> {
  const vocab = logits.dims[logits.dims.length - 1];
  const all = await readFloat32(logits);
  return all.slice(all.length - vocab);
}

function halfToFloat(bits: number): number {
  const sign = bits & 0x8000 ? -1 : 1;
  const exponent = (bits >> 10) & 0x1f;
  const fraction = bits & 0x3ff;
  if (exponent === 0) return sign * 2 ** -14 * (fraction / 1024);
  if (exponent === 0x1f) return fraction ? NaN : sign * Infinity;
  return sign * 2 ** (exponent - 15) * (1 + fraction / 1024);
}
