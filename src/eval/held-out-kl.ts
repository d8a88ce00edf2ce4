/**
 * Held-out KL: KL(dense ‖ pruned) of next-token distributions on calibration-style samples, the objective
 * plan search minimises. The rows that count are the ones calibration counts: the distribution at position
 * t predicts ids[t + 1] and counts with that token's weight (answer tokens, user examples), so the prompt
 * only conditions. Platform neutral; runtimes supply the logits (CPU reference here, or the GPU kernel).
 */
import { batchEnd, batchFeeds, makeBatch } from '../calibration/engine-batches';
import { type CalibrationSample } from '../core/stats';
import { samplesKey } from '../calibration/engine-checkpoint';
import { klDivergence } from '../gpu/kernels/kl-divergence/reference';
import type { DecoderIO } from '../model/decoder-io';
import { disposeAll } from '../model/decoder-io';
import type { OrtModule, OrtSession, OrtTensor } from '../model/ort';

export interface KlSummary {
  /** Σ w·KL / Σ w over the counted rows (nats per token). */
  meanKl: number;
  /** Σ w of the counted rows. */
  weight: number;
  /** Counted rows. */
  tokens: number;
  /** Per sample, its own weighted mean KL (0 for a sample without counted tokens): for paired comparisons of plans. */
  perSample: number[];
}

/** Per row of a sample's logits, the weight of the token it predicts (row t → weights[t + 1]; the last row 0). */
export function klRowWeights(sample: CalibrationSample): Float32Array {
  const out = new Float32Array(sample.ids.length);
  out.set(sample.weights.subarray(1));
  return out;
}

/** Weighted mean of per-row KL values, overall and per sample. */
export class KlMean {
  private sum = 0;
  private weight = 0;
  private tokens = 0;
  private readonly sampleSums: Float64Array;
  private readonly sampleWeights: Float64Array;

  constructor(samples: number) {
    this.sampleSums = new Float64Array(samples);
    this.sampleWeights = new Float64Array(samples);
  }

  /** `sampleOf(r)`: which sample row r belongs to. */
  add(kl: ArrayLike<number>, weights: ArrayLike<number>, sampleOf: (row: number) => number): void {
    for (let r = 0; r < weights.length; r++) {
      if (!(weights[r] > 0)) continue;
      this.sum += weights[r] * kl[r];
      this.weight += weights[r];
      this.tokens++;
      this.sampleSums[sampleOf(r)] += weights[r] * kl[r];
      this.sampleWeights[sampleOf(r)] += weights[r];
    }
  }

  summary(): KlSummary {
    if (!(this.weight > 0)) throw new RangeError('no counted tokens: every held-out sample has zero weight');
    const perSample = Array.from(this.sampleSums, (s, i) => (this.sampleWeights[i]! > 0 ? s / this.sampleWeights[i]! : 0));
    return { meanKl: this.sum / this.weight, weight: this.weight, tokens: this.tokens, perSample };
  }
}

/** Dense logits kept across candidates up to this many bytes (counted rows only); beyond it they are recomputed per call. */
export const DENSE_LOGITS_BUDGET = 256 << 20;
/** Logits one batch may produce (rows x length x vocab floats): small models run every held-out sample at once. */
const BATCH_LOGITS_BYTES = 64 << 20;

/** Held-out samples as right-padded batches: one forward pass each, rows of padding weighing 0. */
export interface KlBatch {
  samples: readonly CalibrationSample[];
  /** Index of the batch's first sample, and the padded length of its rows. */
  first: number;
  length: number;
  /** Per row of the batch's logits [rows x length], the weight of the token it predicts (klRowWeights, 0 on padding). */
  rowWeights: Float32Array;
}

export function klBatches(samples: readonly CalibrationSample[], vocab: number, maxBatch = 16): KlBatch[] {
  const maxTokens = Math.max(1, Math.floor(BATCH_LOGITS_BYTES / (4 * vocab)));
  const out: KlBatch[] = [];
  for (let start = 0; start < samples.length; ) {
    const end = batchEnd(samples, start, maxBatch, maxTokens);
    const slice = samples.slice(start, end);
    const length = Math.max(...slice.map((s) => s.ids.length));
    const rowWeights = new Float32Array(slice.length * length);
    slice.forEach((s, r) => rowWeights.set(klRowWeights(s), r * length));
    out.push({ samples: slice, first: start, length, rowWeights });
    start = end;
  }
  return out;
}

