import { describe, expect, it } from 'vitest';
import { activationScores, channelMeans, flapScores, magnitudeScores, randomScores, wandaElementScores, wandaSpScores } from './scoring';

// 3 channels, hidden 2. down_proj rows (ONNX [in, out]): ‖row‖² = [5, 9, 0.5], mean |row| = [1.5, 1.5, 0.5].
const down = Float32Array.from([1, 2, 0, -3, 0.5, 0.5]);
const layerStats = (sumSq: number[], sum: number[], weight: number) => ({ sumSq: Float64Array.from(sumSq), sum: Float64Array.from(sum), weight });
// Weighted stats over total weight 2: E[a²] = [4, 1, 0.5], mean a = [1, 0, −0.5], variance = [3, 1, 0.25].
const stats = layerStats([8, 2, 1], [2, 0, -1], 2);

const close = (actual: Float64Array, expected: number[]) => expected.forEach((v, i) => expect(actual[i]).toBeCloseTo(v, 12));

describe('scoring', () => {
  it('persona activation: E_w[a²] · ‖W_down[j,:]‖²', () => {
    close(activationScores(stats, down, 2), [4 * 5, 1 * 9, 0.5 * 0.5]);
  });

  it('Wanda-sp: mean |W_down[j,:]| · sqrt(Σ w·a²)', () => {
    close(wandaSpScores(stats, down, 2), [1.5 * Math.sqrt(8), 1.5 * Math.sqrt(2), 0.5 * 1]);
  });

  it('Wanda per weight (OWL outliers): |W_down[j,k]| · sqrt(Σ w·a_j²), or |W_down[j,k]| without statistics', () => {
    close(wandaElementScores(stats, down, 2), [Math.sqrt(8), 2 * Math.sqrt(8), 0, 3 * Math.sqrt(2), 0.5, 0.5]);
    close(wandaElementScores(undefined, down, 2), [1, 2, 0, 3, 0.5, 0.5]);
  });

  it('FLAP: weighted variance · ‖W_down[j,:]‖², and the channel means for bias compensation', () => {
    close(flapScores(stats, down, 2), [3 * 5, 1 * 9, 0.25 * 0.5]);
    close(channelMeans(stats), [1, 0, -0.5]);
    // Float32 accumulation can leave Σa²/W slightly below the squared mean; the variance clamps to 0.
    expect(flapScores(layerStats([0.99], [1], 1), Float32Array.from([1, 1]), 2)[0]).toBe(0);
  });

  it('magnitude: ‖W_gate[:,j]‖ · ‖W_up[:,j]‖ · ‖W_down[j,:]‖, down only without gate/up', () => {
    // gate/up [H=2, C=3]: column norms gate = [1, 2, 5], up = [2, 1, 1].
    const gate = Float32Array.from([1, 0, 3, 0, 2, 4]);
    const up = Float32Array.from([2, 0, 1, 0, 1, 0]);
    close(magnitudeScores({ down, gate, up }, 2), [1 * 2 * Math.sqrt(5), 2 * 1 * 3, 5 * 1 * Math.sqrt(0.5)]);
    close(magnitudeScores({ down }, 2), [Math.sqrt(5), 3, Math.sqrt(0.5)]);
  });

  it('random: reproducible per (seed, layer), different across them', () => {
    const a = randomScores(50, 1, 0);
    expect([...a]).toEqual([...randomScores(50, 1, 0)]);
    expect([...a]).not.toEqual([...randomScores(50, 2, 0)]);
    expect([...a]).not.toEqual([...randomScores(50, 1, 1)]);
    expect(a.every((x) => x >= 0 && x < 1)).toBe(true);
  });

  it('rejects statistics that do not fit the weights or counted no token', () => {
    expect(() => wandaSpScores(layerStats([1, 2], [0, 0], 1), down, 2)).toThrow(/2 channels/);
    expect(() => activationScores({ ...stats, weight: 0 }, down, 2)).toThrow(/no token weight/);
    expect(() => flapScores(stats, down, 4)).toThrow(/multiple of hidden/);
  });
});
