/**
 * The persona pipeline's runtime in Node: onnxruntime-node on the CPU for generation, hidden states, NLL
 * and (through the calibration engine's CPU accumulator) statistics; the surgeon's streaming exporter for
 * the pruned folder. Sessions and the decoded model are made on first use, so `eval` on a folder only
 * pays for the plain session. Node only.
 */
import { readFile, rm, writeFile } from 'node:fs/promises';
import { join, resolve } from 'node:path';
import * as ort from 'onnxruntime-node';
import { ortMatMul } from '../model/ort-matmul';
import { runCalibration, type CalibrationModel } from '../calibration/engine';
import { cpuAccumulator } from '../calibration/engine-accumulator-cpu';
import { loadNodeCalibrationModel, type NodeCalibrationModel } from './calibration-engine';
import { runLayerwise } from '../pipeline/layerwise';
import type { PlanWeights } from '../eval/apply-plan';
import { CpuHeldOutKl, runBatchLogits, type KlSummary } from '../eval/held-out-kl';
import { applyPlanToModel, planCalibrationModel, planFeeds, planInputsModel, type PlanInputsModel } from '../eval/plan-model';
import { eosTokenIds } from '../model/config';
import { describeDecoder, disposeAll } from '../model/decoder-io';
import { readFloat32 } from '../model/logits';
import { generate } from '../model/generate';
import { lastTokenHiddenStates } from '../calibration/hidden-states';
import { discoverFfns, type FfnLayer } from '../onnx/ffn-discovery';
import { cutLayers, type LayerCut } from '../pipeline/layer-cut';
import type { InstrumentedOutput } from '../onnx/instrument';
import { readModelFile } from './model-files';
import { encodeModel, type OnnxModel } from '../onnx/model-io';
import { exportPrunedFolder, writeModelCard } from './prune-folder';
import { readFfnWeights } from '../pruning/ffn-weights';
import type { ExportRequest, ExportSummary, PipelineRuntime, RuntimeCalibrateOptions, RuntimeLayerwiseOptions } from '../pipeline/runtime';
import type { LayerWeights } from '../pruning/scoring';
import type { SynthesisSettings } from '../calibration/calibration-set';
import type { CalibrationSample } from '../core/stats';
import type { CalibrationStats } from '../core/stats';
import { moveIntoPlace } from './folder-io';
import { sessionNll } from './held-out-nll';
import { checkOutput } from './output-guard';
import { findGraphFile, loadNodeModel, type NodeModel } from './model-folder';

export interface NodeRuntimeOptions {
  /** Graph path inside the folder (default: onnx/model.onnx, else model.onnx). */
  modelFile?: string;
  /** Bytes of Gram accumulators per calibration pass (default 1 GiB; more layers than fit take extra passes). */
  gramBudgetBytes?: number;
  /** Calibration samples per run (default 4). */
  batchSize?: number;
}

const DEFAULT_GRAM_BUDGET = 1 << 30;

function abortError(signal: AbortSignal): Error {
  return signal.reason instanceof Error ? signal.reason : new DOMException('The operation was aborted.', 'AbortError');
}

export class NodePipelineRuntime implements PipelineRuntime {
  private instrumented?: Promise<NodeCalibrationModel>;
  private decoded?: Promise<{ model: OnnxModel; ffns: FfnLayer[] }>;
  private planned?: Promise<{ model: CalibrationModel & { session: ort.InferenceSession }; inputs: PlanInputsModel }>;
  private klModel?: Promise<{ session: ort.InferenceSession; inputs: PlanInputsModel }>;
  private readonly kl = new CpuHeldOutKl();
  private cuts?: Promise<LayerCut[]>;
  /** Reconstruction's float64 products on onnxruntime's MLAS (about 50× a JS loop). */
  readonly matmul = ortMatMul(ort);

  private constructor(
    readonly dir: string,
    readonly modelFile: string,
    private readonly plain: NodeModel,
    readonly tokenizerConfig: Record<string, unknown>,
    private readonly options: NodeRuntimeOptions,
  ) {}

