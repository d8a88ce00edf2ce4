/**
 * 4-bit block quantization in onnxruntime's `MatMulNBits` layout (com.microsoft), and the exact
 * edits structured pruning needs on it. Platform neutral.
 *
 * Layout for a logical weight W[K, N] (MatMul's [in, out]): B is uint8 (N, kBlocks, blockSize / 2)
 * holding, for output channel n and block j, the codes of W[j*bs .. j*bs+bs-1, n], two per byte with
 * the lower index in the low nibble; the tail of a partial last block is padding. scales is
 * (N * kBlocks) in the activation's float type. Zero points, when present, are packed uint8
 * (N, ceil(kBlocks / 2)), low nibble first; absent, every zero point is 8. W[k, n] = (q - zp) * scale.
 */

export interface Int4Weight {
  /** Input features (rows of W). */
  K: number;
  /** Output features (columns of W). */
  N: number;
  blockSize: number;
  /** Packed codes, (N, kBlocks, blockSize / 2). */
  b: Uint8Array;
  /** N * kBlocks scales, already rounded to the tensor's storage type. */
  scales: Float32Array;
  /** Packed zero points, (N, ceil(kBlocks / 2)); undefined means 8 everywhere. */
  zeroPoints?: Uint8Array;
}

const DEFAULT_ZERO_POINT = 8;

export const kBlocksOf = (K: number, blockSize: number) => Math.ceil(K / blockSize);
export const zeroPointBytesPerRow = (kBlocks: number) => Math.ceil(kBlocks / 2);

function checkBlockSize(blockSize: number): void {
  if (!Number.isInteger(blockSize) || blockSize < 16 || (blockSize & (blockSize - 1)) !== 0) {
    throw new Error(`MatMulNBits block size must be a power of two >= 16, got ${blockSize}`);
  }
}

const nibble = (bytes: Uint8Array, index: number) => (bytes[index >> 1]! >> ((index & 1) * 4)) & 15;
function setNibble(bytes: Uint8Array, index: number, value: number): void {
  const shift = (index & 1) * 4;
  bytes[index >> 1] = (bytes[index >> 1]! & ~(15 << shift)) | (value << shift);
}

/** Zero point of (row n, block j). */
function zeroPointAt(w: Pick<Int4Weight, 'K' | 'blockSize' | 'zeroPoints'>, n: number, j: number): number {
  if (!w.zeroPoints) return DEFAULT_ZERO_POINT;
  return nibble(w.zeroPoints, n * zeroPointBytesPerRow(kBlocksOf(w.K, w.blockSize)) * 2 + j);
}

/** W[K, N] as float32 ([in, out], row-major). */
export function dequantizeInt4(w: Int4Weight): Float32Array {
  const { K, N, blockSize } = w;
  const kBlocks = kBlocksOf(K, blockSize);
  const rowBytes = (kBlocks * blockSize) / 2;
  const out = new Float32Array(K * N);
  for (let n = 0; n < N; n++) {
    for (let j = 0; j < kBlocks; j++) {
      const scale = w.scales[n * kBlocks + j]!;
      const zp = zeroPointAt(w, n, j);
      const end = Math.min(blockSize, K - j * blockSize);
      for (let i = 0; i < end; i++) {
        const k = j * blockSize + i;
        out[k * N + n] = (nibble(w.b, n * rowBytes * 2 + k) - zp) * scale;
      }
    }
  }
  return out;
}

export interface QuantizeOptions {
  /** Asymmetric quantization with stored zero points (min/max); otherwise symmetric around 8. */
  zeroPoints?: boolean;
  /** Rounds a scale to its storage type (e.g. float16); codes are computed against the rounded scale. */
  roundScale?: (scale: number) => number;
}

/**
 * Quantizes W[K, N] ([in, out], row-major) block-wise along K. Symmetric mode follows onnxruntime's
 * MatMul4BitsQuantizer: scale = (value of largest magnitude) / -8, so that value maps to code 0
 * exactly. Asymmetric mode spans [min(0, lo), max(0, hi)] with 15 steps.
 */
export function quantizeInt4(w: Float32Array, K: number, N: number, blockSize: number, options: QuantizeOptions = {}): Int4Weight {
  checkBlockSize(blockSize);
  if (w.length !== K * N) throw new Error(`quantizeInt4: expected ${K}x${N} = ${K * N} values, got ${w.length}`);
  const round = options.roundScale ?? Math.fround;
  const kBlocks = kBlocksOf(K, blockSize);
  const rowBytes = (kBlocks * blockSize) / 2;
  const zpRow = zeroPointBytesPerRow(kBlocks);
  const b = new Uint8Array(N * rowBytes);
  const scales = new Float32Array(N * kBlocks);
  const zeroPoints = options.zeroPoints ? new Uint8Array(N * zpRow) : undefined;
  for (let n = 0; n < N; n++) {
    for (let j = 0; j < kBlocks; j++) {
      const start = j * blockSize;
      const end = Math.min(start + blockSize, K);
      let scale: number;
      let zp = DEFAULT_ZERO_POINT;
      if (zeroPoints) {
        let lo = 0;
        let hi = 0;
        for (let k = start; k < end; k++) {
          lo = Math.min(lo, w[k * N + n]!);
          hi = Math.max(hi, w[k * N + n]!);
        }
        scale = round((hi - lo) / 15);
        zp = scale === 0 ? DEFAULT_ZERO_POINT : Math.min(15, Math.max(0, Math.round(-lo / scale)));
        setNibble(zeroPoints, n * zpRow * 2 + j, zp);
      } else {
        let extreme = 0;
        for (let k = start; k < end; k++) if (Math.abs(w[k * N + n]!) > Math.abs(extreme)) extreme = w[k * N + n]!;
        scale = round(extreme / -8);
      }
      scales[n * kBlocks + j] = scale;
      // Padding past K keeps code zp, i.e. the value 0.
      for (let i = 0; i < blockSize; i++) {
        const k = start + i;
        const q = k < end && scale !== 0 ? Math.min(15, Math.max(0, Math.round(w[k * N + n]! / scale) + zp)) : zp;
        setNibble(b, n * rowBytes * 2 + k, q);
      }
    }
  }
  return { K, N, blockSize, b, scales, ...(zeroPoints ? { zeroPoints } : {}) };
}

