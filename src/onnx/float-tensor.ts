/**
 * Float tensor bytes (FLOAT, FLOAT16, BFLOAT16, little-endian): conversion to and from float32, and
 * exact row/column selection on the raw bytes, which needs no conversion at all. Platform neutral.
 */
import { f16ToF32Array } from './float16';
import { encodeBf16, encodeF16, encodeF32 } from './float16';
import { DataType } from './proto';

export function floatElementBytes(dataType: number): number {
  if (dataType === DataType.FLOAT) return 4;
  if (dataType === DataType.FLOAT16 || dataType === DataType.BFLOAT16) return 2;
  throw new Error(`Expected a float tensor (FLOAT, FLOAT16 or BFLOAT16), got data type ${dataType}`);
}

/** A copy that owns an aligned buffer (raw_data views may start at any byte). */
const aligned = (bytes: Uint8Array) => bytes.slice().buffer;

export function decodeFloats(bytes: Uint8Array, dataType: number): Float32Array {
  floatElementBytes(dataType);
  if (dataType === DataType.FLOAT) return new Float32Array(aligned(bytes));
  const halves = new Uint16Array(aligned(bytes));
  if (dataType === DataType.FLOAT16) return f16ToF32Array(halves);
  return new Float32Array(Uint32Array.from(halves, (h) => h << 16).buffer);
}

export function encodeFloats(values: Float32Array, dataType: number): Uint8Array {
  floatElementBytes(dataType);
  if (dataType === DataType.FLOAT) return encodeF32(values);
  return dataType === DataType.FLOAT16 ? encodeF16(values) : encodeBf16(values);
}

/** `value` as the nearest number the type can store. */
export function roundToFloatType(value: number, dataType: number): number {
  return decodeFloats(encodeFloats(Float32Array.of(value), dataType), dataType)[0]!;
}

/** Columns `keep` of a row-major [rows, cols] matrix of `elementBytes`-wide values (1, 2 or 4). */
export function selectColumnBytes(bytes: Uint8Array, rows: number, cols: number, elementBytes: number, keep: readonly number[]): Uint8Array {
  // Whole elements as integers: one typed-array move per value, no float decoding.
  if (![1, 2, 4].includes(elementBytes)) throw new Error(`selectColumnBytes: unsupported element width ${elementBytes}`);
  const view = (buffer: ArrayBuffer, offset: number, length: number) =>
    elementBytes === 4 ? new Uint32Array(buffer, offset, length) : elementBytes === 2 ? new Uint16Array(buffer, offset, length) : new Uint8Array(buffer, offset, length);
  const source = bytes.byteOffset % elementBytes === 0 ? bytes : bytes.slice();
  const src = view(source.buffer as ArrayBuffer, source.byteOffset, rows * cols);
  const dst = view(new ArrayBuffer(rows * keep.length * elementBytes), 0, rows * keep.length);
  const k = keep.length;
  for (let r = 0; r < rows; r++) {
    const from = r * cols;
    const to = r * k;
    for (let i = 0; i < k; i++) dst[to + i] = src[from + keep[i]!]!;
  }
  return new Uint8Array(dst.buffer);
}

/** Rows `keep` of a row-major matrix whose rows are `rowBytes` long. */
export function selectRowBytes(bytes: Uint8Array, rowBytes: number, keep: readonly number[]): Uint8Array {
  const out = new Uint8Array(keep.length * rowBytes);
  keep.forEach((r, i) => out.set(bytes.subarray(r * rowBytes, (r + 1) * rowBytes), i * rowBytes));
  return out;
}

const TILE = 64;

/** Row-major [rows][cols] → [cols][rows], in tiles so reads and writes both stay in cache (LM heads hold tens of millions of values). */
export function transpose(m: Float32Array, rows: number, cols: number): Float32Array {
  const t = new Float32Array(m.length);
  for (let r0 = 0; r0 < rows; r0 += TILE) {
    const r1 = Math.min(rows, r0 + TILE);
    for (let c0 = 0; c0 < cols; c0 += TILE) {
      const c1 = Math.min(cols, c0 + TILE);
      for (let r = r0; r < r1; r++) for (let c = c0; c < c1; c++) t[c * rows + r] = m[r * cols + c]!;
    }
  }
  return t;
}
