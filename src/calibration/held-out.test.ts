import { describe, expect, it } from 'vitest';
import type { CalibrationSet, CalibrationSetSample } from './calibration-set';
import { splitHeldOut } from './held-out';

const sample = (i: number, kind: CalibrationSetSample['meta']['kind'] = 'persona-answer'): CalibrationSetSample => ({
  ids: [1, i],
  weights: Float32Array.of(0, 1),
  meta: { kind, prompt: `q${i}`, sampleWeight: 1, promptTokens: 1, answerTokens: 1 },
});
const set = (samples: CalibrationSetSample[]): CalibrationSet => ({ persona: 'p', format: 'base', seed: 0, sampling: { maxNewTokens: 4, temperature: 0 }, samples, emptyAnswers: 0 });

describe('splitHeldOut', () => {
  it('holds out the answers after the calibration ones, disjoint from them, and keeps user examples for calibration', () => {
    const all = [...Array.from({ length: 10 }, (_, i) => sample(i)), sample(99, 'user-example')];
    const { calibration, heldOut } = splitHeldOut(set(all), 3);
    expect(heldOut.map((s) => s.meta.prompt)).toEqual(['q7', 'q8', 'q9']);
    expect(calibration.samples.map((s) => s.meta.prompt)).toEqual(['q0', 'q1', 'q2', 'q3', 'q4', 'q5', 'q6', 'q99']);
    expect(splitHeldOut(set(all), 0).heldOut).toEqual([]);
  });

  it('always leaves one answer to calibrate on', () => {
    const { calibration, heldOut } = splitHeldOut(set([sample(0), sample(1)]), 5);
    expect(heldOut).toHaveLength(1);
    expect(calibration.samples).toHaveLength(1);
  });
});
