import { describe, expect, it } from 'vitest';
import { dequantizeQ8_0, q8_0Bytes, quantizeQ8_0 } from './q8-0';

describe('Q8_0', () => {
  it('encodes a hand-computed block: scale max|x|/127 as fp16, values rounded half away from zero', () => {
    const x = new Float32Array(32);
    x[0] = 127; // d = 1 exactly
    x[1] = -2.5; // rounds away from zero to -3
    x[2] = 2.5;
    x[3] = 0.49;
    x[4] = -127;
    const bytes = quantizeQ8_0(x);
    expect(bytes.length).toBe(34);
    expect(bytes[0] | (bytes[1]! << 8)).toBe(0x3c00); // fp16 1.0
    expect(Array.from(new Int8Array(bytes.buffer, 2, 5))).toEqual([127, -3, 3, 0, -127]);
  });

  // half a step, plus up to 127 steps times fp16's relative rounding of the scale (2^-11)
  it('round-trips within half a step of each block and keeps all-zero blocks zero', () => {
    const n = 32 * 20;
    const x = new Float32Array(n);
    let seed = 7;
    for (let i = 0; i < n; i++) x[i] = ((seed = (seed * 1103515245 + 12345) % 2 ** 31) / 2 ** 31 - 0.5) * (1 + (i >> 5));
    x.fill(0, 64, 96);
    const bytes = quantizeQ8_0(x);
    expect(bytes.length).toBe(q8_0Bytes(n));
    const y = dequantizeQ8_0(bytes);
    for (let b = 0; b < n / 32; b++) {
      const block = x.subarray(b * 32, b * 32 + 32);
      const step = Math.max(...block.map(Math.abs)) / 127;
      for (let j = 0; j < 32; j++) expect(Math.abs(y[b * 32 + j]! - block[j]!)).toBeLessThanOrEqual(step * (0.5 + 127 / 2048));
    }
    expect(Array.from(y.subarray(64, 96))).toEqual(new Array(32).fill(0));
  });

  it('refuses rows that are not whole blocks', () => {
    expect(() => quantizeQ8_0(new Float32Array(33))).toThrow(/multiple of 32/);
  });
});
