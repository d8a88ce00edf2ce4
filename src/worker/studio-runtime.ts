/**
 * The persona pipeline's runtime in the browser (the studio's worker): the same PipelineRuntime seam the
 * CLI's Node runtime implements, on onnxruntime-web.
 *
 * Where each part runs, and why: answer synthesis, sensitivity hidden states, chat and tokens/s run on
 * WASM sessions, because token-by-token generation of a tiny model is dominated by per-step dispatch
 * overhead, which WebGPU pays many times over (on SwiftShader ~50x slower than WASM for stories260K).
 * Calibration (the GPU accumulators over the instrumented graph) and plan NLL (the token-NLL kernel on
 * gpu-buffer logits) run on the chosen backend: WebGPU when there is one, else WASM with the CPU references.
 */
import * as ort from 'onnxruntime-web/webgpu';
import { ortMatMul } from '../model/ort-matmul';
import type { SynthesisSettings } from '../calibration/calibration-set';
import type { CalibrationSample } from '../core/stats';
import type { AccumulatorFactory } from '../calibration/engine-accumulator';
import { createCpuAccumulator } from '../calibration/engine-accumulator-cpu';
import { createGpuAccumulator } from '../calibration/engine-accumulator-gpu';
import { instrumentGraphBytes } from '../calibration/engine-model';
import { runLayerwise } from '../pipeline/layerwise';
import { samplesKey, type CalibrationCheckpoint } from '../calibration/engine-checkpoint';
import type { CalibrationStats } from '../core/stats';
import type { PlanWeights } from '../eval/apply-plan';
import { CpuHeldOutKl, runBatchLogits, type KlSummary } from '../eval/held-out-kl';
import { planCalibrationModel, planFeeds, planInputsModel, type PlanInputsModel } from '../eval/plan-model';
import { sequenceNll, summariseNll, type NllSummary } from '../eval/nll';
import { createGpuContext, type GpuContext } from '../gpu/context';
import { GpuHeldOutKl } from '../eval/held-out-kl-gpu';
import { gpuTensorOf } from '../gpu/ort-tensor';
import { bundledShaders } from '../gpu/shaders-bundled';
import { tokenNllOnGpu } from '../gpu/kernels/token-nll/token-nll';
import type { ModelBundle } from '../model/bundle';
import { eosTokenIds } from '../model/config';
import { describeDecoder, disposeAll, emptyPast, tokenFeeds } from '../model/decoder-io';
import { forwardLogits, generate } from '../model/generate';
import { lastTokenHiddenStates } from '../calibration/hidden-states';
import { readFloat32 } from '../model/logits';
import { loadTokenizer, type TextTokenizer } from '../model/tokenizer';
import { discoverFfns, type FfnLayer } from '../onnx/ffn-discovery';
import { cutLayers, LayerCutError, type LayerCut } from '../pipeline/layer-cut';
import { graphFacts } from '../onnx/graph-facts';
import { checkConfigAgainstGraph } from '../model/config-check';
import { encodeModelPieces } from '../onnx/model-pieces';
import { decodeModel, encodeModel, tensorBytes, type OnnxModel } from '../onnx/model-io';
import { quantizeMatMulsInt4, type Int4QuantizeOptions } from '../onnx/quantize-int4';
import { countParameters, pruneModel } from '../onnx/prune-export';
import type { InstrumentedOutput } from '../onnx/instrument';
import { readFfnWeights } from '../pruning/ffn-weights';
import type { ExportRequest, ExportSummary, PipelineRuntime, RuntimeCalibrateOptions, RuntimeLayerwiseOptions } from '../pipeline/runtime';
import type { LayerWeights } from '../pruning/scoring';
import type { Backend } from '../gpu/backend';
import { WorkerCalibration } from './calibration';
import { buildExportFiles, type ExportedFolder, type PrunedModel } from './studio-export';
import { ffnChannelCosts, planTotals, type ChannelCost, type PlanTotals } from './studio-plan';
import { createSession } from './session';