  static async open(dir: string, options: NodeRuntimeOptions = {}): Promise<NodePipelineRuntime> {
    const modelFile = options.modelFile ?? (await findGraphFile(dir));
    const plain = await loadNodeModel(dir, modelFile);
    // loadNodeModel has already parsed it, so this cannot be missing or malformed.
    const tokenizerConfig = JSON.parse(await readFile(join(dir, 'tokenizer_config.json'), 'utf8')) as Record<string, unknown>;
    return new NodePipelineRuntime(dir, modelFile, plain, tokenizerConfig, options);
  }

  get config() {
    return this.plain.config;
  }

  get tokenizer() {
    return this.plain.tokenizer;
  }

  /** Fields of config.json the graph contradicted (replaced by the graph's values). */
  get configWarnings(): readonly string[] {
    return this.plain.configWarnings;
  }

  private instrumentedModel(): Promise<NodeCalibrationModel> {
    return (this.instrumented ??= loadNodeCalibrationModel(this.dir, this.modelFile, { hidden: true }));
  }

  private decodedModel(): Promise<{ model: OnnxModel; ffns: FfnLayer[] }> {
    return (this.decoded ??= readModelFile(join(this.dir, this.modelFile)).then((model) => {
      const ffns = discoverFfns(model);
      ffns.forEach((f, i) => {
        if (f.layer !== i) throw new Error(`FFN layers are not numbered 0..${ffns.length - 1} in order (found layer ${f.layer} at position ${i})`);
      });
      return { model, ffns };
    }));
  }

  async ffnWeights(options: { gateUp: boolean }): Promise<LayerWeights[]> {
    const { model, ffns } = await this.decodedModel();
    return readFfnWeights(model, ffns, options);
  }

  generate = async (promptIds: number[], settings: SynthesisSettings & { seed: number }): Promise<number[]> => {
    const { tokens } = await generate(ort, this.plain.session, this.config, promptIds, {
      maxNewTokens: settings.maxNewTokens,
      temperature: settings.temperature,
      topK: settings.topK,
      topP: settings.topP,
      seed: settings.seed,
      stopTokenIds: eosTokenIds(this.config, this.plain.generationConfig),
    });
    return tokens;
  };

  hiddenStates = async (prompts: number[][]): Promise<Float32Array[][]> => {
    const model = await this.instrumentedModel();
    // Loaded with { hidden: true }, so every output entry names its layer's hidden state too.
    const batchedContinuation = !(await this.decodedModel()).model.graph?.node?.some((n) => n.op_type === 'GroupQueryAttention');
    return lastTokenHiddenStates(ort, model.session, model.config, model.outputs as readonly InstrumentedOutput[], prompts, { batchedContinuation });
  };

  async calibrate(samples: readonly CalibrationSample[], options: RuntimeCalibrateOptions): Promise<CalibrationStats> {
    const planned = options.plan && (await this.plannedModel());
    const model = planned?.model ?? (await this.instrumentedModel());
    const extraFeeds = planned && planFeeds(ort, planned.inputs, options.plan!);
    try {
      const result = await runCalibration(model, samples, cpuAccumulator(this.matmul), {
        batchSize: this.options.batchSize,
        gram: options.gram ? { budgetBytes: this.options.gramBudgetBytes ?? DEFAULT_GRAM_BUDGET } : undefined,
        signal: options.signal,
        onProgress: options.onProgress && ((p) => options.onProgress!(p.pass * p.totalTokens + p.tokens, p.passes * p.totalTokens)),
        extraFeeds,
      });
      if (result.status === 'cancelled') throw abortError(options.signal!);
      return result.stats;
    } finally {
      disposeAll(Object.values(extraFeeds ?? {}));
    }
  }

  async calibrateLayerwise(sets: readonly (readonly CalibrationSample[])[], options: RuntimeLayerwiseOptions): Promise<void> {
    const { model, ffns } = await this.decodedModel();
    const cuts = await (this.cuts ??= Promise.resolve().then(() => cutLayers(model, ffns)));
    const weights = await this.ffnWeights({ gateUp: false });
    await runLayerwise(
      {
        ort,
        config: this.config,
        cuts,
        downs: weights.map((w) => w.down),
        hidden: this.config.hidden_size,
        // One layer's weights, inline: made when the layer starts, released when it is done.
        session: (graph) => ort.InferenceSession.create(encodeModel(graph).model),
      },
      sets,
      { ...options, createAccumulator: cpuAccumulator(this.matmul), batchSize: this.options.batchSize },
    );
  }

