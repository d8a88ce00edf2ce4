/** CPU reference of shaders/kl_divergence.wgsl, in float64. */

/**
 * KL(softmax(dense[r]) ‖ softmax(pruned[r])) for each row r of two [rows, vocab] logit arrays (rows =
 * weights.length); 0 where weights[r] <= 0 (a position that does not count). The weight only masks: callers
 * average with it. Terms of a zero dense probability count 0; a zero pruned probability under a nonzero
 * dense one gives Infinity, as KL does.
 */
export function klDivergence(dense: ArrayLike<number>, pruned: ArrayLike<number>, weights: ArrayLike<number>, vocab: number): Float64Array {
  const rows = weights.length;
  if (!Number.isInteger(vocab) || vocab < 1) throw new RangeError(`vocab must be a positive integer, got ${vocab}`);
  for (const [label, logits] of [['dense', dense], ['pruned', pruned]] as const) {
    if (logits.length < rows * vocab) throw new RangeError(`${logits.length} ${label} logits cannot hold ${rows} rows x ${vocab}`);
  }
  const out = new Float64Array(rows);
  for (let r = 0; r < rows; r++) {
    if (!(weights[r] > 0)) continue;
    const base = r * vocab;
    const p = shiftedLogSumExp(dense, base, vocab);
    const q = shiftedLogSumExp(pruned, base, vocab);
    let kl = 0;
    for (let k = 0; k < vocab; k++) {
      // log p_k = (x_k − max) − log Σ exp(x − max): subtracting the max first keeps huge logits exact.
      const logP = dense[base + k] - p.max - p.logSum;
      const prob = Math.exp(logP);
      if (prob === 0) continue;
      kl += prob * (logP - (pruned[base + k] - q.max - q.logSum));
    }
    out[r] = kl;
  }
  return out;
}

/** log Σ_k exp(x_k) = max + logSum, the two kept apart. */
function shiftedLogSumExp(logits: ArrayLike<number>, base: number, vocab: number): { max: number; logSum: number } {
  let max = -Infinity;
  for (let k = 0; k < vocab; k++) max = Math.max(max, logits[base + k]);
  let sum = 0;
  for (let k = 0; k < vocab; k++) sum += Math.exp(logits[base + k] - max);
  return { max, logSum: Math.log(sum) };
}
