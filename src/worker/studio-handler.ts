/**
 * The studio worker's work, one method per request: one loaded model, its PersonaPipeline, the saved
 * statistics and the refined plan. The pipeline makes every plan: previews with replan, the refined plan
 * with prune. The runtime comes from `deps` (BrowserPipelineRuntime in the worker, a fake in tests) and
 * every answer goes out through `post`, so the worker file is only an adapter.
 */
import * as ort from 'onnxruntime-web/webgpu';
import type { CalibrationSet } from '../calibration/calibration-set';
import { encodePrompt, renderPrompt } from '../calibration/persona-prompt';
import type { PlanWeights } from '../eval/apply-plan';
import { summariseNll } from '../eval/nll';
import type { Backend, BackendPreference } from '../gpu/backend';
import { ggufFromFolderFiles } from '../gguf/gguf-from-folder';
import type { GgufWeightType } from '../gguf/llama-gguf';
import { generate } from '../model/generate';
import { answerNll, buildEvaluationSets, heldOutAnswersSource, type EvaluationSets } from '../pipeline/evaluation-sets';
import type { PersonaPipeline, PipelineProgress } from '../pipeline/persona-pipeline';
import type { PruneRequest } from '../pipeline/request';
import type { BuiltPlan } from '../pruning/plan-builder';
import type { BundleFiles } from '../sources/bundle-files';
import { verifyExport, zipFolder } from './studio-export';
import type { BrowserPipelineRuntime } from './studio-runtime';
import {
  samePlanParams,
  type CalibrationData,
  type PlanParams,
  type PlanSummary,
  type RefinedPlan,
  type StudioEvent,
  type StudioModelSource,
  type StudioProgress,
  type StudioRequest,
  type TrialParams,
} from './studio-protocol';

/** What the handler uses of the loaded model (BrowserPipelineRuntime has it all). */
export type StudioRuntime = Pick<
  BrowserPipelineRuntime,
  | 'backend'
  | 'hooks'
  | 'configWarnings'
  | 'exports'
  | 'tokenizer'
  | 'config'
  | 'stopIds'
  | 'cpuSession'
  | 'backendSession'
  | 'bundle'
  | 'dispose'
  | 'addCheckpoint'
  | 'decodedModel'
  | 'denseParameters'
  | 'totals'
  | 'generate'
  | 'evaluateNll'
  | 'prunedModel'
  | 'prunedNll'
  | 'sessionOf'
  | 'exportModel'
>;

/** What the handler uses of the model's PersonaPipeline. */
export type StudioPipeline = Pick<PersonaPipeline, 'format' | 'questions' | 'prune' | 'replan' | 'heldCalibration' | 'restoreCalibration'>;

export interface StudioHandlerDeps {
  chooseBackend(preference: BackendPreference): Promise<Backend>;
  /** Opens a model on `backend` (or where it can run) with its pipeline. */
  open(files: BundleFiles, backend: Backend): Promise<{ runtime: StudioRuntime; pipeline: StudioPipeline }>;
}

export type Post = (event: StudioEvent, transfer?: Transferable[]) => void;

const paramsOf = (request: PruneRequest): PlanParams => ({
  method: request.method ?? 'persona',
  allocation: request.allocation ?? 'uniform',
  sparsity: request.sparsity,
  overrides: request.keepOverrides ?? [],
});

function refinedOf(outcome: Awaited<ReturnType<PersonaPipeline['prune']>>, params: PlanParams): RefinedPlan {
  return { params, plan: outcome.plan, manifest: outcome.manifest, ...(outcome.selection && { selection: outcome.selection }) };
}

export class StudioHandler {
  private backend: Promise<Backend> | undefined;
  private runtime: StudioRuntime | undefined;
  private pipeline: StudioPipeline | undefined;
  private data: CalibrationData | undefined;
  private refined: RefinedPlan | undefined;
  private running: AbortController | undefined;
  private trial: AbortController | undefined;
  /** The latest load: an older one that finishes later is dropped, not installed over it. */
  private latestLoad = 0;
  /** Held-out evaluation texts of the current statistics: written once per calibration, on the first compare. */
  private evaluation: { of: CalibrationData; sets: Promise<EvaluationSets> } | undefined;

  constructor(
    private readonly deps: StudioHandlerDeps,
    private readonly post: Post,
  ) {}

