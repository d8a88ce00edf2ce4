/**
 * Persona sensitivity of a question (Persona-Pruner's filter): how much the target persona changes the
 * model's last-token hidden states compared with reference personas, over a middle range of layers.
 * The cosine itself is the CPU reference of the GPU kernel (gpu/kernels/cosine/reference.ts).
 */
import { meanCosineSimilarity } from '../gpu/kernels/cosine/reference';
import type { TextTokenizer } from '../model/tokenizer';
import { encodePrompt, renderPrompt, type PromptFormat } from './persona-prompt';

/** Half-open layer range [from, to): the middle third of the layers, at least one layer. */
export function middleLayerRange(numLayers: number): [number, number] {
  if (!Number.isInteger(numLayers) || numLayers < 1) throw new RangeError(`numLayers must be a positive integer, got ${numLayers}`);
  const from = Math.floor(numLayers / 3);
  return [from, Math.max(from + 1, Math.floor((2 * numLayers) / 3))];
}

/**
 * Mean over layers l in the half-open range [from, to) of cos(a[l], b[l]); a[l] and b[l] are one layer's
 * last-token hidden states (index = layer). A zero vector has cosine 0 with anything.
 */
export function cosineSimilarityMean(a: Float32Array[], b: Float32Array[], layers: [number, number]): number {
  const [from, to] = layers;
  if (a.length !== b.length) throw new RangeError(`hidden states cover ${a.length} and ${b.length} layers`);
  if (!Number.isInteger(from) || !Number.isInteger(to) || from < 0 || to > a.length || from >= to) {
    throw new RangeError(`layer range [${from}, ${to}) is empty or outside [0, ${a.length})`);
  }
  const pairs = [];
  for (let l = from; l < to; l++) {
    if (a[l].length !== b[l].length) throw new RangeError(`layer ${l}: hidden states of sizes ${a[l].length} and ${b[l].length}`);
    pairs.push({ a: a[l], b: b[l] });
  }
  return meanCosineSimilarity(pairs);
}

/**
 * Sensitivity of one question: 1 − the cosine similarity between the target persona's hidden states and
 * each reference persona's, averaged over references and over the layer range (default: the middle third).
 */
export function sensitivityScore(target: Float32Array[], references: Float32Array[][], layers = middleLayerRange(target.length)): number {
  if (references.length === 0) throw new RangeError('sensitivity needs at least one reference persona');
  const mean = references.reduce((acc, ref) => acc + cosineSimilarityMean(target, ref, layers), 0) / references.length;
  return 1 - mean;
}

export interface SelectedQuestion {
  /** Index into the scored questions. */
  index: number;
  score: number;
  /** Sample weight: the score divided by the mean score of the selection (mean weight 1). */
  weight: number;
}

/**
 * The k most persona-sensitive questions (ties: lower index first), most sensitive first, weighted by their
 * score normalised to mean 1. A selection whose scores are all 0 weighs every question 1.
 */
export function selectBySensitivity(scores: readonly number[], k: number): SelectedQuestion[] {
  if (!Number.isInteger(k) || k < 0) throw new RangeError(`k must be a non-negative integer, got ${k}`);
  scores.forEach((s, i) => {
    if (!Number.isFinite(s)) throw new RangeError(`question ${i} has a non-finite sensitivity ${s}`);
  });
  const order = scores.map((_, i) => i).sort((a, b) => scores[b] - scores[a] || a - b);
  const chosen = order.slice(0, k);
  // 1 − cosine is ≥ 0 up to rounding; a slightly negative score must not become a negative weight.
  const clamped = chosen.map((i) => Math.max(0, scores[i]));
  const mean = clamped.reduce((a, b) => a + b, 0) / Math.max(1, chosen.length);
  return chosen.map((index, r) => ({ index, score: scores[index], weight: mean > 0 ? clamped[r] / mean : 1 }));
}

/**
 * For each prompt, the last-token hidden state of every layer (index = layer) after running it through the
 * dense model; a runtime may run the prompts as one batch.
 */
export type HiddenStates = (prompts: number[][]) => Promise<Float32Array[][]>;

/**
 * Prompts per hiddenStates call: one call of many prompts costs far less than one each (a runtime shares
 * their common prefix and batches the rest).
 */
export const HIDDEN_STATES_BATCH = 64;

export interface QuestionSensitivityOptions {
  persona: string;
  /** Reference persona descriptions. */
  references: readonly string[];
  questions: readonly string[];
  format: PromptFormat;
  tokenizer: Pick<TextTokenizer, 'encode' | 'addsBos'>;
  hiddenStates: HiddenStates;
  /** Half-open layer range (default: the middle third). */
  layers?: [number, number];
  /**
   * Reference hidden states do not depend on the target persona: pass the same map when scoring several
   * personas (batch runs) and each (reference, question) runs once.
   */
  cache?: Map<string, Float32Array[]>;
  onProgress?: (done: number, total: number) => void;
}

/** Sensitivity score of every question for the persona, in question order. */
export async function questionSensitivities(options: QuestionSensitivityOptions): Promise<number[]> {
  const { format, tokenizer, hiddenStates, references, cache, questions } = options;
  const prompt = (persona: string, question: string) => encodePrompt(tokenizer, format, renderPrompt(format, persona, question).text);
  const keyOf = (reference: string, question: string) => `${reference}\u0000${question}`;
  // Every run this persona needs, persona by persona (a call's prompts then share the persona's prefix):
  // its own per question, then the reference runs not cached yet.
  const runs: { persona: string; question: string; key?: string }[] = questions.map((question) => ({ persona: options.persona, question }));
  const pending = new Set<string>();
  for (const reference of references) {
    for (const question of questions) {
      const key = keyOf(reference, question);
      if (cache?.has(key) || pending.has(key)) continue;
      pending.add(key);
      runs.push({ persona: reference, question, key });
    }
  }
  const states: Float32Array[][] = [];
  for (let start = 0; start < runs.length; start += HIDDEN_STATES_BATCH) {
    const chunk = runs.slice(start, start + HIDDEN_STATES_BATCH);
    states.push(...(await hiddenStates(chunk.map((r) => prompt(r.persona, r.question)))));
    options.onProgress?.(states.length, runs.length);
  }
  const computed = new Map<string, Float32Array[]>();
  runs.forEach((r, i) => {
    if (r.key === undefined) return;
    computed.set(r.key, states[i]!);
    cache?.set(r.key, states[i]!);
  });
  return questions.map((question, q) => {
    const refs = references.map((reference) => (computed.get(keyOf(reference, question)) ?? cache?.get(keyOf(reference, question)))!);
    return sensitivityScore(states[q]!, refs, options.layers ?? middleLayerRange(states[q]!.length));
  });
}
