/**
 * The calibration engine: runs calibration samples through an instrumented model in padded batches,
 * hands each batch's down_proj inputs to an accumulator (WGSL kernels on the GPU, or the float64 CPU
 * references), disposes ORT's outputs, and returns per-layer channel statistics. Reports progress, stops
 * between batches when its signal aborts (returning a checkpoint to resume from), and resumes from one.
 *
 * Gram matrices (optional) are planned against a memory budget: pass 0 accumulates the channel
 * statistics of every layer and the Gram matrices of the first group of layers; each further pass runs
 * all samples again for the next group (see gpu/kernels/gram/gram-plan.ts).
 */
import { planGramPasses } from '../gpu/kernels/gram/gram-plan';
import type { ModelConfig } from '../model/config';
import { describeDecoder, disposeAll, type DecoderIO } from '../model/decoder-io';
import type { OrtModule, OrtSession, OrtTensor } from '../model/ort';
import type { AccumulatorFactory, StatsAccumulator } from './engine-accumulator';
import { batchEnd, batchFeeds, checkSamples, makeBatch } from './engine-batches';
import { type CalibrationSample } from '../core/stats';
import { samplesKey, type CalibrationCheckpoint } from './engine-checkpoint';
import { emptyCalibrationStats, type CalibrationStats } from '../core/stats';

/** An instrumented model: its session and, per layer in order, the graph output holding the down_proj input. */
export interface CalibrationModel {
  ort: OrtModule;
  session: OrtSession;
  config?: ModelConfig;
  outputs: readonly { layer: number; downInput: string }[];
}

export interface CalibrationProgress {
  /** Pass (0-based) and passes: more than one only when Gram matrices do not fit at once. */
  pass: number;
  passes: number;
  /** Samples and tokens done in this pass (resumed work included), out of all samples and their tokens. */
  samples: number;
  totalSamples: number;
  tokens: number;
  totalTokens: number;
  /** Over the batches this call has run. */
  tokensPerSecond: number;
  /** Seconds left for every remaining pass; undefined before the first batch has been timed. */
  etaSeconds: number | undefined;
  /** With Gram matrices: their memory plan and what it costs (gpu/kernels/gram/gram-plan.ts), for the user to see. */
  gramPlan?: string;
}

export interface CalibrationOptions {
  /** Samples per run (default 4). */
  batchSize?: number;
  /** Most padded tokens (rows x longest sample) per run (default 4096); a longer single sample still runs alone. */
  maxBatchTokens?: number;
  /** Accumulate Gram matrices too, within this many bytes of accumulators at a time. */
  gram?: { budgetBytes: number; bytesPerValue?: number };
  /** Token id written into padding (masked, so any valid id; default 0). */
  padId?: number;
  signal?: AbortSignal;
  onProgress?: (progress: CalibrationProgress) => void;
  /** Continue the run this checkpoint came from (same samples; its Gram plan is kept). */
  resume?: CalibrationCheckpoint;
  /**
   * Called with a checkpoint every `every` batches (not after the last one), so a run the page loses
   * (a reload, a crash) can resume from its last saved checkpoint, not only from a cancel.
   */
  checkpoints?: { every: number; save: (checkpoint: CalibrationCheckpoint) => void };
  /** Constant inputs added to every batch's feeds (plan weights); the caller owns and disposes them. */
  extraFeeds?: Record<string, OrtTensor>;
}

export type CalibrationResult =
  | { status: 'done'; stats: CalibrationStats }
  | { status: 'cancelled'; checkpoint: CalibrationCheckpoint };

export async function runCalibration(
  model: CalibrationModel,
  samples: readonly CalibrationSample[],
  createAccumulator: AccumulatorFactory,
  options: CalibrationOptions = {},
): Promise<CalibrationResult> {
  checkSamples(samples, model.config?.max_position_embeddings);
  if (samples.length === 0) throw new Error('No calibration samples were given.');
  if (model.outputs.length === 0) throw new Error('The instrumented model has no down_proj outputs.');
  const key = samplesKey(samples);
  const { resume } = options;
  if (resume && (resume.samplesKey !== key || resume.totalSamples !== samples.length)) {
    throw new Error('This checkpoint belongs to a different calibration set: it cannot be resumed with these samples.');
  }
  // A checkpoint taken before the first batch holds nothing: start afresh.
  const run = new CalibrationRun(model, samples, createAccumulator, options, key, resume?.stats.layers.length ? resume : undefined);
  return run.execute();
}

/** One call of runCalibration: where it stands, and the steps of a pass. */
class CalibrationRun {
  private readonly io: DecoderIO;
  private readonly allTokens: number;
  private readonly started = performance.now();
  private tokensThisCall = 0;
  private batchesThisCall = 0;
  /** Unknown until the first outputs give the channel counts (or a checkpoint brings them). */
  private stats: CalibrationStats | undefined;
  private gramPasses: number[][] | undefined;
  private gramPlan: string | undefined;
  private pass: number;
  private next: number;

  constructor(
    private readonly model: CalibrationModel,
    private readonly samples: readonly CalibrationSample[],
    private readonly createAccumulator: AccumulatorFactory,
    private readonly options: CalibrationOptions,
    private readonly key: string,
    resumed: CalibrationCheckpoint | undefined,
  ) {
    this.io = describeDecoder(model.session, model.config);
    this.allTokens = samples.reduce((n, s) => n + s.ids.length, 0);
    this.stats = resumed?.stats;
    // A resumed run keeps its checkpoint's passes; the message is recomputed for the user to see.
    this.gramPasses = resumed?.gramPasses;
    if (resumed) this.gramPlan = this.planGram(resumed.stats.layers.map((l) => l.sum.length))?.message;
    this.pass = resumed?.pass ?? 0;
    this.next = resumed?.nextSample ?? 0;
  }