  /** Handles one request; its failure is posted as an `error` (or `cancelled`, when it was stopped), never thrown. */
  async receive(message: StudioRequest): Promise<void> {
    const requestId = 'requestId' in message ? message.requestId : undefined;
    try {
      await this.handle(message);
    } catch (error) {
      if (error instanceof DOMException && error.name === 'AbortError' && requestId !== undefined) return this.post({ type: 'cancelled', requestId });
      this.post({ type: 'error', requestId, message: error instanceof Error ? error.message : String(error) });
    }
  }

  private async handle(message: StudioRequest): Promise<void> {
    switch (message.type) {
      case 'init':
        this.backend = this.deps.chooseBackend(message.backend);
        this.post({ type: 'backend', backend: (await this.backend).info });
        return;
      case 'load':
        return this.load(message.requestId, message.source);
      case 'restore':
        if (message.data) {
          this.data = message.data;
          this.pipeline!.restoreCalibration(this.data.request, this.data);
        }
        if (message.refined) this.refined = message.refined;
        if (message.checkpoint) this.loaded().addCheckpoint(message.checkpoint);
        return;
      case 'calibrate':
        return this.calibrate(message.requestId, message.request);
      case 'refine':
        return this.refine(message.requestId, message.params);
      case 'cancel':
        this.running?.abort();
        return;
      case 'generate':
        return this.tryModel(message.requestId, message.params);
      case 'stop':
        this.trial?.abort();
        return;
      case 'plan': {
        const { plan, kind } = await this.planFor(message.params);
        return this.post({ type: 'plan', requestId: message.requestId, plan: this.summary(plan, message.params, kind) });
      }
      case 'compare':
        return this.compare(message.requestId, message.levels, message.prompt);
      case 'chat':
        return this.chat(message.requestId, message.text, message.persona, message.params, message.maxNewTokens);
      case 'export':
        return this.exportFolder(message.requestId, message.params, message.folderName, message.quantize);
      case 'export-gguf':
        return this.exportGguf(message.requestId, message.files, message.fileName, message.ggufType);
    }
  }

  private loaded(): StudioRuntime {
    if (!this.runtime) throw new Error('The model is not loaded yet.');
    return this.runtime;
  }

  private async load(requestId: number, source: StudioModelSource) {
    if (!this.backend) throw new Error('The studio was not initialised.');
    this.latestLoad = requestId;
    const { runtime: opened, pipeline } = await this.deps.open(source.files, await this.backend);
    // Every request gets one answer: a load overtaken by a newer one ends as cancelled.
    if (requestId !== this.latestLoad) {
      void opened.dispose();
      return this.post({ type: 'cancelled', requestId });
    }
    if (this.running || this.trial) {
      void opened.dispose();
      throw new Error('Wait for the running analysis or generation to finish (or stop it), then load again.');
    }
    const previous = this.runtime;
    this.runtime = opened;
    this.data = undefined;
    this.refined = undefined;
    void previous?.dispose();
    // This model may run elsewhere than asked (an fp16 graph on a GPU without shader-f16): say where.
    this.post({ type: 'backend', backend: this.runtime.backend.info });
    this.pipeline = pipeline;
    this.runtime.hooks.onCheckpoint = (checkpoint) => this.post({ type: 'checkpoint', checkpoint });
    // From the graph, not the weights: an int4 model can be opened and tried, only scoring needs float weights.
    const widths = this.runtime.decodedModel().ffns.map((f) => f.intermediateSize);
    this.post({
      type: 'loaded',
      requestId,
      label: source.label,
      denseParameters: this.runtime.denseParameters(),
      layers: widths.length,
      widths,
      format: this.pipeline.format.kind === 'chat' ? 'chat' : 'base',
      configWarnings: this.runtime.configWarnings,
    });
  }

