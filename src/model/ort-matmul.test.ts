import * as ort from 'onnxruntime-node';
import { describe, expect, it } from 'vitest';
import { matmul } from '../core/matmul';
import { createRng } from './sampling';
import { ortMatMul } from './ort-matmul';

describe('ortMatMul', () => {
  it('computes in float64 what the JS matmul computes, for any shape', async () => {
    const mm = ortMatMul(ort);
    const rng = createRng(3);
    for (const [m, k, n] of [[1, 1, 1], [3, 5, 2], [64, 17, 129], [2, 300, 3]] as const) {
      const a = Float64Array.from({ length: m * k }, () => rng() * 2 - 1);
      const b = Float64Array.from({ length: k * n }, () => rng() * 2 - 1);
      const got = await mm(a, b, m, k, n);
      const want = matmul(a, b, m, k, n);
      expect(got.length).toBe(m * n);
      // Float32 would miss this by about 1e-7.
      for (let i = 0; i < got.length; i++) expect(Math.abs(got[i]! - want[i]!)).toBeLessThan(1e-12);
    }
  });

  it('hand-computed case, an empty inner dimension, and shape errors', async () => {
    const mm = ortMatMul(ort);
    expect([...(await mm(Float64Array.from([1, 2, 3, 4]), Float64Array.from([5, 6, 7, 8]), 2, 2, 2))]).toEqual([19, 22, 43, 50]);
    expect([...(await mm(new Float64Array(0), new Float64Array(0), 2, 0, 2))]).toEqual([0, 0, 0, 0]);
    await expect(mm(new Float64Array(3), new Float64Array(4), 2, 2, 2)).rejects.toThrow(/do not fit/);
  });

  it('falls back to the JS product where the build has no float64 MatMul (the browser WebGPU bundle), and passes other errors on', async () => {
    let creates = 0;
    const refusing = (message: string) => ({
      Tensor: ort.Tensor,
      InferenceSession: {
        create: async () => {
          creates++;
          throw new Error(message);
        },
      },
    });
    const a = Float64Array.from([1, 2, 3, 4]);
    const noKernel = ortMatMul(refusing("Can't create a session. ERROR_CODE: 9, ERROR_MESSAGE: Could not find an implementation for MatMul(13) node with name 'matmul'"));
    expect([...(await noKernel(a, a, 2, 2, 2))]).toEqual([7, 10, 15, 22]);
    expect([...(await noKernel(a, a, 2, 2, 2))]).toEqual([7, 10, 15, 22]);
    expect(creates).toBe(1);
    const broken = ortMatMul(refusing('out of memory'));
    await expect(broken(a, a, 2, 2, 2)).rejects.toThrow(/out of memory/);
    // A failure other than the missing kernel is not remembered: the next call tries again.
    await expect(broken(a, a, 2, 2, 2)).rejects.toThrow(/out of memory/);
    expect(creates).toBe(3);
  });
});
