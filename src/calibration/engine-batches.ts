/** Calibration samples grouped into padded batches, and the feeds that run one batch. */
import { emptyPast, type DecoderIO } from '../model/decoder-io';
import type { OrtModule, OrtTensor } from '../model/ort';
import type { CalibrationSample } from '../core/stats';

/** Samples [start, end) as one right-padded batch [rows, length]. */
export interface Batch {
  rows: number;
  length: number;
  ids: BigInt64Array;
  attentionMask: BigInt64Array;
  positionIds: BigInt64Array;
  /** Per token [rows * length]; 0 on padding, so the kernels skip it. */
  weights: Float32Array;
  /** Real (non-padding) tokens. */
  tokens: number;
}

export function checkSamples(samples: readonly CalibrationSample[], maxPositions = Infinity): void {
  samples.forEach((s, i) => {
    if (s.ids.length === 0) throw new RangeError(`calibration sample ${i} has no tokens`);
    if (s.weights.length !== s.ids.length) throw new RangeError(`calibration sample ${i} has ${s.ids.length} tokens but ${s.weights.length} weights`);
    if (s.ids.length > maxPositions) throw new RangeError(`calibration sample ${i} has ${s.ids.length} tokens, more than the model's ${maxPositions} positions`);
  });
}

/**
 * Where the batch starting at `start` ends: at most `batchSize` samples and at most `maxTokens` padded
 * tokens (rows x longest sample), but always at least one sample.
 */
export function batchEnd(samples: readonly CalibrationSample[], start: number, batchSize: number, maxTokens: number): number {
  let end = start + 1;
  let longest = samples[start]!.ids.length;
  while (end < samples.length && end - start < batchSize) {
    const next = Math.max(longest, samples[end]!.ids.length);
    if (next * (end - start + 1) > maxTokens) break;
    longest = next;
    end++;
  }
  return end;
}

/**
 * Right padding: with causal attention a real token never sees the padding after it, and the attention
 * mask hides it as well; position ids count from 0 in every row.
 */
export function makeBatch(samples: readonly CalibrationSample[], padId = 0): Batch {
  const rows = samples.length;
  const length = Math.max(...samples.map((s) => s.ids.length));
  const size = rows * length;
  const batch: Batch = {
    rows,
    length,
    ids: new BigInt64Array(size).fill(BigInt(padId)),
    attentionMask: new BigInt64Array(size),
    positionIds: new BigInt64Array(size),
    weights: new Float32Array(size),
    tokens: 0,
  };
  samples.forEach((sample, r) => {
    const row = r * length;
    sample.ids.forEach((id, t) => {
      batch.ids[row + t] = BigInt(id);
      batch.attentionMask[row + t] = 1n;
    });
    for (let t = 0; t < length; t++) batch.positionIds[row + t] = BigInt(t);
    batch.weights.set(sample.weights, row);
    batch.tokens += sample.ids.length;
  });
  return batch;
}

/** The graph's inputs for one batch with an empty KV cache ([rows, kvHeads, 0, headDim] past tensors). */
export function batchFeeds(ort: OrtModule, io: DecoderIO, batch: Batch): Record<string, OrtTensor> {
  const dims = [batch.rows, batch.length];
  const feeds: Record<string, OrtTensor> = { input_ids: new ort.Tensor('int64', batch.ids, dims) };
  if (io.hasAttentionMask) feeds.attention_mask = new ort.Tensor('int64', batch.attentionMask, dims);
  if (io.hasPositionIds) feeds.position_ids = new ort.Tensor('int64', batch.positionIds, dims);
  return { ...feeds, ...emptyPast(ort, io, batch.rows) };
}