/** Keeps output channels `keep` (sorted): an exact copy of their rows, scales and zero points. */
export function sliceInt4Outputs(w: Int4Weight, keep: readonly number[]): Int4Weight {
  const kBlocks = kBlocksOf(w.K, w.blockSize);
  const rowBytes = (kBlocks * w.blockSize) / 2;
  const zpRow = zeroPointBytesPerRow(kBlocks);
  const b = new Uint8Array(keep.length * rowBytes);
  const scales = new Float32Array(keep.length * kBlocks);
  const zeroPoints = w.zeroPoints ? new Uint8Array(keep.length * zpRow) : undefined;
  keep.forEach((n, r) => {
    b.set(w.b.subarray(n * rowBytes, (n + 1) * rowBytes), r * rowBytes);
    scales.set(w.scales.subarray(n * kBlocks, (n + 1) * kBlocks), r * kBlocks);
    zeroPoints?.set(w.zeroPoints!.subarray(n * zpRow, (n + 1) * zpRow), r * zpRow);
  });
  return { K: w.K, N: keep.length, blockSize: w.blockSize, b, scales, ...(zeroPoints ? { zeroPoints } : {}) };
}

/**
 * When the input channels `keepK` (sorted) leave out only whole blocks, returns the kept block
 * indices; otherwise null. A partial last block counts as whole (its padding is zeros), and since
 * it stays last when kept, the kept blocks form a valid layout for the smaller K.
 */
export function wholeBlocksKept(keepK: readonly number[], K: number, blockSize: number): number[] | null {
  const kBlocks = kBlocksOf(K, blockSize);
  const counts = new Array<number>(kBlocks).fill(0);
  for (const k of keepK) counts[Math.floor(k / blockSize)]!++;
  const kept: number[] = [];
  for (let j = 0; j < kBlocks; j++) {
    const size = Math.min(blockSize, K - j * blockSize);
    if (counts[j] === size) kept.push(j);
    else if (counts[j] !== 0) return null;
  }
  return kept;
}

/** Keeps whole input-channel blocks `keepBlocks` (sorted): exact, codes and scales are copied. */
export function removeInt4Blocks(w: Int4Weight, keepBlocks: readonly number[]): Int4Weight {
  const { N, blockSize } = w;
  const kBlocks = kBlocksOf(w.K, blockSize);
  const lastSize = w.K - (kBlocks - 1) * blockSize;
  const K = keepBlocks.reduce((sum, j) => sum + (j === kBlocks - 1 ? lastSize : blockSize), 0);
  const newBlocks = keepBlocks.length;
  const blockBytes = blockSize / 2;
  const zpRowOld = zeroPointBytesPerRow(kBlocks);
  const zpRow = zeroPointBytesPerRow(newBlocks);
  const b = new Uint8Array(N * newBlocks * blockBytes);
  const scales = new Float32Array(N * newBlocks);
  const zeroPoints = w.zeroPoints ? new Uint8Array(N * zpRow) : undefined;
  for (let n = 0; n < N; n++) {
    keepBlocks.forEach((j, r) => {
      const from = (n * kBlocks + j) * blockBytes;
      b.set(w.b.subarray(from, from + blockBytes), (n * newBlocks + r) * blockBytes);
      scales[n * newBlocks + r] = w.scales[n * kBlocks + j]!;
      if (zeroPoints) setNibble(zeroPoints, n * zpRow * 2 + r, nibble(w.zeroPoints!, n * zpRowOld * 2 + j));
    });
  }
  return { K, N, blockSize, b, scales, ...(zeroPoints ? { zeroPoints } : {}) };
}

/** A copy in which input channels `channels` hold their block's zero point, i.e. dequantize to exactly 0. */
export function zeroInt4Inputs(w: Int4Weight, channels: readonly number[]): Int4Weight {
  const kBlocks = kBlocksOf(w.K, w.blockSize);
  const rowNibbles = kBlocks * w.blockSize;
  const b = w.b.slice();
  for (let n = 0; n < w.N; n++) {
    for (const k of channels) setNibble(b, n * rowNibbles + k, zeroPointAt(w, n, Math.floor(k / w.blockSize)));
  }
  return { ...w, b };
}