/** Runs one batch with an empty cache and hands its logits ([rows, length, vocab]) to `read` before disposing them; `extraFeeds` stay the caller's. */
export async function runBatchLogits<T>(
  ort: OrtModule,
  session: OrtSession,
  io: DecoderIO,
  samples: readonly CalibrationSample[],
  read: (logits: OrtTensor) => Promise<T>,
  extraFeeds: Record<string, OrtTensor> = {},
): Promise<T> {
  const feeds = batchFeeds(ort, io, makeBatch(samples));
  try {
    const outputs = await session.run({ ...feeds, ...extraFeeds }, ['logits']);
    try {
      return await read(outputs.logits!);
    } finally {
      disposeAll(Object.values(outputs));
    }
  } finally {
    disposeAll(Object.values(feeds));
  }
}

/** A batch's logits as float32 [rows x length, vocab]. */
export type LogitsOf = (samples: readonly CalibrationSample[]) => Promise<Float32Array>;

function gatherRows(logits: Float32Array, rows: readonly number[], vocab: number): Float32Array {
  const out = new Float32Array(rows.length * vocab);
  rows.forEach((r, i) => out.set(logits.subarray(r * vocab, (r + 1) * vocab), i * vocab));
  return out;
}

/**
 * Dense logits kept per sample set within a byte budget, the oldest set dropped first when a new one does
 * not fit: the plan search alternates between all held-out samples and a few of them.
 */
export class DenseLogitsCache<T> {
  private readonly sets = new Map<string, { dense: T[]; bytes: number }>();

  constructor(
    readonly budgetBytes: number,
    private readonly free: (dense: T[]) => void = () => {},
  ) {}

  get(key: string): T[] | undefined {
    return this.sets.get(key)?.dense;
  }

  /** Keeps `dense` (of `bytes`) when it fits the budget at all; frees what it does not keep. */
  keep(key: string, dense: T[], bytes: number): void {
    if (bytes > this.budgetBytes) return this.free(dense);
    let total = bytes;
    for (const entry of this.sets.values()) total += entry.bytes;
    for (const [k, entry] of this.sets) {
      if (total <= this.budgetBytes) break;
      this.sets.delete(k);
      this.free(entry.dense);
      total -= entry.bytes;
    }
    this.sets.set(key, { dense, bytes });
  }

  clear(): void {
    for (const entry of this.sets.values()) this.free(entry.dense);
    this.sets.clear();
  }
}

/**
 * Held-out KL on the CPU (the reference in float64), for Node and the browser's WASM path. The dense
 * logits of the counted rows are kept per sample set (within `budgetBytes`), so each further candidate
 * costs one forward pass per batch of samples.
 */
export class CpuHeldOutKl {
  private readonly cache: DenseLogitsCache<Float32Array>;

  constructor(budgetBytes = DENSE_LOGITS_BUDGET) {
    this.cache = new DenseLogitsCache(budgetBytes);
  }

  async evaluate(samples: readonly CalibrationSample[], vocab: number, dense: LogitsOf, pruned: LogitsOf, signal?: AbortSignal): Promise<KlSummary> {
    const key = samplesKey(samples);
    const cached = this.cache.get(key);
    const kept: Float32Array[] = [];
    let bytes = 0;
    const mean = new KlMean(samples.length);
    for (const [i, batch] of klBatches(samples, vocab).entries()) {
      signal?.throwIfAborted();
      const weights = batch.rowWeights;
      const rows = [...weights.keys()].filter((r) => weights[r]! > 0);
      const p = await pruned(batch.samples);
      const d = cached?.[i] ?? gatherRows(await dense(batch.samples), rows, vocab);
      bytes += d.byteLength;
      if (!cached && bytes <= this.cache.budgetBytes) kept.push(d);
      const rowWeights = rows.map((r) => weights[r]!);
      mean.add(klDivergence(d, gatherRows(p, rows, vocab), rowWeights, vocab), rowWeights, (k) => batch.first + Math.floor(rows[k]! / batch.length));
    }
    if (!cached) this.cache.keep(key, kept, bytes);
    return mean.summary();
  }
}
