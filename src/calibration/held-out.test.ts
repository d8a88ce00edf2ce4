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
  it('holds out a seeded choice of answers, disjoint from calibration, and keeps user examples for calibration', () => {
    const all = [...Array.from({ length: 10 }, (_, i) => sample(i)), sample(99, 'user-example')];
    const { calibration, heldOut } = splitHeldOut(set(all), 3, 7);
    expect(heldOut).toHaveLength(3);
    expect(calibration.samples).toHaveLength(8);
    expect(calibration.samples.at(-1)!.meta.kind).toBe('user-example');
    const prompts = (s: CalibrationSetSample[]) => s.map((x) => x.meta.prompt);
    expect(prompts(heldOut).filter((p) => prompts(calibration.samples).includes(p))).toEqual([]);
    expect(splitHeldOut(set(all), 3, 7).heldOut.map((s) => s.meta.prompt)).toEqual(prompts(heldOut));
    expect(splitHeldOut(set(all), 3, 8).heldOut.map((s) => s.meta.prompt)).not.toEqual(prompts(heldOut));
  });

  it('always leaves one answer to calibrate on', () => {
    const { calibration, heldOut } = splitHeldOut(set([sample(0), sample(1)]), 5, 0);
    expect(heldOut).toHaveLength(1);
    expect(calibration.samples).toHaveLength(1);
  });
});
