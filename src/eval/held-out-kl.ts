/**
 * Held-out KL: KL(dense ‖ pruned) of next-token distributions on calibration-style samples, the objective
 * plan search minimises. The rows that count are the ones calibration counts: the distribution at position
 * t predicts ids[t + 1] and counts with that token's weight (answer tokens, user examples), so the prompt
 * only conditions. Platform neutral; runtimes supply the logits (CPU reference here, or the GPU kernel).
 */
import type { CalibrationSample } from '../calibration/engine-batches';
import { samplesKey } from '../calibration/engine-checkpoint';
import { klDivergence } from '../gpu/reference/kl-divergence';

export interface KlSummary {
  /** Σ w·KL / Σ w over the counted rows (nats per token). */
  meanKl: number;
  /** Σ w of the counted rows. */
  weight: number;
  /** Counted rows. */
  tokens: number;
}

/** Per row of a sample's logits, the weight of the token it predicts (row t → weights[t + 1]; the last row 0). */
export function klRowWeights(sample: CalibrationSample): Float32Array {
  const out = new Float32Array(sample.ids.length);
  out.set(sample.weights.subarray(1));
  return out;
}

/** Weighted mean of per-row KL values. */
export class KlMean {
  private sum = 0;
  private weight = 0;
  private tokens = 0;

  add(kl: ArrayLike<number>, weights: ArrayLike<number>): void {
    for (let r = 0; r < weights.length; r++) {
      if (!(weights[r] > 0)) continue;
      this.sum += weights[r] * kl[r];
      this.weight += weights[r];
      this.tokens++;
    }
  }

  summary(): KlSummary {
    if (!(this.weight > 0)) throw new RangeError('no counted tokens: every held-out sample has zero weight');
    return { meanKl: this.sum / this.weight, weight: this.weight, tokens: this.tokens };
  }
}

/** Full-sequence logits [ids.length, vocab] of one model. */
export type LogitsOf = (ids: readonly number[]) => Promise<{ data: Float32Array; dims: readonly [number, number] }>;

/** Dense logits kept across candidates up to this many bytes (counted rows only); beyond it they are recomputed per call. */
export const DENSE_LOGITS_BUDGET = 256 << 20;

function gatherRows(logits: Float32Array, rows: readonly number[], vocab: number): Float32Array {
  const out = new Float32Array(rows.length * vocab);
  rows.forEach((r, i) => out.set(logits.subarray(r * vocab, (r + 1) * vocab), i * vocab));
  return out;
}

/**
 * Held-out KL on the CPU (the reference in float64), for Node and the browser's WASM path. The dense
 * logits of the counted rows of the latest sample set are kept (within `budgetBytes`), so each further
 * candidate costs one forward pass per sample.
 */
export class CpuHeldOutKl {
  private cache?: { key: string; dense: Float32Array[] };

  constructor(private readonly budgetBytes = DENSE_LOGITS_BUDGET) {}

  async evaluate(samples: readonly CalibrationSample[], dense: LogitsOf, pruned: LogitsOf, signal?: AbortSignal): Promise<KlSummary> {
    const key = samplesKey(samples);
    const cached = this.cache?.key === key ? this.cache.dense : undefined;
    const kept: Float32Array[] = [];
    let bytes = 0;
    const mean = new KlMean();
    for (const [i, sample] of samples.entries()) {
      signal?.throwIfAborted();
      const weights = klRowWeights(sample);
      const rows = [...weights.keys()].filter((r) => weights[r]! > 0);
      const p = await pruned(sample.ids);
      const vocab = p.dims[1];
      const d = cached?.[i] ?? gatherRows((await dense(sample.ids)).data, rows, vocab);
      bytes += d.byteLength;
      if (!cached && bytes <= this.budgetBytes) kept.push(d);
      const rowWeights = rows.map((r) => weights[r]!);
      mean.add(klDivergence(d, gatherRows(p.data, rows, vocab), rowWeights, vocab), rowWeights);
    }
    if (!cached && bytes <= this.budgetBytes) this.cache = { key, dense: kept };
    return mean.summary();
  }
}
