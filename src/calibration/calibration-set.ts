/**
 * Calibration sets as token ids with per-token weights. The persona set holds persona-voiced answers that
 * the dense model itself writes under the persona prompt (only answer tokens count, times the question's
 * sensitivity weight) plus the user's own example lines (every token counts); the generic set holds plain
 * answers to the same kind of prompts, for the baselines. Generation is a callback, so this stays pure.
 */
import { createRng } from '../model/sampling';
import type { TextTokenizer } from '../model/tokenizer';
import type { CalibrationSample } from '../core/stats';
import { encodePrompt, renderPrompt, type PromptFormat } from './persona-prompt';
import { selectBySensitivity } from './sensitivity';

export type CalibrationTokenizer = Pick<TextTokenizer, 'encode' | 'addsBos'>;

/** Sampling settings of answer synthesis, recorded in every sample's meta. */
export interface SynthesisSettings {
  maxNewTokens: number;
  temperature: number;
  topK?: number;
  topP?: number;
}

export const DEFAULT_SYNTHESIS: SynthesisSettings = { maxNewTokens: 96, temperature: 0.7, topP: 0.9 };

/** Generates an answer (new token ids, without the prompt and the stop token) with the dense model. */
export type Synthesize = (promptIds: number[], settings: SynthesisSettings & { seed: number }) => Promise<number[]>;

export type SampleKind = 'persona-answer' | 'generic-answer' | 'user-example';

export interface SampleMeta {
  kind: SampleKind;
  /** The question or story prompt (answers), or the pasted text (user examples). */
  prompt: string;
  /** Index of the prompt in the `questions` given (answers only). */
  questionIndex?: number;
  /** Persona sensitivity of the question, when the set was filtered by it. */
  sensitivity?: number;
  /** Weight of every counted token of this sample. */
  sampleWeight: number;
  /** Tokens before the counted ones (the rendered prompt, or a BOS). */
  promptTokens: number;
  /** Counted tokens. */
  answerTokens: number;
  /** How the answer was generated (answers only). */
  sampling?: SynthesisSettings & { seed: number };
  /** The chat template refused a system turn; the persona prompt went into the user turn. */
  systemFolded?: boolean;
}

/** A calibration engine sample (ids, per-token weights: the sample weight on counted tokens, 0 elsewhere) with its provenance. */
export interface CalibrationSetSample extends CalibrationSample {
  meta: SampleMeta;
}

export interface CalibrationSet {
  persona: string | null;
  format: PromptFormat['kind'];
  seed: number;
  sampling: SynthesisSettings;
  samples: CalibrationSetSample[];
  /** Answers left out because the model stopped at once (no answer tokens). */
  emptyAnswers: number;
}

export interface GenericSetOptions {
  /** Chat questions for a chat model, story beginnings for a base model (see promptsFor). */
  questions: readonly string[];
  tokenizer: CalibrationTokenizer;
  format: PromptFormat;
  synthesize: Synthesize;
  /** How many questions to answer (at most questions.length). */
  samples: number;
  seed: number;
  sampling?: SynthesisSettings;
  onProgress?: (done: number, total: number) => void;
}

export interface PersonaSetOptions extends GenericSetOptions {
  persona: string;
  /** One persona-sensitivity score per question: keep the top `samples`, weighted by score (mean 1). */
  sensitivity?: readonly number[];
  /** The user's own dialogue lines or examples for the character; every token counts. */
  userExamples?: readonly string[];
  /** Weight of each user example's tokens (default 1). */
  userExampleWeight?: number;
}

interface Chosen {
  index: number;
  weight: number;
  sensitivity?: number;
}

/** `count` distinct indices of [0, n) in a seeded random order (Fisher–Yates). */
function seededSample(n: number, count: number, seed: number): number[] {
  const rng = createRng(seed);
  const order = Array.from({ length: n }, (_, i) => i);
  for (let i = n - 1; i > 0; i--) {
    const j = Math.floor(rng() * (i + 1));
    [order[i], order[j]] = [order[j], order[i]];
  }
  return order.slice(0, count);
}