/** A pruned model built in memory: its files (graph + external data) and a session on each path. */
export interface StudioRuntimeHooks {
  /** Each synthesised answer (decoded), for the live preview. */
  onAnswer?: (text: string, tokens: number) => void;
  /** A calibration's checkpoint to resume from (same samples): every few batches, and when cancelled. */
  onCheckpoint?: (checkpoint: CalibrationCheckpoint) => void;
  /** A calibration starts from a saved checkpoint instead of the beginning. */
  onResume?: (checkpoint: CalibrationCheckpoint) => void;
  /** Every finished calibration, with the samples it ran over. */
  onCalibrated?: (samples: readonly CalibrationSample[], stats: CalibrationStats, accumulator: 'gpu' | 'cpu') => void;
}

/** Batches between saved checkpoints: each costs a read of the accumulators. */
const CHECKPOINT_EVERY_BATCHES = 2;

const concat = (parts: readonly Uint8Array[], size: number): Uint8Array => {
  const out = new Uint8Array(size);
  let offset = 0;
  for (const p of parts) {
    out.set(p, offset);
    offset += p.byteLength;
  }
  return out;
};

/** The dense model with its tensors' bytes in memory, and its FFN layers. */
function decodeBundleModel(bundle: ModelBundle): { model: OnnxModel; ffns: FfnLayer[] } {
  const files = new Map(bundle.externalData.map((f) => [f.path, f.data]));
  const model = decodeModel(bundle.modelBytes, (location) => files.get(location));
  return { model, ffns: discoverFfns(model) };
}

export class BrowserPipelineRuntime implements PipelineRuntime {
  readonly tokenizer: TextTokenizer;
  private readonly calibration = new WorkerCalibration(ort);
  private readonly checkpoints = new Map<string, CalibrationCheckpoint>();
  private decoded?: { model: OnnxModel; ffns: FfnLayer[] };
  private costs?: ChannelCost[];
  /** Sequential reconstruction's calibration: one instrumented session whose down_proj weights are inputs. */
  private planned?: { calibration: WorkerCalibration; inputs: PlanInputsModel };
  private hiddenSession?: Promise<{ session: ort.InferenceSession; outputs: InstrumentedOutput[] }>;
  private cuts?: LayerCut[];
  private gpu?: GpuContext;
  /** Held-out KL: one session of the dense graph with its down_proj weights as inputs, on the backend. */
  private klModel?: Promise<{ session: ort.InferenceSession; inputs: PlanInputsModel; onGpu: boolean }>;
  private readonly klCpu = new CpuHeldOutKl();
  private readonly klGpu = new GpuHeldOutKl();
  /**
   * Reconstruction's float64 products: onnxruntime-web's WASM MatMul where the bundle has the float64 kernel;
   * the WebGPU bundle loaded here has none today, and then the JS product serves (ortMatMul falls back).
   */
  readonly matmul = ortMatMul(ort, { executionProviders: ['wasm'] });
  hooks: StudioRuntimeHooks = {};
  /** Fields of config.json the graph contradicted (replaced by the graph's values). */
  configWarnings: string[] = [];
  /** Exported folders by target name (exportModel). */
  readonly exports = new Map<string, ExportedFolder>();

  private constructor(
    readonly bundle: ModelBundle,
    readonly backend: Backend,
    /** Dense model on WASM: synthesis, chat. */
    readonly cpuSession: ort.InferenceSession,
    /** Dense model on the backend this model runs on ("Try the model", dense NLL on the GPU). */
    readonly backendSession: ort.InferenceSession,
  ) {
    this.tokenizer = loadTokenizer(bundle.tokenizerJson, bundle.tokenizerConfig);
  }

  /** `backend` is the one asked for; the runtime's is the one this model really runs on (fp16 may need WASM). */
  static async open(bundle: ModelBundle, backend: Backend): Promise<BrowserPipelineRuntime> {
    // config.json is checked against the graph first, so generation and every export use the graph's true shape.
    const decoded = decodeBundleModel(bundle);
    const { config, warnings } = checkConfigAgainstGraph(bundle.config, graphFacts(decoded.model, decoded.ffns));
    const checked = { ...bundle, config };
    const onBackend = await createSession(ort, checked, backend);
    const { session } = await createSession(ort, checked, { kind: 'wasm', info: { kind: 'wasm', reason: 'generation', threads: 1 } });
    const runtime = new BrowserPipelineRuntime(checked, onBackend.backend, session, onBackend.session);
    runtime.decoded = decoded;
    runtime.configWarnings = warnings;
    return runtime;
  }

