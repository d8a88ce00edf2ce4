import { kvShape, type ModelConfig } from './config';
import type { OrtModule, OrtSession, OrtTensor } from './ort';

const PAST_NAME = /^past_key_values\.(\d+)\.(key|value)$/;

/** How to feed one decoder graph, read from the inputs the session declares (exports differ in which they have). */
export interface DecoderIO {
  /** Past input name -> the output name that holds its next value. */
  pastToPresent: Map<string, string>;
  pastType: 'float32' | 'float16';
  kvHeads: number;
  headDim: number;
  hasPositionIds: boolean;
  hasAttentionMask: boolean;
}

export function describeDecoder(session: OrtSession, config?: ModelConfig): DecoderIO {
  const pastNames = session.inputNames.filter((name) => PAST_NAME.test(name));
  const pastToPresent = new Map(pastNames.map((name) => [name, name.replace('past_key_values.', 'present.')]));
  const missing = [...pastToPresent.values()].filter((name) => !session.outputNames.includes(name));
  if (missing.length) throw new Error(`The graph has past inputs but no outputs ${missing.join(', ')}.`);

  // Prefer the graph's own declaration; fall back to config.json for exports with symbolic head dims.
  const meta = session.inputMetadata?.find((m) => m.name === pastNames[0]);
  const dims = meta?.isTensor ? meta.shape : [];
  const fromConfig = config ? kvShape(config) : undefined;
  const kvHeads = typeof dims[1] === 'number' ? dims[1] : fromConfig?.kvHeads;
  const headDim = typeof dims[3] === 'number' ? dims[3] : fromConfig?.headDim;
  if (pastNames.length && (kvHeads === undefined || headDim === undefined)) {
    throw new Error('Cannot tell the KV cache shape: the graph does not declare it and no config.json was given.');
  }
  return {
    pastToPresent,
    pastType: meta?.isTensor && meta.type === 'float16' ? 'float16' : 'float32',
    kvHeads: kvHeads ?? 0,
    headDim: headDim ?? 0,
    hasPositionIds: session.inputNames.includes('position_ids'),
    hasAttentionMask: session.inputNames.includes('attention_mask'),
  };
}

/** Zero-length past tensors ([batch, kvHeads, 0, headDim]) for the first step or an uncached run. */
export function emptyPast(ort: OrtModule, io: DecoderIO, batch = 1): Record<string, OrtTensor> {
  const dims = [batch, io.kvHeads, 0, io.headDim];
  const make = () =>
    io.pastType === 'float16'
      ? new ort.Tensor('float16', new Uint16Array(0), dims)
      : new ort.Tensor('float32', new Float32Array(0), dims);
  return Object.fromEntries([...io.pastToPresent.keys()].map((name) => [name, make()]));
}

/** input_ids, attention_mask and position_ids for `ids` following `pastLength` cached positions. */
export function tokenFeeds(
  ort: OrtModule,
  io: DecoderIO,
  ids: readonly number[],
  pastLength: number,
): Record<string, OrtTensor> {
  return rowFeeds(ort, io, [ids], pastLength);
}

/** The same for several rows of equal length, each following `pastLength` cached positions. */
export function rowFeeds(ort: OrtModule, io: DecoderIO, rows: readonly (readonly number[])[], pastLength: number): Record<string, OrtTensor> {
  const length = rows[0]!.length;
  if (rows.some((r) => r.length !== length)) throw new RangeError('rows of one run must have the same length');
  const feeds: Record<string, OrtTensor> = {
    input_ids: new ort.Tensor('int64', BigInt64Array.from(rows.flat(), BigInt), [rows.length, length]),
  };
  const total = pastLength + length;
  if (io.hasAttentionMask) {
    feeds.attention_mask = new ort.Tensor('int64', new BigInt64Array(rows.length * total).fill(1n), [rows.length, total]);
  }
  if (io.hasPositionIds) {
    const positions = BigInt64Array.from({ length: rows.length * length }, (_, i) => BigInt(pastLength + (i % length)));
    feeds.position_ids = new ort.Tensor('int64', positions, [rows.length, length]);
  }
  return feeds;
}

export function disposeAll(tensors: Iterable<OrtTensor>): void {
  for (const tensor of tensors) tensor.dispose?.();
}
