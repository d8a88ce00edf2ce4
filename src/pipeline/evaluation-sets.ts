/**
 * The compare step's evaluation texts, held out from calibration: persona-voiced answers and plain answers
 * to prompts no calibration sample used, written by the dense model with a seed of their own. Measuring on
 * the calibration samples would flatter the plan (it was fitted to them), and with a persona-only method
 * the "plain text" column would be the persona texts again.
 */
import {
  buildCalibrationSet,
  buildGenericCalibrationSet,
  type CalibrationSet,
  type CalibrationTokenizer,
  type SynthesisSettings,
  type Synthesize,
} from '../calibration/calibration-set';
import type { CalibrationSample } from '../core/stats';
import { encodePrompt, renderPrompt, type PromptFormat } from '../calibration/persona-prompt';

/** Answers per evaluation set: enough tokens for a stable perplexity, few enough to write in seconds. */
export const EVALUATION_SAMPLES = 6;

/** Added to the request's seed, so evaluation answers are not the calibration answers' samples. */
export const EVALUATION_SEED_OFFSET = 7919;

export interface EvaluationSets {
  /** Persona-voiced answers under the persona prompt. */
  persona: CalibrationSet;
  /** Plain answers to other prompts, no persona. */
  general: CalibrationSet;
}

export interface EvaluationSetOptions {
  questions: readonly string[];
  tokenizer: CalibrationTokenizer;
  format: PromptFormat;
  persona: string;
  synthesize: Synthesize;
  /** Every sample the statistics were computed on (persona and generic sets). */
  calibration: readonly CalibrationSample[];
  /** The calibration request's seed; the evaluation answers use another. */
  seed: number;
  sampling?: SynthesisSettings;
  /** Answers per set (default EVALUATION_SAMPLES). */
  samples?: number;
}

const startsWith = (ids: readonly number[], prefix: readonly number[]) => prefix.length <= ids.length && prefix.every((id, i) => ids[i] === id);

/**
 * Questions whose prompt (with the persona or without) begins no calibration sample: the ones calibration
 * never saw. Matching on ids needs nothing but the samples, which is all a restored session keeps.
 */
export function heldOutQuestions(
  questions: readonly string[],
  tokenizer: CalibrationTokenizer,
  format: PromptFormat,
  persona: string,
  calibration: readonly CalibrationSample[],
): string[] {
  const prompt = (who: string | null, q: string) => encodePrompt(tokenizer, format, renderPrompt(format, who, q).text);
  return questions.filter((q) => {
    const prompts = [prompt(persona, q), prompt(null, q)];
    return !calibration.some((s) => prompts.some((p) => startsWith(s.ids, p)));
  });
}

/** How an export's record names the evaluation sets' sequences (quantization's held-out NLL). */
export const heldOutAnswersSource = (sequences: number) => `the dense model's answers to ${sequences} prompts calibration did not use (half under the persona)`;

/** The held-out prompts split in two disjoint pools (alternating, so both span the bank), one set from each. */
export async function buildEvaluationSets(options: EvaluationSetOptions): Promise<EvaluationSets> {
  const { tokenizer, format, persona, synthesize, sampling } = options;
  const samples = options.samples ?? EVALUATION_SAMPLES;
  const free = heldOutQuestions(options.questions, tokenizer, format, persona, options.calibration);
  if (free.length < 2 * samples) {
    throw new Error(
      `only ${free.length} prompts are left over after the analysis, and measuring needs ${2 * samples}: choose fewer practice questions in step 3 and run it again`,
    );
  }
  const seed = options.seed + EVALUATION_SEED_OFFSET;
  const personaPool = free.filter((_, i) => i % 2 === 0);
  const generalPool = free.filter((_, i) => i % 2 === 1);
  const personaSet = await buildCalibrationSet({ persona, questions: personaPool, tokenizer, format, synthesize, samples, seed, sampling });
  const general = await buildGenericCalibrationSet({ questions: generalPool, tokenizer, format, synthesize, samples, seed: seed + samples, sampling });
  return { persona: personaSet, general };
}

/**
 * The NLLs of a sample's counted (answer) tokens only: position t of `nll` predicts ids[t + 1], so it counts
 * when weights[t + 1] > 0. The prompt is context, not text the model is judged on.
 */
export function answerNll(nll: ArrayLike<number>, sample: CalibrationSample): Float64Array {
  if (nll.length !== sample.ids.length - 1) throw new RangeError(`expected ${sample.ids.length - 1} token NLLs, got ${nll.length}`);
  const out: number[] = [];
  for (let t = 0; t < nll.length; t++) if (sample.weights[t + 1]! > 0) out.push(nll[t]!);
  return Float64Array.from(out);
}