  /** Releases this model's sessions (another model was loaded). */
  async dispose(): Promise<void> {
    const hidden = await this.hiddenSession?.catch(() => undefined);
    const klModel = await this.klModel?.catch(() => undefined);
    this.klGpu.release();
    await Promise.all([
      this.cpuSession.release(),
      this.backendSession.release(),
      hidden?.session.release(),
      klModel?.session.release(),
      this.calibration.reset(),
      this.planned?.calibration.reset(),
    ]);
  }

  get config() {
    return this.bundle.config;
  }

  get tokenizerConfig() {
    return this.bundle.tokenizerConfig;
  }

  get stopIds(): number[] {
    return eosTokenIds(this.config, this.bundle.generationConfig);
  }

  /** Checkpoints of interrupted calibrations (restored after a reload), tried on the next run over the same samples. */
  addCheckpoint(checkpoint: CalibrationCheckpoint): void {
    this.checkpoints.set(checkpoint.samplesKey, checkpoint);
  }

  /** The dense model with its tensors' bytes in memory, and its FFN layers. */
  decodedModel(): { model: OnnxModel; ffns: FfnLayer[] } {
    return (this.decoded ??= decodeBundleModel(this.bundle));
  }

  async ffnWeights(options: { gateUp: boolean }): Promise<LayerWeights[]> {
    const { model, ffns } = this.decodedModel();
    return readFfnWeights(model, ffns, options);
  }

  generate = async (promptIds: number[], settings: SynthesisSettings & { seed: number }): Promise<number[]> => {
    const { tokens } = await generate(ort, this.cpuSession, this.config, promptIds, { ...settings, stopTokenIds: this.stopIds });
    this.hooks.onAnswer?.(this.tokenizer.decode(tokens), tokens.length);
    return tokens;
  };

  hiddenStates = async (prompts: number[][]): Promise<Float32Array[][]> => {
    this.hiddenSession ??= (async () => {
      const { bytes, outputs } = instrumentGraphBytes(this.bundle.modelBytes, { hidden: true });
      const { session } = await createSession(ort, { ...this.bundle, modelBytes: bytes }, { kind: 'wasm', info: { kind: 'wasm', reason: 'hidden states', threads: 1 } });
      return { session, outputs };
    })();
    const { session, outputs } = await this.hiddenSession;
    const batchedContinuation = !this.decodedModel().model.graph?.node?.some((n) => n.op_type === 'GroupQueryAttention');
    return lastTokenHiddenStates(ort, session, this.config, outputs, prompts, { batchedContinuation });
  };

  async calibrate(samples: readonly CalibrationSample[], options: RuntimeCalibrateOptions): Promise<CalibrationStats> {
    if (options.plan) return this.calibratePlanned(samples, options, options.plan);
    const key = samplesKey(samples);
    const resume = this.checkpoints.get(key);
    if (resume) this.hooks.onResume?.(resume);
    const onAbort = () => this.calibration.cancel();
    options.signal?.addEventListener('abort', onAbort);
    try {
      const { result, accumulator } = await this.calibration.run(
        this.bundle,
        Promise.resolve(this.backend),
        { samples: [...samples], gramBudgetBytes: this.gramBudget(options), ...(resume && { resume }) },
        (p) => options.onProgress?.(p.pass * p.totalTokens + p.tokens, p.passes * p.totalTokens),
        // Saved as it goes, so a reload mid-run resumes from here (the store keeps the latest in IndexedDB).
        { checkpoints: { every: CHECKPOINT_EVERY_BATCHES, save: (checkpoint) => this.hooks.onCheckpoint?.(checkpoint) } },
      );
      if (result.status === 'cancelled') {
        this.checkpoints.set(key, result.checkpoint);
        this.hooks.onCheckpoint?.(result.checkpoint);
        throw new DOMException('The calibration was cancelled.', 'AbortError');
      }
      this.checkpoints.delete(key);
      this.hooks.onCalibrated?.(samples, result.stats, accumulator);
      return result.stats;
    } finally {
      options.signal?.removeEventListener('abort', onAbort);
    }
  }

