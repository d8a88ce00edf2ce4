/**
 * NLL and perplexity of a text set, on any runtime: each text is BOS followed by its tokens, and every
 * token after BOS is predicted (nats per predicted token, pooled over the set). Platform neutral.
 */
import type { PipelineRuntime, PipelineTokenizer } from './runtime';
import type { PlanWeights } from '../eval/apply-plan';
import { summariseNll, type NllSummary } from '../eval/nll';
import { windowedNll } from '../eval/windows';

/** BOS then the text's tokens; a tokenizer without a BOS token cannot score the first token, so it refuses. */
export function evaluationIds(tokenizer: Pick<PipelineTokenizer, 'encode' | 'bosTokenId'>, text: string): number[] {
  if (tokenizer.bosTokenId === undefined) throw new Error('this tokenizer has no BOS token, so the first token of a text has no context to be predicted from');
  const ids = tokenizer.encode(text, { addBos: true });
  if (ids.length < 2) throw new Error(`the text ${JSON.stringify(text.slice(0, 40))} has no tokens`);
  return ids;
}

/**
 * Pooled NLL of `texts` under the dense model, or under the dense model with `plan` applied in memory;
 * with `window`, texts longer than its limit are scored in sliding windows (src/eval/windows.ts).
 */
export async function evaluateTexts(
  runtime: Pick<PipelineRuntime, 'tokenizer' | 'evaluateNll'>,
  texts: readonly string[],
  plan?: PlanWeights,
  window?: { limit: number; stride?: number },
): Promise<NllSummary> {
  const sequences = texts.map((t) => evaluationIds(runtime.tokenizer, t));
  const evaluate = (list: readonly (readonly number[])[]) => runtime.evaluateNll(list, plan);
  return summariseNll(window ? await windowedNll(evaluate, sequences, window.limit, window.stride) : await evaluate(sequences));
}
