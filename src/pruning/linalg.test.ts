import { describe, expect, it } from 'vitest';
import { createRng } from '../model/sampling';
import { cpuMatMul, matmul } from '../core/matmul';
import { cholesky, removeFromInverse, spdInverse, spdInverseBlocked, transpose } from './linalg';

/** A random symmetric positive-definite n×n matrix BᵀB + n·I. */
function randomSpd(n: number, seed: number): Float64Array {
  const rng = createRng(seed);
  const b = Float64Array.from({ length: n * n }, () => rng() * 2 - 1);
  const a = new Float64Array(n * n);
  for (let i = 0; i < n; i++) {
    for (let j = 0; j < n; j++) {
      let s = i === j ? n : 0;
      for (let k = 0; k < n; k++) s += b[k * n + i] * b[k * n + j];
      a[i * n + j] = s;
    }
  }
  return a;
}

describe('linalg', () => {
  it('factors and inverts a hand-computed 2×2 matrix', () => {
    // [[4,2],[2,3]] = L Lᵀ with L = [[2,0],[1,√2]]; its inverse is [[3,−2],[−2,4]] / 8.
    const a = [4, 2, 2, 3];
    const l = cholesky(a, 2);
    expect(l[0]).toBeCloseTo(2, 14);
    expect(l[1]).toBe(0);
    expect(l[2]).toBeCloseTo(1, 14);
    expect(l[3]).toBeCloseTo(Math.SQRT2, 14);
    const inv = spdInverse(a, 2);
    [0.375, -0.25, -0.25, 0.5].forEach((v, i) => expect(inv[i]).toBeCloseTo(v, 14));
  });

  it('inverts a random 40×40 SPD matrix (A·A⁻¹ = I)', () => {
    const n = 40;
    const a = randomSpd(n, 7);
    const product = matmul(a, spdInverse(a, n), n, n, n);
    for (let i = 0; i < n; i++) for (let j = 0; j < n; j++) expect(Math.abs(product[i * n + j] - (i === j ? 1 : 0))).toBeLessThan(1e-12);
  });

  it('downdates an inverse to the inverse of the matrix without one index', () => {
    const n = 6;
    const a = randomSpd(n, 3);
    const inv = spdInverse(a, n);
    const rest = [0, 1, 3, 4, 5];
    removeFromInverse(inv, n, 2, rest);
    const sub = Float64Array.from(rest.flatMap((i) => rest.map((j) => a[i * n + j])));
    const expected = spdInverse(sub, rest.length);
    rest.forEach((i, r) => rest.forEach((j, s) => expect(inv[i * n + j]).toBeCloseTo(expected[r * rest.length + s], 12)));
  });

  it('multiplies matrices and rejects what is not positive definite', () => {
    // [[1,2,3],[4,5,6]] · [[1,0],[0,1],[1,1]] = [[4,5],[10,11]]
    expect([...matmul([1, 2, 3, 4, 5, 6], [1, 0, 0, 1, 1, 1], 2, 3, 2)]).toEqual([4, 5, 10, 11]);
    expect(() => cholesky([1, 2, 2, 1], 2)).toThrow(/not positive definite/);
    expect(() => matmul([1, 2], [1], 1, 2, 1)).toThrow(RangeError);
  });

  it('inverts by blocks what spdInverse inverts, to rounding, down to 1×1 leaves', async () => {
    for (const [n, leaf] of [[7, 1], [37, 4], [300, 64]] as const) {
      const a = randomSpd(n, n);
      const blocked = await spdInverseBlocked(a, n, cpuMatMul, leaf);
      const reference = spdInverse(a, n);
      const scale = Math.max(...reference.map(Math.abs));
      for (let i = 0; i < n * n; i++) expect(Math.abs(blocked[i]! - reference[i]!) / scale).toBeLessThan(1e-12);
      for (let i = 0; i < n; i++) for (let j = 0; j < n; j++) expect(blocked[i * n + j]).toBe(blocked[j * n + i]);
    }
  });

  it('transposes', () => {
    expect([...transpose([1, 2, 3, 4, 5, 6], 2, 3)]).toEqual([1, 4, 2, 5, 3, 6]);
  });
});