  /** Every layer's Gram at once for small FFNs; larger ones take more passes (the engine plans them). */
  private gramBudget(options: RuntimeCalibrateOptions): number | undefined {
    const hidden = this.config.hidden_size;
    return options.gram ? Math.max(64 << 20, 8 * hidden * hidden) : undefined;
  }

  /**
   * Sequential reconstruction's statistics: of the dense model with `plan` applied to its weights. One
   * session (made on first use) serves every plan: each call only feeds the plan's down_proj weights and
   * biases. One short run per layer, so no checkpoints.
   */
  private async calibratePlanned(samples: readonly CalibrationSample[], options: RuntimeCalibrateOptions, plan: PlanWeights): Promise<CalibrationStats> {
    const { calibration, inputs } = this.plannedCalibration();
    const onAbort = () => calibration.cancel();
    options.signal?.addEventListener('abort', onAbort);
    const extraFeeds = planFeeds(ort, inputs, plan);
    try {
      const { result } = await calibration.run(
        { ...this.bundle, externalData: [] },
        Promise.resolve(this.backend),
        { samples: [...samples], gramBudgetBytes: this.gramBudget(options) },
        (p) => options.onProgress?.(p.pass * p.totalTokens + p.tokens, p.passes * p.totalTokens),
        { extraFeeds },
      );
      if (result.status === 'cancelled') throw new DOMException('The calibration was cancelled.', 'AbortError');
      return result.stats;
    } finally {
      options.signal?.removeEventListener('abort', onAbort);
      disposeAll(Object.values(extraFeeds));
    }
  }

  private plannedCalibration(): { calibration: WorkerCalibration; inputs: PlanInputsModel } {
    if (!this.planned) {
      const { model, ffns } = this.decodedModel();
      const { outputs, ...inputs } = planCalibrationModel(model, ffns);
      // Weights inline: the graph is encoded once, when the session is made.
      this.planned = { calibration: new WorkerCalibration(ort, () => ({ bytes: encodeModel(inputs.model).model, outputs })), inputs };
    }
    return this.planned;
  }

  /**
   * Sequential reconstruction one layer at a time (src/pipeline/layerwise.ts) on the calibration backend:
   * on WebGPU the stored hidden states and activations stay GPU buffers and the WGSL kernels accumulate the
   * layer's statistics; on WASM the CPU references do. Each layer's subgraphs get a session while it runs.
   */
  async calibrateLayerwise(sets: readonly (readonly CalibrationSample[])[], options: RuntimeLayerwiseOptions): Promise<void> {
    const { model, ffns } = this.decodedModel();
    this.cuts ??= cutLayers(model, ffns);
    const weights = await this.ffnWeights({ gateUp: false });
    const backend = this.backend;
    // The blocked JS Gram sums: this bundle has no float64 MatMul, and the plain JS product is slower than them.
    let createAccumulator: AccumulatorFactory = createCpuAccumulator;
    if (backend.kind === 'webgpu') {
      if (this.gpu?.device !== backend.device) this.gpu = createGpuContext(backend.device, bundledShaders);
      createAccumulator = createGpuAccumulator(this.gpu);
    }
    const session = async (graph: OnnxModel) => {
      const made = await createSession(ort, { ...this.bundle, modelBytes: encodeModel(graph).model, externalData: [] }, backend);
      if (made.backend.kind !== backend.kind) {
        await made.session.release();
        // Hidden states on one backend cannot feed a session on another.
        throw new LayerCutError(`a layer's subgraph does not run on ${backend.kind} (${made.backend.kind === 'wasm' ? made.backend.info.reason : made.backend.kind})`);
      }
      return made.session;
    };
    await runLayerwise(
      { ort, config: this.config, cuts: this.cuts, downs: weights.map((w) => w.down), hidden: this.config.hidden_size, session },
      sets,
      { ...options, createAccumulator },
    );
  }