  /** Progress with a rate and an ETA per phase: counted from the phase's first report. */
  private progressReporter(requestId: number, answerTokens: () => number) {
    let phaseKey = '';
    let started = 0;
    let tokensAtStart = 0;
    return (p: { phase: StudioProgress['phase']; set?: 'persona' | 'generic'; done: number; total: number }) => {
      const key = `${p.phase}:${p.set ?? ''}`;
      const now = performance.now();
      if (key !== phaseKey) {
        phaseKey = key;
        started = now;
        tokensAtStart = answerTokens();
      }
      const seconds = (now - started) / 1000;
      const tokens = p.phase === 'synthesis' ? answerTokens() - tokensAtStart : p.phase === 'calibration' ? p.done : 0;
      const progress: StudioProgress = {
        ...p,
        ...(seconds > 0 && tokens > 0 && { tokensPerSecond: tokens / seconds }),
        ...(seconds > 0 && p.done > 0 && { etaSeconds: (seconds * (p.total - p.done)) / p.done }),
      };
      this.post({ type: 'progress', requestId, progress });
    };
  }

  /** The pipeline's prune with the studio's progress, phase timings and cancel; one at a time. */
  private async runPrune(requestId: number, request: PruneRequest, answers: boolean) {
    const rt = this.loaded();
    if (this.running) throw new Error('An analysis or refinement is already running.');
    this.running = new AbortController();
    let answerTokens = 0;
    let accumulator: 'gpu' | 'cpu' | undefined;
    rt.hooks.onAnswer = (text, tokens) => {
      answerTokens += tokens;
      if (answers) this.post({ type: 'answer', requestId, text });
    };
    rt.hooks.onCalibrated = (_samples, _stats, used) => (accumulator ??= used);
    rt.hooks.onResume = (checkpoint) => this.post({ type: 'resumed', requestId, checkpoint });
    const report = this.progressReporter(requestId, () => answerTokens);
    const timings: Record<string, number> = {};
    let phase = '';
    let phaseStart = performance.now();
    const started = phaseStart;
    try {
      const outcome = await this.pipeline!.prune(request, {
        signal: this.running.signal,
        onProgress: (p: PipelineProgress) => {
          const now = performance.now();
          if (p.phase !== phase) {
            if (phase) timings[phase] = (timings[phase] ?? 0) + now - phaseStart;
            phase = p.phase;
            phaseStart = now;
          }
          report(p);
        },
      });
      if (phase) timings[phase] = (timings[phase] ?? 0) + performance.now() - phaseStart;
      timings.total = performance.now() - started;
      return { outcome, timings, accumulator: accumulator ?? (rt.backend.kind === 'webgpu' ? 'gpu' : 'cpu') };
    } finally {
      this.running = undefined;
      rt.hooks.onAnswer = undefined;
      rt.hooks.onCalibrated = undefined;
      rt.hooks.onResume = undefined;
    }
  }

  /** Press run: calibration, then the refined plan at the chosen level (the same prune() as the CLI's). */
  private async calibrate(requestId: number, request: PruneRequest) {
    const { outcome, timings, accumulator } = await this.runPrune(requestId, request, true);
    this.data = { request, ...(await this.pipeline!.heldCalibration(request)) };
    this.refined = refinedOf(outcome, paramsOf(request));
    this.post({ type: 'calibrated', requestId, data: this.data, refined: this.refined, plan: this.refinedSummary(this.refined), accumulator, timings });
  }

  /** The refined plan for other params (a slider level, per-layer overrides) from the saved statistics. */
  private async refine(requestId: number, params: PlanParams) {
    const { outcome } = await this.runPrune(requestId, this.requestOf(params), false);
    this.refined = refinedOf(outcome, params);
    this.post({ type: 'refined', requestId, refined: this.refined, plan: this.refinedSummary(this.refined) });
  }

  /** The calibration's request at other plan params: same persona and data settings, so the pipeline reuses its statistics. */
  private requestOf(params: PlanParams): PruneRequest {
    if (!this.data) throw new Error('Run the calibration first.');
    const { keepOverrides: _previous, ...request } = this.data.request;
    return { ...request, method: params.method, allocation: params.allocation, sparsity: params.sparsity, ...(params.overrides.some((k) => k !== null) && { keepOverrides: params.overrides }) };
  }

  /** The refined plan when it is for these params, else the pipeline's instant one-shot preview. */
  private async planFor(params: PlanParams): Promise<{ plan: BuiltPlan; kind: PlanSummary['kind'] }> {
    this.loaded();
    if (this.refined && samePlanParams(this.refined.params, params)) return { plan: this.refined.plan, kind: 'refined' };
    return { plan: await this.pipeline!.replan(this.requestOf(params)), kind: 'preview' };
  }

