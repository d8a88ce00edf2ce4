import { describe, expect, it } from 'vitest';
import { dequantizeInt4, quantizeInt4, removeInt4Blocks, sliceInt4Outputs, wholeBlocksKept, zeroInt4Inputs } from './int4';

function seeded(n: number, seed: number): Float32Array {
  let s = seed;
  return Float32Array.from({ length: n }, () => ((s = (s * 1103515245 + 12345) >>> 0) / 2 ** 32 - 0.5) * 2);
}

/** Rows `rows` (input channels) of W[K, N]. */
const rowsOf = (w: Float32Array, N: number, rows: number[]) => Float32Array.from(rows.flatMap((k) => Array.from(w.subarray(k * N, (k + 1) * N))));
/** Columns `cols` (output channels) of W[K, N]. */
const colsOf = (w: Float32Array, K: number, N: number, cols: number[]) =>
  Float32Array.from(Array.from({ length: K }, (_, k) => cols.map((n) => w[k * N + n]!)).flat());

describe('MatMulNBits 4-bit layout', () => {
  it('symmetric: the largest-magnitude value maps to code 0, codes pack low nibble first (hand-computed)', () => {
    // W[16, 1] = 0.5 * (k - 8): extreme -4 -> scale -4 / -8 = 0.5, codes 0..15.
    const w = Float32Array.from({ length: 16 }, (_, k) => 0.5 * (k - 8));
    const q = quantizeInt4(w, 16, 1, 16);
    expect(Array.from(q.scales)).toEqual([0.5]);
    expect(Array.from(q.b)).toEqual([0x10, 0x32, 0x54, 0x76, 0x98, 0xba, 0xdc, 0xfe]);
    expect(q.zeroPoints).toBeUndefined();
    expect(Array.from(dequantizeInt4(q))).toEqual(Array.from(w));
  });

  it('asymmetric: scale spans [min(0, lo), max(0, hi)] in 15 steps with a stored zero point (hand-computed)', () => {
    // 0.25 * (k - 3): lo -0.75, hi 3 -> scale 0.25, zero point 3, codes k.
    const w = Float32Array.from({ length: 16 }, (_, k) => 0.25 * (k - 3));
    const q = quantizeInt4(w, 16, 1, 16, { zeroPoints: true });
    expect(Array.from(q.scales)).toEqual([0.25]);
    expect(Array.from(q.zeroPoints!)).toEqual([3]);
    expect(Array.from(q.b)).toEqual([0x10, 0x32, 0x54, 0x76, 0x98, 0xba, 0xdc, 0xfe]);
    expect(Array.from(dequantizeInt4(q))).toEqual(Array.from(w));
  });

  it('pads a partial last block with the zero point and round-trips within half a step', () => {
    const K = 20;
    const N = 3;
    const w = seeded(K * N, 5);
    for (const zeroPoints of [false, true]) {
      const q = quantizeInt4(w, K, N, 16, { zeroPoints });
      expect(q.b.length).toBe(N * 2 * 8);
      expect(q.scales.length).toBe(N * 2);
      // Row 0, block 1: 4 real codes then 12 padding codes equal to the zero point.
      const zp = zeroPoints ? q.zeroPoints![0]! >> 4 : 8;
      const tail = Array.from(q.b.subarray(8 + 2, 16)).flatMap((b) => [b & 15, b >> 4]);
      expect(tail).toEqual(new Array(12).fill(zp));
      const back = dequantizeInt4(q);
      for (let k = 0; k < K; k++) {
        for (let n = 0; n < N; n++) {
          const scale = Math.abs(q.scales[n * 2 + Math.floor(k / 16)]!);
          // Symmetric quantization clips the positive end at +7 steps, so allow one step there.
          expect(Math.abs(back[k * N + n]! - w[k * N + n]!)).toBeLessThanOrEqual(scale * (zeroPoints ? 0.5 : 1) + 1e-7);
        }
      }
    }
  });

  it('slicing output channels keeps exactly the dequantized columns', () => {
    const K = 172;
    const N = 10;
    const q = quantizeInt4(seeded(K * N, 9), K, N, 32, { zeroPoints: true });
    const keep = [0, 3, 4, 9];
    expect(Array.from(dequantizeInt4(sliceInt4Outputs(q, keep)))).toEqual(Array.from(colsOf(dequantizeInt4(q), K, N, keep)));
  });

  it('detects whole aligned blocks, counting a partial last block as whole', () => {
    const all = [...Array(172).keys()];
    expect(wholeBlocksKept(all, 172, 32)).toEqual([0, 1, 2, 3, 4, 5]);
    expect(wholeBlocksKept(all.filter((c) => c < 32 || c >= 64), 172, 32)).toEqual([0, 2, 3, 4, 5]);
    expect(wholeBlocksKept(all.filter((c) => c < 160), 172, 32)).toEqual([0, 1, 2, 3, 4]);
    expect(wholeBlocksKept(all.filter((c) => c !== 31), 172, 32)).toBeNull();
    expect(wholeBlocksKept([...all.filter((c) => c < 160), 165], 172, 32)).toBeNull();
  });

  it('removing whole blocks keeps exactly the dequantized rows, zero points repacked', () => {
    const K = 172;
    const N = 5;
    for (const zeroPoints of [false, true]) {
      const q = quantizeInt4(seeded(K * N, 13), K, N, 16, { zeroPoints });
      const keep = [...Array(K).keys()].filter((c) => Math.floor(c / 16) % 3 !== 1 && c < 160);
      const blocks = wholeBlocksKept(keep, K, 16)!;
      const cut = removeInt4Blocks(q, blocks);
      expect(cut.K).toBe(keep.length);
      expect(Array.from(dequantizeInt4(cut))).toEqual(Array.from(rowsOf(dequantizeInt4(q), N, keep)));
    }
  });

  it('zeroing input channels makes exactly those rows 0 and leaves the rest', () => {
    const K = 40;
    const N = 4;
    const q = quantizeInt4(seeded(K * N, 17), K, N, 16, { zeroPoints: true });
    const before = dequantizeInt4(q);
    const after = dequantizeInt4(zeroInt4Inputs(q, [1, 17, 39]));
    for (let k = 0; k < K; k++) {
      for (let n = 0; n < N; n++) expect(after[k * N + n]).toBe([1, 17, 39].includes(k) ? 0 : before[k * N + n]);
    }
  });

  it('rejects block sizes MatMulNBits does not accept', () => {
    expect(() => quantizeInt4(new Float32Array(24), 24, 1, 24)).toThrow(/power of two/);
    expect(() => quantizeInt4(new Float32Array(8), 8, 1, 8)).toThrow(/>= 16/);
  });
});