  /** The structurally pruned model, built in memory from the dense one (what export writes), optionally int4-quantized. */
  async prunedModel(plan: PlanWeights, quantize?: Int4QuantizeOptions): Promise<PrunedModel> {
    const { model, ffns } = this.decodedModel();
    const { model: sliced, report } = await pruneModel(model, { keep: plan.keep.map((k) => [...k]) }, {
      ffns,
      downWeights: plan.downWeights,
      channelMeans: plan.channelMeans?.map((m) => Float32Array.from(m)),
    });
    // The decoded model holds every tensor's bytes, so the reader needs no file.
    const quantized = quantize && (await quantizeMatMulsInt4(sliced, async (t) => tensorBytes(t), quantize));
    const pruned = quantized?.model ?? sliced;
    const pieces = encodeModelPieces(pruned, { externalData: { location: 'model.onnx_data' } });
    const externalData = pieces.dataFiles.map((file) => ({
      path: file.location,
      data: concat(
        file.pieces.map((p) => {
          if (p.kind !== 'bytes') throw new Error('internal: the in-memory model still refers to a source file');
          return p.bytes;
        }),
        file.size,
      ),
    }));
    const bytes = pieces.model.byteLength + externalData.reduce((n, f) => n + f.data.byteLength, 0);
    return { modelBytes: pieces.model, externalData, report, bytes, ...(quantized && { quantizedMatMuls: quantized.quantized.length }) };
  }

  /** Pooled NLL of `sequences` under a pruned model, on WASM (so float and quantized models are measured alike). */
  async prunedNll(pruned: PrunedModel, sequences: readonly (readonly number[])[]): Promise<NllSummary> {
    const session = await this.sessionOf(pruned, 'wasm');
    try {
      const out: Float64Array[] = [];
      for (const ids of sequences) out.push(await this.nllOnCpu(session, ids));
      return summariseNll(out);
    } finally {
      await session.release();
    }
  }

  /** Weight elements of the dense model (same count the exporter reports as `before`). */
  denseParameters(): number {
    return countParameters(this.decodedModel().model);
  }

  /** The exported model's parameter count and size for these kept counts (same counts as the exporter's). */
  totals(keptPerLayer: readonly number[], biasCompensation: boolean): PlanTotals {
    const { model, ffns } = this.decodedModel();
    this.costs ??= ffnChannelCosts(model, ffns);
    const bytes = this.bundle.modelBytes.byteLength + this.bundle.externalData.reduce((n, f) => n + f.data.byteLength, 0);
    return planTotals({ parameters: this.denseParameters(), bytes }, this.costs, ffns.map((f) => f.intermediateSize), keptPerLayer, biasCompensation);
  }

  /** A session of a pruned model: on the backend (`gpu`), or on WASM for generation. */
  async sessionOf(pruned: PrunedModel, where: 'backend' | 'wasm'): Promise<ort.InferenceSession> {
    const backend: Backend = where === 'wasm' ? { kind: 'wasm', info: { kind: 'wasm', reason: 'generation', threads: 1 } } : this.backend;
    const { session } = await createSession(ort, { ...this.bundle, modelBytes: pruned.modelBytes, externalData: pruned.externalData }, backend);
    return session;
  }

  /**
   * Per-token NLL; with a plan, of the pruned model built from it (equal to the dense model with the plan
   * applied to its weights). On WebGPU the logits stay on the GPU and the token-NLL kernel reads them.
   */
  async evaluateNll(sequences: readonly (readonly number[])[], plan?: PlanWeights): Promise<Float64Array[]> {
    const onGpu = this.backend.kind === 'webgpu';
    const session = plan ? await this.sessionOf(await this.prunedModel(plan), 'backend') : this.backendSession;
    try {
      const out: Float64Array[] = [];
      for (const ids of sequences) out.push(onGpu ? await this.nllOnGpu(session, ids) : await this.nllOnCpu(session, ids));
      return out;
    } finally {
      if (session !== this.backendSession) await session.release();
    }
  }

