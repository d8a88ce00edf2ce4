/**
 * Held-out persona samples: answered prompts built exactly like the calibration ones (persona prompt, answer
 * written by the dense model in the persona's voice) but never used for statistics, so plans can be judged
 * on data they were not fitted to.
 */
import type { CalibrationSet, CalibrationSetSample } from './calibration-set';

/**
 * Splits the last `count` answered samples off the set: the set is built for `samples + count` prompts in
 * its own order (most persona-sensitive first, or a seeded random order), so calibration keeps exactly the
 * samples, answers and seeds it would have without a held-out part, and the held-out ones come next. At
 * least one answer stays for calibration; the user's examples always stay, as the user's own data.
 */
export function splitHeldOut(set: CalibrationSet, count: number): { calibration: CalibrationSet; heldOut: CalibrationSetSample[] } {
  if (!Number.isInteger(count) || count < 0) throw new RangeError(`held-out count must be a non-negative integer, got ${count}`);
  const answers = set.samples.flatMap((s, i) => (s.meta.kind === 'user-example' ? [] : [i]));
  const held = new Set(answers.slice(Math.max(1, answers.length - count)));
  return {
    calibration: { ...set, samples: set.samples.filter((_, i) => !held.has(i)) },
    heldOut: set.samples.filter((_, i) => held.has(i)),
  };
}