function checkCount(samples: number, available: number): void {
  if (!Number.isInteger(samples) || samples < 0) throw new RangeError(`samples must be a non-negative integer, got ${samples}`);
  if (samples > available) throw new RangeError(`asked for ${samples} samples but there are only ${available} questions`);
}

/** Renders, tokenizes and answers each chosen question; answer tokens carry the question's weight. */
async function answerQuestions(options: GenericSetOptions, persona: string | null, chosen: Chosen[]): Promise<CalibrationSet> {
  const { tokenizer, format, synthesize, seed } = options;
  const sampling = options.sampling ?? DEFAULT_SYNTHESIS;
  const samples: CalibrationSetSample[] = [];
  let emptyAnswers = 0;
  for (const [n, { index, weight, sensitivity }] of chosen.entries()) {
    const question = options.questions[index];
    const prompt = renderPrompt(format, persona, question);
    const promptIds = encodePrompt(tokenizer, format, prompt.text);
    const settings = { ...sampling, seed: seed + n };
    const answer = await synthesize(promptIds, settings);
    options.onProgress?.(n + 1, chosen.length);
    if (answer.length === 0) {
      emptyAnswers++;
      continue;
    }
    samples.push({
      ids: [...promptIds, ...answer],
      weights: Float32Array.from({ length: promptIds.length + answer.length }, (_, i) => (i < promptIds.length ? 0 : weight)),
      meta: {
        kind: persona === null ? 'generic-answer' : 'persona-answer',
        prompt: question,
        questionIndex: index,
        ...(sensitivity !== undefined && { sensitivity }),
        sampleWeight: weight,
        promptTokens: promptIds.length,
        answerTokens: answer.length,
        sampling: settings,
        ...(prompt.systemFolded && { systemFolded: true }),
      },
    });
  }
  return { persona, format: format.kind, seed, sampling, samples, emptyAnswers };
}

/** A user example as a sample: BOS (if the tokenizer adds one) is context, every text token counts. */
function exampleSample(tokenizer: CalibrationTokenizer, text: string, weight: number): CalibrationSetSample {
  const ids = tokenizer.encode(text, { addBos: tokenizer.addsBos });
  const context = tokenizer.addsBos ? 1 : 0;
  return {
    ids,
    weights: Float32Array.from(ids, (_, i) => (i < context ? 0 : weight)),
    meta: { kind: 'user-example', prompt: text, sampleWeight: weight, promptTokens: context, answerTokens: ids.length - context },
  };
}

/**
 * The persona calibration set: `samples` questions (the most persona-sensitive ones when scores are given,
 * else a seeded random choice), each answered by the dense model under the persona prompt, plus the user's
 * examples.
 */
export async function buildCalibrationSet(options: PersonaSetOptions): Promise<CalibrationSet> {
  if (options.persona.trim() === '') throw new Error('The persona description is empty.');
  checkCount(options.samples, options.questions.length);
  let chosen: Chosen[];
  if (options.sensitivity) {
    if (options.sensitivity.length !== options.questions.length) {
      throw new RangeError(`${options.sensitivity.length} sensitivity scores for ${options.questions.length} questions`);
    }
    chosen = selectBySensitivity(options.sensitivity, options.samples).map(({ index, score, weight }) => ({ index, weight, sensitivity: score }));
  } else {
    chosen = seededSample(options.questions.length, options.samples, options.seed).map((index) => ({ index, weight: 1 }));
  }
  const set = await answerQuestions(options, options.persona, chosen);
  const exampleWeight = options.userExampleWeight ?? 1;
  if (!(exampleWeight > 0)) throw new RangeError(`userExampleWeight must be positive, got ${exampleWeight}`);
  for (const text of options.userExamples ?? []) {
    if (text.trim() !== '') set.samples.push(exampleSample(options.tokenizer, text, exampleWeight));
  }
  return set;
}

/** The generic calibration set of the baselines: the same kind of prompts with no persona, plain answers. */
export async function buildGenericCalibrationSet(options: GenericSetOptions): Promise<CalibrationSet> {
  checkCount(options.samples, options.questions.length);
  const chosen = seededSample(options.questions.length, options.samples, options.seed).map((index) => ({ index, weight: 1 }));
  return answerQuestions(options, null, chosen);
}
