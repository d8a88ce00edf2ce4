/**
 * Memory planning for Gram matrices: C² values per layer (1536² f32 is 9 MB, 4864² is 95 MB), so a
 * model's worth may not fit. Layers are packed, in order, into passes that each fit the budget; every
 * extra pass is one more full calibration run over the data.
 */
export interface GramPlan {
  /** Layer indices whose Gram matrices are accumulated in each pass over the calibration data. */
  passes: number[][];
  /** Total bytes of all layers' matrices. */
  totalBytes: number;
  budgetBytes: number;
  /** What the plan costs, in words, for the UI and the CLI. */
  message: string;
}

const mb = (bytes: number) => `${(bytes / 2 ** 20).toFixed(1)} MB`;

/** `channels[l]` is layer l's FFN width; `bytesPerValue` is 4 for the GPU's f32, 8 for the CPU's f64. */
export function planGramPasses(channels: readonly number[], budgetBytes: number, bytesPerValue = 4): GramPlan {
  if (!(budgetBytes > 0)) throw new RangeError(`the Gram memory budget must be positive, got ${budgetBytes}`);
  const sizes = channels.map((c) => c * c * bytesPerValue);
  const passes: number[][] = [];
  let used = Infinity;
  sizes.forEach((bytes, layer) => {
    if (bytes > budgetBytes) {
      throw new RangeError(`layer ${layer}'s Gram matrix (${channels[layer]}² values) needs ${mb(bytes)}, more than the ${mb(budgetBytes)} budget`);
    }
    if (used + bytes > budgetBytes) {
      passes.push([]);
      used = 0;
    }
    passes[passes.length - 1]!.push(layer);
    used += bytes;
  });
  const totalBytes = sizes.reduce((a, b) => a + b, 0);
  const summary = `Gram matrices for ${channels.length} layers need ${mb(totalBytes)}`;
  const message =
    passes.length <= 1
      ? `${summary}, within the ${mb(budgetBytes)} budget: one pass over the calibration data.`
      : `${summary}; the ${mb(budgetBytes)} budget holds at most ${Math.max(...passes.map((p) => p.length))} layers at a time, ` +
        `so calibration runs ${passes.length} passes over the data instead of 1 (about ${passes.length}x the time).`;
  return { passes, totalBytes, budgetBytes, message };
}
