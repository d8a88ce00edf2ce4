/**
 * Sliding-window NLL for sequences longer than the model's positions, as perplexity tools do: windows of at
 * most `limit` tokens, each starting `stride` after the previous one, and every token predicted exactly
 * once, by the first window that has it as a target after the previous window's targets. Each prediction
 * therefore sees at least `limit - stride` tokens of context (fewer only at the very start). Platform neutral.
 */

export interface TokenWindow {
  /** Token range [start, end) of the sequence. */
  start: number;
  end: number;
  /** Per-token NLL entries of this window counted from here on (earlier ones were counted before). */
  countFrom: number;
}

export function slidingWindows(length: number, limit: number, stride = Math.max(1, Math.floor(limit / 2))): TokenWindow[] {
  if (!Number.isInteger(limit) || limit < 2) throw new RangeError(`a window must hold at least 2 tokens, got ${limit}`);
  if (!Number.isInteger(stride) || stride < 1 || stride > limit - 1) throw new RangeError(`the stride must be an integer in [1, ${limit - 1}], got ${stride}`);
  if (length <= limit) return [{ start: 0, end: length, countFrom: 0 }];
  const windows: TokenWindow[] = [];
  // Targets are tokens 1..length-1; `counted` is the first target no window has predicted yet.
  let counted = 1;
  for (let start = 0; counted < length; start += stride) {
    const end = Math.min(start + limit, length);
    // Entry t of a window predicts token start + t + 1.
    windows.push({ start, end, countFrom: counted - start - 1 });
    counted = end;
  }
  return windows;
}

/**
 * Per-token NLL of each sequence (entry t: −log p(ids[t + 1] | context)), where sequences over `limit`
 * are scored in sliding windows; `evaluate` is a runtime's evaluateNll, called once for every window.
 */
export async function windowedNll(
  evaluate: (sequences: readonly (readonly number[])[]) => Promise<Float64Array[]>,
  sequences: readonly (readonly number[])[],
  limit: number,
  stride?: number,
): Promise<Float64Array[]> {
  const plans = sequences.map((ids) => slidingWindows(ids.length, limit, stride));
  const results = await evaluate(plans.flatMap((windows, i) => windows.map((w) => sequences[i]!.slice(w.start, w.end))));
  let next = 0;
  return plans.map((windows, i) => {
    const out = new Float64Array(Math.max(0, sequences[i]!.length - 1));
    let filled = 0;
    for (const w of windows) {
      const nll = results[next++]!.subarray(w.countFrom);
      out.set(nll, filled);
      filled += nll.length;
    }
    return out;
  });
}