  /** The dense model instrumented for calibration with its down_proj weights as inputs: one session for every plan. */
  private plannedModel() {
    return (this.planned ??= this.decodedModel().then(async ({ model, ffns }) => {
      const { outputs, ...inputs } = planCalibrationModel(model, ffns);
      const session = await ort.InferenceSession.create(encodeModel(inputs.model).model);
      return { model: { ort, session, config: this.config, outputs }, inputs };
    }));
  }

  async evaluateNll(sequences: readonly (readonly number[])[], plan?: PlanWeights): Promise<Float64Array[]> {
    let session: ort.InferenceSession = this.plain.session;
    if (plan) {
      const { model, ffns } = await this.decodedModel();
      session = await ort.InferenceSession.create(encodeModel(applyPlanToModel(model, plan, ffns)).model);
    }
    try {
      return await sessionNll(session, this.config, sequences);
    } finally {
      if (plan) await session.release();
    }
  }

  async heldOutKl(samples: readonly CalibrationSample[], plan: PlanWeights, options: { signal?: AbortSignal } = {}): Promise<KlSummary> {
    // One session for every plan: the dense graph with its down_proj weights and biases as inputs.
    const { session, inputs } = await (this.klModel ??= this.decodedModel().then(async ({ model, ffns }) => {
      const inputs = planInputsModel(model, ffns);
      return { session: await ort.InferenceSession.create(encodeModel(inputs.model).model), inputs };
    }));
    const feeds = planFeeds(ort, inputs, plan);
    try {
      const logits = (s: ort.InferenceSession, extra?: Record<string, ort.Tensor>) => (batch: readonly CalibrationSample[]) =>
        runBatchLogits(ort, s, describeDecoder(s, this.config), batch, async (t) => (await readFloat32(t)).slice(), extra);
      return await this.kl.evaluate(samples, this.config.vocab_size, logits(this.plain.session), logits(session, feeds), options.signal);
    } finally {
      disposeAll(Object.values(feeds));
    }
  }

  /**
   * The surgeon's folder export into a staging folder, pruning.json extended with the request's fields,
   * then one rename: the target never holds a half-written model.
   */
  async exportModel(request: ExportRequest): Promise<ExportSummary> {
    const target = resolve(request.target);
    const outputCheck = { overwrite: request.overwrite, sources: [this.dir] };
    await checkOutput(request.target, outputCheck);
    const staging = `${target}.staging-${process.pid}`;
    await rm(staging, { recursive: true, force: true });
    try {
      const { plan } = request;
      const result = await exportPrunedFolder({
        modelDir: this.dir,
        modelFile: this.modelFile,
        outDir: staging,
        plan: { keep: plan.keep },
        downWeights: plan.downWeights,
        channelMeans: plan.channelMeans?.map((m) => Float32Array.from(m)),
        method: request.method,
        quantize: request.quantize,
      });
      const manifestPath = join(staging, 'pruning.json');
      const manifest = JSON.parse(await readFile(manifestPath, 'utf8')) as Record<string, unknown>;
      await writeFile(manifestPath, JSON.stringify({ ...manifest, ...request.manifest }, null, 2) + '\n');
      // The card shows the pipeline's fields too (persona, method, the plan search's held-out KL).
      await writeModelCard(staging, result.modelFile);
      await moveIntoPlace(staging, target, outputCheck);
      return {
        target: request.target,
        intermediateSizes: result.report.layers.map((l) => l.after),
        parameters: result.report.parameters,
        modelBytes: result.modelBytes,
        ...(result.quantization && { quantization: { ...result.quantization } }),
      };
    } catch (error) {
      await rm(staging, { recursive: true, force: true });
      throw error;
    }
  }

  async dispose(): Promise<void> {
    const instrumented = await this.instrumented?.catch(() => undefined);
    await instrumented?.session.release();
    const planned = await this.planned?.catch(() => undefined);
    await planned?.model.session.release();
    const klModel = await this.klModel?.catch(() => undefined);
    await klModel?.session.release();
    await this.plain.session.release();
  }
}