  private refinedSummary(plan: RefinedPlan): PlanSummary {
    const { selection } = plan;
    return this.summary(plan.plan, plan.params, 'refined', selection && { chosen: selection.chosen, heldOutKl: selection.heldOutKl });
  }

  private summary(plan: BuiltPlan, params: PlanParams, kind: PlanSummary['kind'], selection?: PlanSummary['selection']): PlanSummary {
    return {
      params,
      kind,
      ...(selection && { selection }),
      method: plan.method,
      keptPerLayer: plan.keep.map((k) => k.length),
      widths: plan.scores.map((s) => s.length),
      scores: plan.scores,
      estimates: plan.estimates,
      totals: this.loaded().totals(plan.keep.map((k) => k.length), plan.channelMeans !== undefined),
    };
  }

  /** "Try the model": the writer's prompt continued plainly (no persona), streamed, on the model's backend. */
  private async tryModel(requestId: number, params: TrialParams) {
    const rt = this.loaded();
    if (this.trial) throw new Error('A generation is already running.');
    if (this.running) throw new Error('Wait for the analysis to finish.');
    this.trial = new AbortController();
    try {
      const ids = rt.tokenizer.encode(params.prompt, { addBos: rt.tokenizer.addsBos });
      const decoder = rt.tokenizer.createStreamDecoder(ids);
      const started = performance.now();
      const result = await generate(ort, rt.backendSession, rt.config, ids, {
        ...params,
        stopTokenIds: rt.stopIds,
        signal: this.trial.signal,
        onToken: (id) => this.post({ type: 'token', requestId, text: decoder.push(id) }),
      });
      this.post({ type: 'token', requestId, text: decoder.flush() });
      this.post({ type: 'generated', requestId, tokens: result.tokens.length, elapsedMs: performance.now() - started, stopReason: result.stopReason });
    } finally {
      this.trial = undefined;
    }
  }

  private evaluationSets(): Promise<EvaluationSets> {
    const rt = this.loaded();
    if (!this.data) throw new Error('Run the calibration first.');
    if (this.evaluation?.of !== this.data) {
      const { request } = this.data;
      const sets = buildEvaluationSets({
        questions: this.pipeline!.questions,
        tokenizer: rt.tokenizer,
        format: this.pipeline!.format,
        persona: request.persona ?? '',
        synthesize: rt.generate,
        calibration: [...(this.data.persona?.set.samples ?? []), ...(this.data.generic?.set.samples ?? [])],
        seed: request.seed ?? 0,
        sampling: request.sampling,
      });
      this.evaluation = { of: this.data, sets };
      sets.catch(() => {
        if (this.evaluation?.sets === sets) this.evaluation = undefined;
      });
    }
    return this.evaluation.sets;
  }

  /** The compare step's held-out answers (persona and plain) as whole sequences: what quantization is measured on. */
  private async heldOutAnswers() {
    const { persona, general } = await this.evaluationSets();
    const sequences = [...persona.samples, ...general.samples].map((s) => s.ids);
    return { sequences, source: heldOutAnswersSource(sequences.length) };
  }

  /** Pooled perplexity of a set's answer tokens under a plan. */
  private async answerPerplexity(set: CalibrationSet, plan: PlanWeights): Promise<number> {
    const nll = await this.loaded().evaluateNll(set.samples.map((s) => s.ids), plan);
    return summariseNll(nll.map((n, i) => answerNll(n, set.samples[i]!))).perplexity;
  }

  /** The prompt as the model expects it: persona prefix + story prompt (base model) or chat template with the persona as system prompt. */
  private promptIds(persona: string | null, text: string): number[] {
    const format = this.pipeline!.format;
    return encodePrompt(this.loaded().tokenizer, format, renderPrompt(format, persona?.trim() || null, text).text);
  }

