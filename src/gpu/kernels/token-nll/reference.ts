/** CPU reference of shaders/token_nll.wgsl, in float64. */

/**
 * -log softmax(logits[r])[targets[r]] for each row r of logits [rows, vocab]; 0 where targets[r] < 0
 * (a position that does not count).
 */
export function tokenNll(logits: ArrayLike<number>, targets: ArrayLike<number>, vocab: number): Float64Array {
  const rows = targets.length;
  if (logits.length < rows * vocab) throw new RangeError(`${logits.length} logits cannot hold ${rows} rows x ${vocab}`);
  const out = new Float64Array(rows);
  for (let r = 0; r < rows; r++) {
    const target = targets[r];
    if (target < 0) continue;
    if (target >= vocab) throw new RangeError(`target ${target} is outside the vocabulary [0, ${vocab})`);
    const base = r * vocab;
    let max = -Infinity;
    for (let k = 0; k < vocab; k++) max = Math.max(max, logits[base + k]);
    let sum = 0;
    for (let k = 0; k < vocab; k++) sum += Math.exp(logits[base + k] - max);
    out[r] = max - logits[base + target] + Math.log(sum);
  }
  return out;
}
