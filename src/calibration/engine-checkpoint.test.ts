import { describe, expect, it } from 'vitest';
import { parseCheckpoint, samplesKey, serializeCheckpoint, type CalibrationCheckpoint } from './engine-checkpoint';
import { emptyCalibrationStats } from '../core/stats';

describe('calibration checkpoints', () => {
  it('survive JSON exactly, float64 sums and Gram matrices included', () => {
    const stats = emptyCalibrationStats([3, 2]);
    stats.layers[0]!.sumSq.set([0.1 + 0.2, 1e-300, 123456789.123456789]);
    stats.layers[0]!.sum.set([-Math.PI, 0, 2 ** 60 + 1]);
    stats.layers[1]!.weight = 1 / 3;
    stats.layers[1]!.gram = Float32Array.of(1.5, 2, 2, 3.25);
    stats.tokens = 7;
    stats.samples = 2;
    const checkpoint: CalibrationCheckpoint = { version: 1, samplesKey: '2:abc', totalSamples: 5, gramPasses: [[0], [1]], pass: 1, nextSample: 2, stats };
    const back = parseCheckpoint(serializeCheckpoint(checkpoint));
    expect(back).toMatchObject({ samplesKey: '2:abc', totalSamples: 5, gramPasses: [[0], [1]], pass: 1, nextSample: 2 });
    expect(back.stats.layers[0]!.sumSq).toEqual(stats.layers[0]!.sumSq);
    expect(back.stats.layers[0]!.sum).toEqual(stats.layers[0]!.sum);
    expect(back.stats.layers[1]!.weight).toBe(1 / 3);
    expect([...back.stats.layers[1]!.gram!]).toEqual([1.5, 2, 2, 3.25]);
    expect(back.stats).toMatchObject({ tokens: 7, samples: 2 });
  });

  it('refuses what is not a checkpoint', () => {
    expect(() => parseCheckpoint('{"version": 2}')).toThrow('not a calibration checkpoint');
    const broken = { version: 1, samplesKey: 'k', totalSamples: 1, gramPasses: [], pass: 0, nextSample: -1, stats: { layers: [], tokens: 0, samples: 0 } };
    expect(() => parseCheckpoint(JSON.stringify(broken))).toThrow('nextSample is not a count');
  });

  it('keys samples by every id and weight', () => {
    const samples = [{ ids: [1, 2, 3], weights: Float32Array.of(0, 1, 1) }];
    const key = samplesKey(samples);
    expect(samplesKey([{ ids: [1, 2, 3], weights: Float32Array.of(0, 1, 1) }])).toBe(key);
    expect(samplesKey([{ ids: [1, 2, 4], weights: Float32Array.of(0, 1, 1) }])).not.toBe(key);
    expect(samplesKey([{ ids: [1, 2, 3], weights: Float32Array.of(0, 1, 0.5) }])).not.toBe(key);
    expect(samplesKey([...samples, ...samples])).not.toBe(key);
  });
});
