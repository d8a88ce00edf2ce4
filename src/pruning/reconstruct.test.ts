import { describe, expect, it } from 'vitest';
import { createRng } from '../model/sampling';
import { mixedGram, obsSaliency, reconstructLayer } from './reconstruct';

/** Independent reference: solves M X = B (M n×n, B n×m) by Gaussian elimination with partial pivoting. */
function gaussSolve(m: number[][], b: number[][]): number[][] {
  const n = m.length;
  const a = m.map((row, i) => [...row, ...b[i]]);
  for (let col = 0; col < n; col++) {
    let p = col;
    for (let r = col + 1; r < n; r++) if (Math.abs(a[r][col]) > Math.abs(a[p][col])) p = r;
    [a[col], a[p]] = [a[p], a[col]];
    for (let r = 0; r < n; r++) {
      if (r === col) continue;
      const f = a[r][col] / a[col][col];
      for (let c = col; c < a[r].length; c++) a[r][c] -= f * a[col][c];
    }
  }
  return a.map((row, i) => row.slice(n).map((v) => v / a[i][i]));
}

/**
 * Damped objective tr((W̃' − W)ᵀ M (W̃' − W)) with M = G + λI, minimised over the rows of the kept set:
 * returns the minimum and the minimiser (brute force, no OBS algebra).
 */
function bestRefit(m: number[][], w: number[][], keep: number[]): { error: number; rows: number[][] } {
  const mKK = keep.map((i) => keep.map((j) => m[i][j]));
  const rhs = keep.map((i) => w[0].map((_, q) => m[i].reduce((acc, mij, p) => acc + mij * w[p][q], 0)));
  const rows = gaussSolve(mKK, rhs);
  const diff = w.map((row, p) => row.map((v, q) => (keep.includes(p) ? rows[keep.indexOf(p)][q] : 0) - v));
  let error = 0;
  for (let p = 0; p < w.length; p++) for (let r = 0; r < w.length; r++) for (let q = 0; q < w[0].length; q++) error += diff[p][q] * m[p][r] * diff[r][q];
  return { error, rows };
}

/** Values exactly representable in float32, so the Float32Array weights equal the float64 reference's. */
function randomMatrix(rows: number, cols: number, rng: () => number): number[][] {
  return Array.from({ length: rows }, () => Array.from({ length: cols }, () => Math.fround(rng() * 2 - 1)));
}

/** X [n, c] with correlated columns (a shared factor), so channels partly explain each other. */
function correlatedX(n: number, c: number, rng: () => number): number[][] {
  return Array.from({ length: n }, () => {
    const f = rng() * 2 - 1;
    return Array.from({ length: c }, (_, j) => (j % 3) * f + (rng() * 2 - 1) * (0.2 + j / c));
  });
}

function gramOf(x: number[][]): Float64Array {
  const c = x[0].length;
  const g = new Float64Array(c * c);
  for (const row of x) for (let i = 0; i < c; i++) for (let j = 0; j < c; j++) g[i * c + j] += row[i] * row[j];
  return g;
}