  private async nllOnCpu(session: ort.InferenceSession, ids: readonly number[]): Promise<Float64Array> {
    const { data, dims } = await forwardLogits(ort, session, ids, this.config);
    return sequenceNll(data, dims[1], ids);
  }

  private gpuContext(): GpuContext {
    if (this.backend.kind !== 'webgpu') throw new Error('internal: no GPU');
    if (this.gpu?.device !== this.backend.device) this.gpu = createGpuContext(this.backend.device, bundledShaders);
    return this.gpu;
  }

  private async nllOnGpu(session: ort.InferenceSession, ids: readonly number[]): Promise<Float64Array> {
    const gpu = this.gpuContext();
    const io = describeDecoder(session, this.config);
    const feeds = { ...tokenFeeds(ort, io, ids, 0), ...emptyPast(ort, io) };
    try {
      const outputs = await session.run(feeds, ['logits']);
      try {
        const logits = outputs.logits!;
        if (logits.location !== 'gpu-buffer') return sequenceNll(await readFloat32(logits), logits.dims[logits.dims.length - 1]!, ids);
        const targets = Int32Array.from({ length: ids.length - 1 }, (_, t) => ids[t + 1]!);
        const nll = await tokenNllOnGpu(gpu, gpuTensorOf(logits), logits.dims[logits.dims.length - 1]!, targets);
        return Float64Array.from(nll);
      } finally {
        disposeAll(Object.values(outputs));
      }
    } finally {
      disposeAll(Object.values(feeds));
    }
  }

  /**
   * Held-out KL of a plan: forward only on the backend, the plan fed as graph inputs. On WebGPU both logit
   * tensors stay on the GPU and the KL kernel reduces them; on WASM the CPU reference does.
   */
  async heldOutKl(samples: readonly CalibrationSample[], plan: PlanWeights, options: { signal?: AbortSignal } = {}): Promise<KlSummary> {
    const { session, inputs, onGpu } = await (this.klModel ??= (async () => {
      const { model, ffns } = this.decodedModel();
      const inputs = planInputsModel(model, ffns);
      const made = await createSession(ort, { ...this.bundle, modelBytes: encodeModel(inputs.model).model, externalData: [] }, this.backend);
      // Both sessions must hand out GPU buffers for the kernel; else (a WASM fallback) the CPU reference runs.
      return { session: made.session, inputs, onGpu: made.backend.kind === 'webgpu' && this.backend.kind === 'webgpu' };
    })());
    const feeds = planFeeds(ort, inputs, plan);
    try {
      const vocab = this.config.vocab_size;
      const run = (s: ort.InferenceSession, extra?: Record<string, ort.Tensor>) => <T>(batch: readonly CalibrationSample[], read: (logits: ort.Tensor) => Promise<T>) =>
        runBatchLogits(ort, s, describeDecoder(s, this.config), batch, read, extra);
      if (!onGpu) {
        const logits = (s: ort.InferenceSession, extra?: Record<string, ort.Tensor>) => (batch: readonly CalibrationSample[]) => run(s, extra)(batch, async (t) => (await readFloat32(t)).slice());
        return await this.klCpu.evaluate(samples, vocab, logits(this.backendSession), logits(session, feeds), options.signal);
      }
      return await this.klGpu.evaluate(this.gpuContext(), samples, vocab, run(this.backendSession), run(session, feeds), options.signal);
    } finally {
      disposeAll(Object.values(feeds));
    }
  }

  /** Builds the pruned folder's files in memory; they stay in `exports` under the request's target name. */
  async exportModel(request: ExportRequest): Promise<ExportSummary> {
    const built = await buildExportFiles(this, request.plan, request.method, request.manifest, request.quantize);
    this.exports.set(request.target, built);
    return {
      target: request.target,
      intermediateSizes: built.pruned.report.layers.map((l) => l.after),
      parameters: built.pruned.report.parameters,
      modelBytes: built.pruned.bytes,
      ...(built.quantization && { quantization: { ...built.quantization } }),
    };
  }
}
