import { eosTokenIds, type ModelConfig } from './config';
import { describeDecoder, disposeAll, emptyPast, tokenFeeds, type DecoderIO } from './decoder-io';
import { lastPositionLogits, readFloat32 } from './logits';
import type { OrtModule, OrtSession, OrtTensor } from './ort';
import { createRng, sampleToken, type SamplingOptions } from './sampling';

export interface GenerateOptions extends SamplingOptions {
  maxNewTokens: number;
  /** Seeds the sampler (only used when temperature > 0). */
  seed?: number;
  /** Defaults to the eos ids of config.json. */
  stopTokenIds?: readonly number[];
  /** false recomputes the whole sequence every step: slow, but a reference for the cached path. */
  useCache?: boolean;
  signal?: AbortSignal;
  /** Called with each new token (stop tokens excluded) as soon as it is chosen. */
  onToken?: (id: number, index: number) => void;
}

export type StopReason = 'eos' | 'max-tokens' | 'aborted';

export interface GenerateResult {
  /** New tokens, without the prompt and without the stop token. */
  tokens: number[];
  stopReason: StopReason;
}

/** Autoregressive generation with a KV cache; `ort` is onnxruntime-web or onnxruntime-node. */
export async function generate(
  ort: OrtModule,
  session: OrtSession,
  config: ModelConfig,
  promptIds: readonly number[],
  options: GenerateOptions,
): Promise<GenerateResult> {
  if (promptIds.length === 0) throw new Error('The prompt is empty: it needs at least one token (e.g. BOS).');
  const io = describeDecoder(session, config);
  const stopIds = new Set(options.stopTokenIds ?? eosTokenIds(config));
  const rng = createRng(options.seed ?? 0);
  const contextLimit = config.max_position_embeddings ?? Infinity;
  const maxNewTokens = Math.min(options.maxNewTokens, contextLimit - promptIds.length);
  const useCache = options.useCache ?? true;

  const tokens: number[] = [];
  let past = emptyPast(ort, io);
  let cachedLength = 0;
  try {
    while (tokens.length < maxNewTokens) {
      if (options.signal?.aborted) return { tokens, stopReason: 'aborted' };
      const sequence = [...promptIds, ...tokens];
      let logits: Float32Array;
      if (useCache) {
        // The first step feeds the whole prompt, later steps only the tokens the cache has not seen.
        const feeds = tokenFeeds(ort, io, sequence.slice(cachedLength), cachedLength);
        const step = await runCached(session, io, feeds, past);
        disposeAll(Object.values(past));
        past = step.present;
        cachedLength = sequence.length;
        logits = step.logits;
      } else {
        logits = await runFull(ort, session, io, sequence, lastPositionLogits);
      }
      const next = sampleToken(logits, options, rng);
      if (stopIds.has(next)) return { tokens, stopReason: 'eos' };
      tokens.push(next);
      options.onToken?.(next, tokens.length - 1);
    }
    return { tokens, stopReason: 'max-tokens' };
  } finally {
    disposeAll(Object.values(past));
  }
}

/** One full-sequence run with an empty cache; returns float32 logits [seq, vocab] flattened row-major. */
export async function forwardLogits(
  ort: OrtModule,
  session: OrtSession,
  ids: readonly number[],
  config?: ModelConfig,
): Promise<{ data: Float32Array; dims: [number, number] }> {
  const io = describeDecoder(session, config);
  return runFull(ort, session, io, ids, async (logits) => ({
    // A copy: the tensor (and on some backends its buffer) is released when this returns.
    data: (await readFloat32(logits)).slice(),
    dims: [ids.length, logits.dims[logits.dims.length - 1]],
  }));
}

/** Runs `ids` with an empty cache, fetching only the logits, and reads them before the outputs are disposed. */
async function runFull<T>(
  ort: OrtModule,
  session: OrtSession,
  io: DecoderIO,
  ids: readonly number[],
  read: (logits: OrtTensor) => Promise<T>,
): Promise<T> {
  const feeds = { ...tokenFeeds(ort, io, ids, 0), ...emptyPast(ort, io) };
  try {
    const outputs = await session.run(feeds, ['logits']);
    try {
      return await read(outputs.logits);
    } finally {
      disposeAll(Object.values(outputs));
    }
  } finally {
    disposeAll(Object.values(feeds));
  }
}

async function runCached(
  session: OrtSession,
  io: DecoderIO,
  feeds: Record<string, OrtTensor>,
  past: Record<string, OrtTensor>,
): Promise<{ logits: Float32Array; present: Record<string, OrtTensor> }> {
  const outputs = await session.run({ ...feeds, ...past });
  disposeAll(Object.values(feeds));
  const present: Record<string, OrtTensor> = {};
  for (const [pastName, presentName] of io.pastToPresent) present[pastName] = outputs[presentName];
  const kept = new Set(Object.values(present));
  const logits = await lastPositionLogits(outputs.logits);
  disposeAll(Object.values(outputs).filter((tensor) => !kept.has(tensor)));
  return { logits, present };
}
