/**
 * ggml's Q8_0 block quantization (quantize_row_q8_0_ref): blocks of 32 values along a row, each an
 * fp16 scale d = max|x| / 127 followed by 32 int8 q = round(x / d), half away from zero. Pure.
 */
import { f32ToF16Bits } from '../onnx/float16';
import { f16ToF32Array } from '../onnx/float16';

export const Q8_0_BLOCK = 32;
const Q8_0_BLOCK_BYTES = 2 + Q8_0_BLOCK;

/** Bytes of `elements` values in Q8_0 (elements must be a multiple of 32). */
export const q8_0Bytes = (elements: number) => (elements / Q8_0_BLOCK) * Q8_0_BLOCK_BYTES;

export function quantizeQ8_0(values: Float32Array): Uint8Array {
  if (values.length % Q8_0_BLOCK !== 0) throw new Error(`Q8_0 needs a multiple of ${Q8_0_BLOCK} values, got ${values.length}`);
  const blocks = values.length / Q8_0_BLOCK;
  const out = new Uint8Array(blocks * Q8_0_BLOCK_BYTES);
  const view = new DataView(out.buffer);
  for (let b = 0; b < blocks; b++) {
    const base = b * Q8_0_BLOCK;
    let amax = 0;
    for (let j = 0; j < Q8_0_BLOCK; j++) amax = Math.max(amax, Math.abs(values[base + j]!));
    // ggml computes in float32: d and 1/d are rounded to float before use
    const d = Math.fround(amax / 127);
    const id = d ? Math.fround(1 / d) : 0;
    const o = b * Q8_0_BLOCK_BYTES;
    view.setUint16(o, f32ToF16Bits(d), true);
    for (let j = 0; j < Q8_0_BLOCK; j++) {
      const x = Math.fround(values[base + j]! * id);
      view.setInt8(o + 2 + j, Math.sign(x) * Math.floor(Math.abs(x) + 0.5));
    }
  }
  return out;
}

/** The values a Q8_0 tensor holds (ggml's dequantize_row_q8_0): q * fp16(d). */
export function dequantizeQ8_0(bytes: Uint8Array): Float32Array {
  const blocks = bytes.length / Q8_0_BLOCK_BYTES;
  const view = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength);
  const scales = new Uint16Array(blocks);
  for (let b = 0; b < blocks; b++) scales[b] = view.getUint16(b * Q8_0_BLOCK_BYTES, true);
  const d = f16ToF32Array(scales);
  const out = new Float32Array(blocks * Q8_0_BLOCK);
  for (let b = 0; b < blocks; b++) {
    for (let j = 0; j < Q8_0_BLOCK; j++) out[b * Q8_0_BLOCK + j] = view.getInt8(b * Q8_0_BLOCK_BYTES + 2 + j) * d[b]!;
  }
  return out;
}
