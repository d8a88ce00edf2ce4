/**
 * Held-out persona samples: answered prompts built exactly like the calibration ones (persona prompt, answer
 * written by the dense model in the persona's voice) but never used for statistics, so plans can be judged
 * on data they were not fitted to.
 */
import { createRng } from '../model/sampling';
import type { CalibrationSet, CalibrationSetSample } from './calibration-set';

/**
 * Splits `count` answered samples off the set by a seeded choice (at least one answer stays for
 * calibration); the user's examples always stay, since they are the user's own data for the plan.
 */
export function splitHeldOut(set: CalibrationSet, count: number, seed: number): { calibration: CalibrationSet; heldOut: CalibrationSetSample[] } {
  if (!Number.isInteger(count) || count < 0) throw new RangeError(`held-out count must be a non-negative integer, got ${count}`);
  const answers = set.samples.flatMap((s, i) => (s.meta.kind === 'user-example' ? [] : [i]));
  const take = Math.min(count, answers.length - 1);
  const rng = createRng(seed ^ 0x5eed);
  for (let i = answers.length - 1; i > 0; i--) {
    const j = Math.floor(rng() * (i + 1));
    [answers[i], answers[j]] = [answers[j]!, answers[i]!];
  }
  const held = new Set(answers.slice(0, Math.max(0, take)));
  return {
    calibration: { ...set, samples: set.samples.filter((_, i) => !held.has(i)) },
    heldOut: set.samples.filter((_, i) => held.has(i)),
  };
}
