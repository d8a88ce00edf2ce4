export interface SamplingOptions {
  /** 0 (the default) picks the most likely token. */
  temperature?: number;
  /** Keep only the k most likely tokens; 0 or undefined keeps all. */
  topK?: number;
  /** Keep the smallest set of tokens whose probability sum reaches p; 1 or undefined keeps all. */
  topP?: number;
}

/** mulberry32: a tiny seeded PRNG, so a seed reproduces a sampled text exactly on every platform. */
export function createRng(seed: number): () => number {
  let state = seed >>> 0;
  return () => {
    state = (state + 0x6d2b79f5) >>> 0;
    let t = state;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

export function argmax(values: ArrayLike<number>): number {
  let best = 0;
  for (let i = 1; i < values.length; i++) if (values[i] > values[best]) best = i;
  return best;
}

/** Picks the next token from one row of logits. `rng` is only used when temperature > 0. */
export function sampleToken(logits: ArrayLike<number>, options: SamplingOptions, rng: () => number): number {
  const temperature = options.temperature ?? 0;
  if (temperature <= 0) return argmax(logits);

  const topP = options.topP ?? 1;
  const truncates = (options.topK ?? 0) > 0 || topP < 1;
  let candidates = Array.from({ length: logits.length }, (_, id) => id);
  // Sorting the whole vocabulary only pays off when it is truncated; ties keep id order, so it is deterministic.
  if (truncates) candidates.sort((a, b) => logits[b] - logits[a] || a - b);
  if (options.topK && options.topK > 0) candidates = candidates.slice(0, options.topK);

  const max = logits[argmax(logits)];
  let probs = candidates.map((id) => Math.exp((logits[id] - max) / temperature));
  let sum = probs.reduce((a, b) => a + b, 0);

  if (topP < 1) {
    let cumulative = 0;
    let keep = 0;
    while (keep < probs.length && cumulative < topP * sum) cumulative += probs[keep++];
    candidates = candidates.slice(0, Math.max(keep, 1));
    probs = probs.slice(0, candidates.length);
    sum = probs.reduce((a, b) => a + b, 0);
  }

  let r = rng() * sum;
  for (let i = 0; i < candidates.length; i++) {
    r -= probs[i];
    if (r < 0) return candidates[i];
  }
  return candidates[candidates.length - 1];
}
