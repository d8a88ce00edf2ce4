/**
 * Layer-wise calibration for sequential reconstruction: one decoder layer at a time over stored hidden
 * states, so solving layer l on the statistics of the model pruned up to l costs one pass over that layer
 * (not a pass over the whole model per layer, which made the sequential method O(layers²)).
 *
 * For each layer l, over every calibration set: the head subgraph (src/pipeline/layer-cut.ts) turns the stored
 * residual stream h[l-1] of each batch into the down_proj input X_l and the residual r_l; only layer l's
 * channel statistics and Gram are accumulated; `solve` turns them into the layer's kept channels and refit
 * down_proj rows; the tail subgraph then makes h[l] = r_l + X_l·W'_l from them, which replaces h[l-1]. The
 * stream is therefore exactly the one the whole model gives with the plan of layers < l applied, i.e. what
 * the whole-model sequential path calibrated. Platform neutral: the runtime supplies the sessions (backend)
 * and the accumulator (GPU kernels or CPU references).
 */
import { planFeeds } from '../eval/plan-model';
import { kvShape, type ModelConfig } from '../model/config';
import { disposeAll } from '../model/decoder-io';
import type { OrtModule, OrtSession, OrtTensor } from '../model/ort';
import type { LayerCut } from './layer-cut';
import type { OnnxModel } from '../onnx/model-io';
import { DataType, type ValueInfoProto } from '../onnx/proto';
import { yieldToEventLoop } from '../calibration/engine';
import type { AccumulatorFactory } from '../calibration/engine-accumulator';
import { batchEnd, checkSamples, makeBatch, type Batch } from '../calibration/engine-batches';
import { type CalibrationSample } from '../core/stats';
import { emptyCalibrationStats, type LayerStats } from '../core/stats';

/** A layer's solution: kept channels (ascending) and their refit down_proj rows [keep.length, hidden]. */
export interface LayerSolution {
  keep: readonly number[];
  down: Float32Array;
}

type LayerSession = OrtSession & { release(): Promise<void> };

export interface LayerwiseModel {
  ort: OrtModule;
  config: ModelConfig;
  cuts: readonly LayerCut[];
  /** Dense down_proj [C, hidden] per layer (the weights a solution's rows replace). */
  downs: readonly Float32Array[];
  hidden: number;
  /** A session for one cut graph; `release` is called once its outputs have been used. */
  session(graph: OnnxModel): Promise<LayerSession>;
}

export interface LayerwiseOptions {
  createAccumulator: AccumulatorFactory;
  /** Layer l's statistics (one per set, Gram included) → its solution. */
  solve: (layer: number, stats: LayerStats[]) => LayerSolution | Promise<LayerSolution>;
  /** Samples per run (default 4) and most padded tokens per run (default 4096), as the engine batches. */
  batchSize?: number;
  maxBatchTokens?: number;
  padId?: number;
  signal?: AbortSignal;
  /** Layers done out of all. */
  onProgress?: (done: number, total: number) => void;
}

/** Runs every layer in order over `sets`; the solutions go to `solve`'s caller. */
export async function runLayerwise(model: LayerwiseModel, sets: readonly (readonly CalibrationSample[])[], options: LayerwiseOptions): Promise<void> {
  const batches = sets.map((samples) => {
    checkSamples(samples, model.config.max_position_embeddings);
    if (samples.length === 0) throw new Error('No calibration samples were given.');
    const out: Batch[] = [];
    for (let start = 0; start < samples.length; ) {
      const end = batchEnd(samples, start, options.batchSize ?? 4, options.maxBatchTokens ?? 4096);
      out.push(makeBatch(samples.slice(start, end), options.padId));
      start = end;
    }
    return out;
  });
  // The residual stream entering the current layer, per set and batch (none before layer 0).
  let states: (OrtTensor | undefined)[][] = batches.map((b) => b.map(() => undefined));
  // The session that made `states`: onnxruntime-web's GPU-buffer outputs die with their session, so a
  // session is released only once its outputs have been read by the next one.
  let statesSession: LayerSession | undefined;
  const total = model.cuts.length;
  try {
    for (const cut of model.cuts) {
      const head = await model.session(cut.head);
      try {
        const { stats, parts } = await runHeads(head, model, cut, batches, states, options);
        disposeAll(states.flat().filter((t): t is OrtTensor => t !== undefined));
        states = batches.map((b) => b.map(() => undefined));
        await statesSession?.release();
        statesSession = undefined;
        try {
          const solution = await options.solve(cut.layer, stats);
          statesSession = await model.session(cut.tail);
          states = await runTails(statesSession, model, cut, parts, solution, options.signal);
        } finally {
          disposeAll(parts.flat().flatMap((p) => [p.x, p.r]));
        }
      } finally {
        await head.release();
      }
      options.onProgress?.(cut.layer + 1, total);
    }
  } finally {
    disposeAll(states.flat().filter((t): t is OrtTensor => t !== undefined));
    await statesSession?.release();
  }
}