  private get passes(): number {
    return Math.max(1, this.gramPasses?.length ?? 0);
  }

  async execute(): Promise<CalibrationResult> {
    for (; this.pass < this.passes; this.pass++, this.next = 0) {
      let accumulator: StatsAccumulator | undefined;
      try {
        // Pass 0 needs every layer (channel statistics); later passes only their Gram layers.
        const wanted = this.pass === 0 ? this.model.outputs : this.model.outputs.filter((o) => this.gramPasses![this.pass]!.includes(o.layer));
        while (this.next < this.samples.length) {
          if (this.options.signal?.aborted) return { status: 'cancelled', checkpoint: await this.checkpoint(accumulator) };
          accumulator = await this.runBatch(wanted, accumulator);
          this.reportProgress();
          await this.saveCheckpoint(accumulator);
          await yieldToEventLoop();
        }
        if (accumulator) this.stats = { ...this.stats!, layers: await accumulator.read() };
      } finally {
        accumulator?.dispose();
      }
    }
    return { status: 'done', stats: this.stats! };
  }

  /** Runs the batch at `next` and adds its activations; returns the pass's accumulator (made on the first batch). */
  private async runBatch(wanted: CalibrationModel['outputs'], accumulator: StatsAccumulator | undefined): Promise<StatsAccumulator> {
    const { model, options } = this;
    const end = batchEnd(this.samples, this.next, options.batchSize ?? 4, options.maxBatchTokens ?? 4096);
    const batch = makeBatch(this.samples.slice(this.next, end), options.padId);
    const feeds = batchFeeds(model.ort, this.io, batch);
    let outputs: Record<string, OrtTensor> = {};
    try {
      outputs = await model.session.run({ ...feeds, ...options.extraFeeds }, wanted.map((o) => o.downInput));
      if (!this.stats) this.start(model.outputs.map((o) => outputs[o.downInput]!.dims.at(-1)!));
      accumulator ??= this.createAccumulator({
        channels: this.stats!.layers.map((l) => l.sum.length),
        channelStats: this.pass === 0,
        gramLayers: this.gramPasses![this.pass] ?? [],
        initial: this.stats!,
      });
      await accumulator.add(new Map(wanted.map((o) => [o.layer, outputs[o.downInput]!])), batch.weights);
    } finally {
      // Queue order keeps this safe for GPU outputs: our kernels were submitted before ORT reuses the buffers.
      disposeAll(Object.values(outputs));
      disposeAll(Object.values(feeds));
    }
    if (this.pass === 0) this.stats = { ...this.stats!, tokens: this.stats!.tokens + batch.tokens, samples: this.stats!.samples + batch.rows };
    this.next = end;
    this.tokensThisCall += batch.tokens;
    return accumulator;
  }

  /** Empty statistics and the Gram plan, once the first outputs tell the channel counts. */
  private start(channels: number[]): void {
    this.stats = emptyCalibrationStats(channels);
    const plan = this.planGram(channels);
    this.gramPasses = plan?.passes ?? [];
    this.gramPlan = plan?.message;
  }

  private planGram(channels: number[]) {
    const { gram } = this.options;
    return gram ? planGramPasses(channels, gram.budgetBytes, gram.bytesPerValue) : undefined;
  }

  private async saveCheckpoint(accumulator: StatsAccumulator): Promise<void> {
    const { checkpoints } = this.options;
    this.batchesThisCall++;
    if (!checkpoints || this.batchesThisCall % checkpoints.every !== 0 || (this.next >= this.samples.length && this.pass === this.passes - 1)) return;
    checkpoints.save(await this.checkpoint(accumulator));
  }

  private async checkpoint(accumulator: StatsAccumulator | undefined): Promise<CalibrationCheckpoint> {
    const stats = this.stats && { ...this.stats, layers: accumulator ? await accumulator.read() : this.stats.layers };
    return {
      version: 1,
      samplesKey: this.key,
      totalSamples: this.samples.length,
      gramPasses: this.gramPasses ?? [],
      pass: this.pass,
      nextSample: this.next,
      stats: stats ?? { layers: [], tokens: 0, samples: 0 },
    };
  }

  private reportProgress(): void {
    const { onProgress } = this.options;
    if (!onProgress) return;
    let done = 0;
    for (let i = 0; i < this.next; i++) done += this.samples[i]!.ids.length;
    const seconds = (performance.now() - this.started) / 1000;
    const rate = seconds > 0 ? this.tokensThisCall / seconds : 0;
    const left = this.allTokens - done + (this.passes - this.pass - 1) * this.allTokens;
    onProgress({
      pass: this.pass,
      passes: this.passes,
      samples: this.next,
      totalSamples: this.samples.length,
      tokens: done,
      totalTokens: this.allTokens,
      tokensPerSecond: rate,
      etaSeconds: rate > 0 ? left / rate : undefined,
      ...(this.gramPlan ? { gramPlan: this.gramPlan } : {}),
    });
  }
}

/**
 * Lets queued events run between batches: an ORT run can complete without ever returning to the event
 * loop (WASM, or WebGPU work that is only submitted), and a worker would then see a cancel request only
 * after the last batch. A MessageChannel round trip yields without setTimeout's 4 ms clamping.
 */
export function yieldToEventLoop(): Promise<void> {
  return new Promise((resolve) => {
    const { port1, port2 } = new MessageChannel();
    port1.onmessage = () => {
      port1.close();
      resolve();
    };
    port2.postMessage(null);
  });
}
