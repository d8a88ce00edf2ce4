/**
 * Negative log-likelihood and perplexity of texts on the CPU (the Node evaluation path). The per-token
 * NLL is the CPU reference of the GPU NLL kernel, gpu/kernels/token-nll/reference.ts (stable log-softmax in float64).
 */
import { tokenNll } from '../gpu/kernels/token-nll/reference';

/**
 * NLL (nats) of a token sequence under the logits of the same sequence ([ids.length, vocab] row-major):
 * position t predicts ids[t + 1], so the first id (e.g. BOS) is context only and the last row is unused.
 */
export function sequenceNll(logits: ArrayLike<number>, vocab: number, ids: readonly number[]): Float64Array {
  if (!Number.isInteger(vocab) || vocab < 1) throw new RangeError(`vocab must be a positive integer, got ${vocab}`);
  if (logits.length !== ids.length * vocab) throw new RangeError(`expected ${ids.length} rows of ${vocab} logits, got ${logits.length / vocab}`);
  const targets = ids.slice(1);
  targets.forEach((id, t) => {
    if (!Number.isInteger(id) || id < 0 || id >= vocab) throw new RangeError(`token ${id} at position ${t + 1} is outside [0, ${vocab})`);
  });
  return tokenNll(logits, targets, vocab);
}

export function perplexity(meanNll: number): number {
  return Math.exp(meanNll);
}

export interface NllSummary {
  /** Mean NLL in nats per predicted token. */
  meanNll: number;
  perplexity: number;
  /** Number of predicted tokens. */
  tokens: number;
}

/** Pools per-token NLLs of many texts (every token counts once, so long texts weigh more). */
export function summariseNll(perText: readonly ArrayLike<number>[]): NllSummary {
  let sum = 0;
  let tokens = 0;
  for (const nlls of perText) {
    for (let i = 0; i < nlls.length; i++) sum += nlls[i];
    tokens += nlls.length;
  }
  if (tokens === 0) throw new RangeError('no predicted tokens: every text is empty');
  const meanNll = sum / tokens;
  return { meanNll, perplexity: perplexity(meanNll), tokens };
}