describe('reconstructLayer', () => {
  it('matches a hand-computed 2-channel case', () => {
    // G = [[2,1],[1,2]], W = [[1],[2]], no damping: G⁻¹ = [[2,−1],[−1,2]]/3, saliency = W_j² / (2/3) = [1.5, 6].
    // Removing channel 0, the refit is W'_1 = G_11⁻¹ G_{1,all} W = (1·1 + 2·2) / 2 = 2.5, and the error
    // E[(x0 − 0.5·x1)²] = G00 − G01 + 0.25·G11 = 1.5 equals the saliency of channel 0.
    const r = reconstructLayer([2, 1, 1, 2], Float32Array.from([1, 2]), 1, 1, { damping: 0 });
    expect(r.saliency[0]).toBeCloseTo(1.5, 12);
    expect(r.saliency[1]).toBeCloseTo(6, 12);
    expect(r.keep).toEqual([1]);
    expect(r.removed).toEqual([0]);
    expect(r.removalError[0]).toBeCloseTo(1.5, 12);
    expect(r.down[0]).toBeCloseTo(2.5, 6);
  });

  it('removes greedily by the exact damped error and refits to the brute-force optimum', () => {
    const rng = createRng(11);
    const c = 7;
    const hidden = 3;
    const x = correlatedX(40, c, rng);
    const gram = gramOf(x);
    const w = randomMatrix(c, hidden, rng);
    const damping = 0.05;
    const lambda = (damping * [...Array(c).keys()].reduce((acc, i) => acc + gram[i * c + i], 0)) / c;
    const m = Array.from({ length: c }, (_, i) => Array.from({ length: c }, (_, j) => gram[i * c + j] + (i === j ? lambda : 0)));

    const r = reconstructLayer(gram, Float32Array.from(w.flat()), hidden, 3, { damping });

    // Brute-force greedy: at each step remove the channel whose removal leaves the smallest optimum.
    let keep = [...Array(c).keys()];
    let previous = 0;
    for (let step = 0; step < c - 3; step++) {
      const options = keep.map((j) => ({ j, ...bestRefit(m, w, keep.filter((i) => i !== j)) }));
      options.sort((a, b) => a.error - b.error);
      expect(r.removed[step]).toBe(options[0].j);
      expect(r.removalError[step]).toBeCloseTo(options[0].error - previous, 9);
      previous = options[0].error;
      keep = keep.filter((i) => i !== options[0].j);
    }
    expect(r.keep).toEqual(keep);
    const { rows } = bestRefit(m, w, keep);
    rows.flat().forEach((v, i) => expect(r.down[i]).toBeCloseTo(v, 5));
  });

  it('refits down_proj better than slicing it, solving the least-squares normal equations on random data', () => {
    const rng = createRng(5);
    const n = 200;
    const c = 12;
    const hidden = 4;
    const x = correlatedX(n, c, rng);
    const w = randomMatrix(c, hidden, rng);
    const r = reconstructLayer(gramOf(x), Float32Array.from(w.flat()), hidden, 8, { damping: 1e-10 });

    // Residual of the kept channels against the dense output, for given kept rows.
    const residual = (rows: (k: number, q: number) => number) =>
      x.map((row) => w[0].map((_, q) => row.reduce((acc, a, p) => acc + a * w[p][q], 0) - r.keep.reduce((acc, p, k) => acc + row[p] * rows(k, q), 0)));
    const norm = (res: number[][]) => Math.sqrt(res.flat().reduce((acc, v) => acc + v * v, 0));
    const refit = residual((k, q) => r.down[k * hidden + q]);
    const sliced = residual((k, q) => w[r.keep[k]][q]);
    expect(norm(refit)).toBeLessThan(0.9 * norm(sliced));

    // Normal equations X_Kᵀ (X W − X_K W') = 0: the refit is the least-squares minimiser for this set.
    const dense = Math.sqrt(x.flat().reduce((a, v) => a + v * v, 0)) * norm(refit);
    for (const p of r.keep) {
      for (let q = 0; q < hidden; q++) expect(Math.abs(x.reduce((acc, row, t) => acc + row[p] * refit[t][q], 0))).toBeLessThan(1e-5 * dense);
    }
  });

  it('keeps the original rows of the strongest channels when the layer never fired (zero Gram)', () => {
    // G = 0 leaves only the damping λI: removal cost ∝ ‖W_j‖², and the refit towards W returns W itself.
    const down = Float32Array.from([3, 0, 0.1, 0.1, 1, 1, 0, 0.5]);
    const r = reconstructLayer(new Float64Array(16), down, 2, 2);
    expect(r.keep).toEqual([0, 2]);
    expect([...r.down]).toEqual([3, 0, 1, 1]);
  });

  it('rejects bad shapes and keep counts', () => {
    const down = Float32Array.from([1, 2, 3, 4]);
    expect(() => reconstructLayer([1, 0, 0, 1], down, 2, 0)).toThrow(/keepCount/);
    expect(() => reconstructLayer([1, 0, 0, 1], down, 2, 3)).toThrow(/keepCount/);
    expect(() => reconstructLayer([1, 0, 0], down, 2, 1)).toThrow(/Gram/);
    expect(() => reconstructLayer([1, 0, 0, 1], down, 3, 1)).toThrow(/multiple/);
  });
});

describe('obsSaliency', () => {
  it('equals the saliency reported by a reconstruct pass', () => {
    const gram = [4, 1, 0, 1, 3, 1, 0, 1, 2];
    const down = Float32Array.from([1, -1, 2, 0, 0.5, 0.5]);
    expect([...obsSaliency(gram, down, 2)]).toEqual([...reconstructLayer(gram, down, 2, 1).saliency]);
  });
});

describe('mixedGram', () => {
  it('mixes per-token mean Grams with weight alpha', () => {
    const persona = { gram: Float64Array.from([2, 4, 4, 8]), weight: 2 };
    const generic = { gram: Float64Array.from([10, 0, 0, 10]), weight: 10 };
    expect([...mixedGram(persona)]).toEqual([1, 2, 2, 4]);
    expect([...mixedGram(persona, generic, 0.5)]).toEqual([1.5, 2, 2, 4.5]);
    expect(() => mixedGram({ weight: 1 })).toThrow(/no Gram matrix/);
    expect(() => mixedGram({ gram: Float64Array.of(1), weight: 0 })).toThrow(/no token weight/);
  });
});