interface HeadOutput {
  x: OrtTensor;
  r: OrtTensor;
}

async function runHeads(
  session: LayerSession,
  model: LayerwiseModel,
  cut: LayerCut,
  batches: readonly Batch[][],
  states: readonly (OrtTensor | undefined)[][],
  options: LayerwiseOptions,
): Promise<{ stats: LayerStats[]; parts: HeadOutput[][] }> {
  const parts: HeadOutput[][] = [];
  const stats: LayerStats[] = [];
  try {
    for (const [s, setBatches] of batches.entries()) {
      const setParts: HeadOutput[] = [];
      parts.push(setParts);
      let accumulator: ReturnType<AccumulatorFactory> | undefined;
      try {
        for (const [b, batch] of setBatches.entries()) {
          await checkpoint(options.signal);
          const feeds = headFeeds(model, cut, batch);
          try {
            const state = states[s]![b];
            const out = await session.run({ ...feeds, ...(cut.stateIn && state && { [cut.stateIn]: state }) }, [cut.downInput, cut.residual]);
            const x = out[cut.downInput]!;
            setParts.push({ x, r: out[cut.residual]! });
            const channels = x.dims.at(-1)!;
            accumulator ??= options.createAccumulator({ channels: [channels], channelStats: true, gramLayers: [0], initial: emptyCalibrationStats([channels]) });
            await accumulator.add(new Map([[0, x]]), batch.weights);
          } finally {
            disposeAll(Object.values(feeds));
          }
        }
        stats.push((await accumulator!.read())[0]!);
      } finally {
        accumulator?.dispose();
      }
    }
    return { stats, parts };
  } catch (error) {
    disposeAll(parts.flat().flatMap((p) => [p.x, p.r]));
    throw error;
  }
}

async function runTails(
  session: LayerSession,
  model: LayerwiseModel,
  cut: LayerCut,
  parts: readonly HeadOutput[][],
  solution: LayerSolution,
  signal?: AbortSignal,
): Promise<OrtTensor[][]> {
  const l = cut.layer;
  // A one-layer plan over this layer's inputs: the same weights the whole-model path feeds.
  const planned = { model: cut.tail, layers: [cut.plan], downs: [model.downs[l]!], hidden: model.hidden };
  const weights = planFeeds(model.ort, planned, { keep: [[...solution.keep]], downWeights: [solution.down] });
  const next: OrtTensor[][] = [];
  try {
    for (const setParts of parts) {
      const out: OrtTensor[] = [];
      next.push(out);
      for (const { x, r } of setParts) {
        await checkpoint(signal);
        const result = await session.run({ [cut.downInput]: x, [cut.residual]: r, ...weights }, [cut.stateOut]);
        out.push(result[cut.stateOut]!);
      }
    }
    return next;
  } catch (error) {
    disposeAll(next.flat());
    throw error;
  } finally {
    disposeAll(Object.values(weights));
  }
}

async function checkpoint(signal?: AbortSignal): Promise<void> {
  // Lets a worker see a cancel request between runs (see yieldToEventLoop).
  await yieldToEventLoop();
  signal?.throwIfAborted();
}

/** The graph inputs a head reads, for one batch: token ids, mask, positions, and an empty past. */
function headFeeds(model: LayerwiseModel, cut: LayerCut, batch: Batch): Record<string, OrtTensor> {
  const { ort } = model;
  const dims = [batch.rows, batch.length];
  const ints = (values: BigInt64Array, input: ValueInfoProto) =>
    input.type?.tensor_type?.elem_type === DataType.INT32 ? new ort.Tensor('int32', Int32Array.from(values, Number), dims) : new ort.Tensor('int64', values, dims);
  const feeds: Record<string, OrtTensor> = {};
  for (const input of cut.graphInputs) {
    const name = input.name!;
    if (name === 'input_ids') feeds[name] = ints(batch.ids, input);
    else if (name === 'attention_mask') feeds[name] = ints(batch.attentionMask, input);
    else if (name === 'position_ids') feeds[name] = ints(batch.positionIds, input);
    else if (name.startsWith('past_')) feeds[name] = emptyPastTensor(model, input, batch.rows);
    else throw new Error(`layer ${cut.layer} reads the graph input "${name}", which calibration does not know how to fill`);
  }
  return feeds;
}

/** [rows, kvHeads, 0, headDim], dims as the graph declares them (config.json where symbolic). */
function emptyPastTensor(model: LayerwiseModel, input: ValueInfoProto, rows: number): OrtTensor {
  const declared = (input.type?.tensor_type?.shape?.dim ?? []).map((d) => (d.dim_value === undefined ? undefined : Number(d.dim_value)));
  const fromConfig = kvShape(model.config);
  const dims = [rows, declared[1] ?? fromConfig.kvHeads, 0, declared[3] ?? fromConfig.headDim];
  return input.type?.tensor_type?.elem_type === DataType.FLOAT16
    ? new model.ort.Tensor('float16', new Uint16Array(0), dims)
    : new model.ort.Tensor('float32', new Float32Array(0), dims);
}