  private async compare(requestId: number, levels: { label: string; params: PlanParams }[], prompt: string) {
    const rt = this.loaded();
    const { persona, general } = await this.evaluationSets();
    const ids = this.promptIds(this.data?.request.persona ?? null, prompt);
    for (const level of levels) {
      // 0% is the dense model, through the same path as the plans: every channel kept.
      const { plan, kind } =
        level.params.sparsity === 0 ? { plan: { keep: rt.decodedModel().ffns.map((f) => Array.from({ length: f.intermediateSize }, (_, c) => c)) }, kind: 'dense' as const } : await this.planFor(level.params);
      const pruned = await rt.prunedModel(plan);
      const personaPerplexity = await this.answerPerplexity(persona, plan);
      const generalPerplexity = await this.answerPerplexity(general, plan);
      const session = await rt.sessionOf(pruned, 'wasm');
      try {
        const started = performance.now();
        const result = await generate(ort, session, rt.config, ids, { maxNewTokens: 48, temperature: 0, stopTokenIds: rt.stopIds });
        const seconds = (performance.now() - started) / 1000;
        this.post({
          type: 'compare-row',
          requestId,
          row: {
            label: level.label,
            params: level.params,
            kind,
            personaPerplexity,
            generalPerplexity,
            parameters: pruned.report.parameters.after,
            bytes: pruned.bytes,
            tokensPerSecond: result.tokens.length / seconds,
            answer: rt.tokenizer.decode(result.tokens),
          },
        });
      } finally {
        await session.release();
      }
    }
    this.post({ type: 'compare-done', requestId });
  }

  private async chat(requestId: number, text: string, persona: string, params: PlanParams | null, maxNewTokens: number) {
    const rt = this.loaded();
    const session = params ? await rt.sessionOf(await rt.prunedModel((await this.planFor(params)).plan), 'wasm') : rt.cpuSession;
    try {
      const ids = this.promptIds(persona, text);
      const decoder = rt.tokenizer.createStreamDecoder(ids);
      const started = performance.now();
      const result = await generate(ort, session, rt.config, ids, {
        maxNewTokens,
        temperature: 0,
        stopTokenIds: rt.stopIds,
        onToken: (id) => this.post({ type: 'token', requestId, text: decoder.push(id) }),
      });
      this.post({ type: 'token', requestId, text: decoder.flush() });
      this.post({ type: 'chat-done', requestId, tokens: result.tokens.length, elapsedMs: performance.now() - started });
    } finally {
      if (session !== rt.cpuSession) await session.release();
    }
  }

  private async exportFolder(requestId: number, params: PlanParams, folderName: string, quantizeTo?: 'int4') {
    const rt = this.loaded();
    // Only the refined plan downloads: a preview is a quick approximation of it.
    if (!this.refined || !samePlanParams(this.refined.params, params)) throw new Error('the plan shown is a preview; refine it first (step 5)');
    const { plan, manifest } = this.refined;
    const step = (name: 'build' | 'verify' | 'zip', state: 'running' | 'done') => this.post({ type: 'export-progress', requestId, step: name, state });
    step('build', 'running');
    const quantize = quantizeTo && { type: quantizeTo, heldOut: await this.heldOutAnswers() };
    const summaryOf = await rt.exportModel({ target: folderName, plan, method: plan.method, manifest, ...(quantize && { quantize }) });
    const folder = rt.exports.get(folderName)!;
    rt.exports.delete(folderName);
    step('build', 'done');
    step('verify', 'running');
    // Any real texts do for comparing logits: the first calibration samples.
    const texts = (this.data?.persona ?? this.data?.generic)?.set.samples.map((s) => [...s.ids]).filter((ids) => ids.length > 1) ?? [];
    const verified = await verifyExport(rt, folder, plan, texts.slice(0, 3));
    step('verify', 'done');
    step('zip', 'running');
    const zip = zipFolder(folder.files, folderName);
    step('zip', 'done');
    this.post({
      type: 'exported',
      requestId,
      result: {
        folderName,
        files: folder.files,
        zip,
        parameters: summaryOf.parameters,
        intermediateSizes: summaryOf.intermediateSizes,
        maxAbsError: verified.maxAbsError,
        verifiedSamples: verified.samples,
        ...(folder.quantization && { quantization: folder.quantization }),
      },
    });
  }

  /** The verified folder as one GGUF for llama.cpp (converted from the folder's own files, so it holds exactly what was checked). */
  private async exportGguf(requestId: number, files: { path: string; data: Uint8Array }[], fileName: string, ggufType: GgufWeightType) {
    const gguf = await ggufFromFolderFiles(files, ggufType, (done, total) => this.post({ type: 'gguf-progress', requestId, done, total }));
    this.post({ type: 'exported-gguf', requestId, result: { fileName, data: gguf.bytes, ggufType, arch: gguf.arch } }, [gguf.bytes.buffer as ArrayBuffer]);
  }
}
