/// <reference lib="webworker" />
// The studio's worker: one loaded model, its PersonaPipeline (BrowserPipelineRuntime), the saved statistics
// and the refined plan. The pipeline makes every plan: previews with replan, the refined plan with prune.
import * as ort from 'onnxruntime-web/webgpu';
import type { CalibrationSet } from '../calibration/calibration-set';
import { encodePrompt, renderPrompt } from '../calibration/persona-prompt';
import type { PlanWeights } from '../eval/apply-plan';
import { summariseNll } from '../eval/nll';
import { generate } from '../model/generate';
import { readBundleFiles } from '../model/sources/bundle-files';
import { PersonaPipeline, type PipelineProgress } from '../pipeline/persona-pipeline';
import type { PruneRequest } from '../pipeline/request';
import type { BuiltPlan } from '../pruning/plan-builder';
import { chooseBackend, wasmThreads, type Backend } from './backend';
import { BrowserPipelineRuntime } from './studio-runtime';
import { answerNll, buildEvaluationSets, heldOutAnswersSource, type EvaluationSets } from './studio-evaluation';
import { verifyExport, zipFolder } from './studio-export';
import { ggufFromFolderFiles } from '../gguf/gguf-from-folder';
import type { GgufWeightType } from '../gguf/llama-gguf';
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

declare const self: DedicatedWorkerGlobalScope;

let backend: Promise<Backend> | undefined;
let runtime: BrowserPipelineRuntime | undefined;
let pipeline: PersonaPipeline | undefined;
let data: CalibrationData | undefined;
let refined: RefinedPlan | undefined;
let running: AbortController | undefined;
let trial: AbortController | undefined;
/** The latest load: an older one that finishes later is dropped, not installed over it. */
let latestLoad = 0;
const post = (event: StudioEvent, transfer: Transferable[] = []) => self.postMessage(event, transfer);

self.onmessage = ({ data: message }: MessageEvent<StudioRequest>) => {
  const requestId = 'requestId' in message ? message.requestId : undefined;
  handle(message).catch((error: unknown) => {
    if (error instanceof DOMException && error.name === 'AbortError' && requestId !== undefined) return post({ type: 'cancelled', requestId });
    post({ type: 'error', requestId, message: error instanceof Error ? error.message : String(error) });
  });
};

async function handle(message: StudioRequest): Promise<void> {
  switch (message.type) {
    case 'init':
      ort.env.wasm.numThreads = wasmThreads();
      backend = chooseBackend(message.backend);
      post({ type: 'backend', backend: (await backend).info });
      return;
    case 'load':
      return load(message.requestId, message.source);
    case 'restore':
      if (message.data) {
        data = message.data;
        pipeline!.restoreCalibration(data.request, data);
      }
      if (message.refined) refined = message.refined;
      if (message.checkpoint) loaded().addCheckpoint(message.checkpoint);
      return;
    case 'calibrate':
      return calibrate(message.requestId, message.request);
    case 'refine':
      return refine(message.requestId, message.params);
    case 'cancel':
      running?.abort();
      return;
    case 'generate':
      return tryModel(message.requestId, message.params);
    case 'stop':
      trial?.abort();
      return;
    case 'plan': {
      const { plan, kind } = await planFor(message.params);
      return post({ type: 'plan', requestId: message.requestId, plan: summary(plan, message.params, kind) });
    }
    case 'compare':
      return compare(message.requestId, message.levels, message.prompt);
    case 'chat':
      return chat(message.requestId, message.text, message.persona, message.params, message.maxNewTokens);
    case 'export':
      return exportFolder(message.requestId, message.params, message.folderName, message.quantize);
    case 'export-gguf':
      return exportGguf(message.requestId, message.files, message.fileName, message.ggufType);
  }
}

function loaded(): BrowserPipelineRuntime {
  if (!runtime) throw new Error('The model is not loaded yet.');
  return runtime;
}

async function load(requestId: number, source: StudioModelSource) {
  if (!backend) throw new Error('The studio was not initialised.');
  latestLoad = requestId;
  const bundle = await readBundleFiles(source.files);
  const opened = await BrowserPipelineRuntime.open(bundle, await backend);
  if (requestId !== latestLoad) return void opened.dispose();
  if (running || trial) {
    void opened.dispose();
    throw new Error('Wait for the running analysis or generation to finish (or stop it), then load again.');
  }
  const previous = runtime;
  runtime = opened;
  data = undefined;
  refined = undefined;
  void previous?.dispose();
  // This model may run elsewhere than asked (an fp16 graph on a GPU without shader-f16): say where.
  post({ type: 'backend', backend: runtime.backend.info });
  pipeline = new PersonaPipeline(runtime);
  runtime.hooks.onCheckpoint = (checkpoint) => post({ type: 'checkpoint', checkpoint });
  // From the graph, not the weights: an int4 model can be opened and tried, only scoring needs float weights.
  const widths = runtime.decodedModel().ffns.map((f) => f.intermediateSize);
  post({
    type: 'loaded',
    requestId,
    label: source.label,
    denseParameters: runtime.denseParameters(),
    layers: widths.length,
    widths,
    format: pipeline.format.kind === 'chat' ? 'chat' : 'base',
    configWarnings: runtime.configWarnings,
  });
}

/** Progress with a rate and an ETA per phase: counted from the phase's first report. */
function progressReporter(requestId: number, answerTokens: () => number) {
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
    post({ type: 'progress', requestId, progress });
  };
}

/** The pipeline's prune with the studio's progress, phase timings and cancel; one at a time. */
async function runPrune(requestId: number, request: PruneRequest, answers: boolean) {
  const rt = loaded();
  if (running) throw new Error('An analysis or refinement is already running.');
  running = new AbortController();
  let answerTokens = 0;
  let accumulator: 'gpu' | 'cpu' | undefined;
  rt.hooks.onAnswer = (text, tokens) => {
    answerTokens += tokens;
    if (answers) post({ type: 'answer', requestId, text });
  };
  rt.hooks.onCalibrated = (_samples, _stats, used) => (accumulator ??= used);
  rt.hooks.onResume = (checkpoint) => post({ type: 'resumed', requestId, checkpoint });
  const report = progressReporter(requestId, () => answerTokens);
  const timings: Record<string, number> = {};
  let phase = '';
  let phaseStart = performance.now();
  const started = phaseStart;
  try {
    const outcome = await pipeline!.prune(request, {
      signal: running.signal,
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
    running = undefined;
    rt.hooks.onAnswer = undefined;
    rt.hooks.onCalibrated = undefined;
    rt.hooks.onResume = undefined;
  }
}

const paramsOf = (request: PruneRequest): PlanParams => ({
  method: request.method ?? 'persona',
  allocation: request.allocation ?? 'uniform',
  sparsity: request.sparsity,
  overrides: request.keepOverrides ?? [],
});

/** Press run: calibration, then the refined plan at the chosen level (the same prune() as the CLI's). */
async function calibrate(requestId: number, request: PruneRequest) {
  const { outcome, timings, accumulator } = await runPrune(requestId, request, true);
  data = { request, ...(await pipeline!.heldCalibration(request)) };
  refined = refinedOf(outcome, paramsOf(request));
  post({ type: 'calibrated', requestId, data, refined, plan: refinedSummary(refined), accumulator, timings });
}

/** The refined plan for other params (a slider level, per-layer overrides) from the saved statistics. */
async function refine(requestId: number, params: PlanParams) {
  const { outcome } = await runPrune(requestId, requestOf(params), false);
  refined = refinedOf(outcome, params);
  post({ type: 'refined', requestId, refined, plan: refinedSummary(refined) });
}

function refinedOf(outcome: Awaited<ReturnType<PersonaPipeline['prune']>>, params: PlanParams): RefinedPlan {
  return { params, plan: outcome.plan, manifest: outcome.manifest, ...(outcome.selection && { selection: outcome.selection }) };
}

/** The calibration's request at other plan params: same persona and data settings, so the pipeline reuses its statistics. */
function requestOf(params: PlanParams): PruneRequest {
  if (!data) throw new Error('Run the calibration first.');
  const { keepOverrides: _previous, ...request } = data.request;
  return { ...request, method: params.method, allocation: params.allocation, sparsity: params.sparsity, ...(params.overrides.some((k) => k !== null) && { keepOverrides: params.overrides }) };
}

/** The refined plan when it is for these params, else the pipeline's instant one-shot preview. */
async function planFor(params: PlanParams): Promise<{ plan: BuiltPlan; kind: PlanSummary['kind'] }> {
  loaded();
  if (refined && samePlanParams(refined.params, params)) return { plan: refined.plan, kind: 'refined' };
  return { plan: await pipeline!.replan(requestOf(params)), kind: 'preview' };
}

function refinedSummary(plan: RefinedPlan): PlanSummary {
  const { selection } = plan;
  return summary(plan.plan, plan.params, 'refined', selection && { chosen: selection.chosen, heldOutKl: selection.heldOutKl });
}

function summary(plan: BuiltPlan, params: PlanParams, kind: PlanSummary['kind'], selection?: PlanSummary['selection']): PlanSummary {
  return {
    params,
    kind,
    ...(selection && { selection }),
    method: plan.method,
    keptPerLayer: plan.keep.map((k) => k.length),
    widths: plan.scores.map((s) => s.length),
    scores: plan.scores,
    estimates: plan.estimates,
    totals: loaded().totals(plan.keep.map((k) => k.length), plan.channelMeans !== undefined),
  };
}

/** "Try the model": the writer's prompt continued plainly (no persona), streamed, on the model's backend. */
async function tryModel(requestId: number, params: TrialParams) {
  const rt = loaded();
  if (trial) throw new Error('A generation is already running.');
  if (running) throw new Error('Wait for the analysis to finish.');
  trial = new AbortController();
  try {
    const ids = rt.tokenizer.encode(params.prompt, { addBos: rt.tokenizer.addsBos });
    const decoder = rt.tokenizer.createStreamDecoder(ids);
    const started = performance.now();
    const result = await generate(ort, rt.backendSession, rt.config, ids, {
      ...params,
      stopTokenIds: rt.stopIds,
      signal: trial.signal,
      onToken: (id) => post({ type: 'token', requestId, text: decoder.push(id) }),
    });
    post({ type: 'token', requestId, text: decoder.flush() });
    post({ type: 'generated', requestId, tokens: result.tokens.length, elapsedMs: performance.now() - started, stopReason: result.stopReason });
  } finally {
    trial = undefined;
  }
}

/** Held-out evaluation texts of the current statistics: written once per calibration, on the first compare. */
let evaluation: { of: CalibrationData; sets: Promise<EvaluationSets> } | undefined;

function evaluationSets(): Promise<EvaluationSets> {
  const rt = loaded();
  if (!data) throw new Error('Run the calibration first.');
  if (evaluation?.of !== data) {
    const { request } = data;
    const sets = buildEvaluationSets({
      questions: pipeline!.questions,
      tokenizer: rt.tokenizer,
      format: pipeline!.format,
      persona: request.persona ?? '',
      synthesize: rt.generate,
      calibration: [...(data.persona?.set.samples ?? []), ...(data.generic?.set.samples ?? [])],
      seed: request.seed ?? 0,
      sampling: request.sampling,
    });
    evaluation = { of: data, sets };
    sets.catch(() => {
      if (evaluation?.sets === sets) evaluation = undefined;
    });
  }
  return evaluation.sets;
}

/** The compare step's held-out answers (persona and plain) as whole sequences: what quantization is measured on. */
async function heldOutAnswers() {
  const { persona, general } = await evaluationSets();
  const sequences = [...persona.samples, ...general.samples].map((s) => s.ids);
  return { sequences, source: heldOutAnswersSource(sequences.length) };
}

/** Pooled perplexity of a set's answer tokens under a plan. */
async function answerPerplexity(set: CalibrationSet, plan: PlanWeights): Promise<number> {
  const nll = await loaded().evaluateNll(set.samples.map((s) => s.ids), plan);
  return summariseNll(nll.map((n, i) => answerNll(n, set.samples[i]!))).perplexity;
}

/** The prompt as the model expects it: persona prefix + story prompt (base model) or chat template with the persona as system prompt. */
function promptIds(persona: string | null, text: string): number[] {
  const format = pipeline!.format;
  return encodePrompt(loaded().tokenizer, format, renderPrompt(format, persona?.trim() || null, text).text);
}

async function compare(requestId: number, levels: { label: string; params: PlanParams }[], prompt: string) {
  const rt = loaded();
  const { persona, general } = await evaluationSets();
  const ids = promptIds(data?.request.persona ?? null, prompt);
  for (const level of levels) {
    // 0% is the dense model, through the same path as the plans: every channel kept.
    const { plan, kind } =
      level.params.sparsity === 0 ? { plan: { keep: rt.decodedModel().ffns.map((f) => Array.from({ length: f.intermediateSize }, (_, c) => c)) }, kind: 'dense' as const } : await planFor(level.params);
    const pruned = await rt.prunedModel(plan);
    const personaPerplexity = await answerPerplexity(persona, plan);
    const generalPerplexity = await answerPerplexity(general, plan);
    const session = await rt.sessionOf(pruned, 'wasm');
    try {
      const started = performance.now();
      const result = await generate(ort, session, rt.config, ids, { maxNewTokens: 48, temperature: 0, stopTokenIds: rt.stopIds });
      const seconds = (performance.now() - started) / 1000;
      post({
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
  post({ type: 'compare-done', requestId });
}

async function chat(requestId: number, text: string, persona: string, params: PlanParams | null, maxNewTokens: number) {
  const rt = loaded();
  const session = params ? await rt.sessionOf(await rt.prunedModel((await planFor(params)).plan), 'wasm') : rt.cpuSession;
  try {
    const ids = promptIds(persona, text);
    const decoder = rt.tokenizer.createStreamDecoder(ids);
    const started = performance.now();
    const result = await generate(ort, session, rt.config, ids, {
      maxNewTokens,
      temperature: 0,
      stopTokenIds: rt.stopIds,
      onToken: (id) => post({ type: 'token', requestId, text: decoder.push(id) }),
    });
    post({ type: 'token', requestId, text: decoder.flush() });
    post({ type: 'chat-done', requestId, tokens: result.tokens.length, elapsedMs: performance.now() - started });
  } finally {
    if (session !== rt.cpuSession) await session.release();
  }
}

async function exportFolder(requestId: number, params: PlanParams, folderName: string, quantizeTo?: 'int4') {
  const rt = loaded();
  // Only the refined plan downloads: a preview is a quick approximation of it.
  if (!refined || !samePlanParams(refined.params, params)) throw new Error('the plan shown is a preview; refine it first (step 5)');
  const { plan, manifest } = refined;
  const step = (name: 'build' | 'verify' | 'zip', state: 'running' | 'done') => post({ type: 'export-progress', requestId, step: name, state });
  step('build', 'running');
  const quantize = quantizeTo && { type: quantizeTo, heldOut: await heldOutAnswers() };
  const summaryOf = await rt.exportModel({ target: folderName, plan, method: plan.method, manifest, ...(quantize && { quantize }) });
  const folder = rt.exports.get(folderName)!;
  rt.exports.delete(folderName);
  step('build', 'done');
  step('verify', 'running');
  // Any real texts do for comparing logits: the first calibration samples.
  const texts = (data?.persona ?? data?.generic)?.set.samples.map((s) => [...s.ids]).filter((ids) => ids.length > 1) ?? [];
  const verified = await verifyExport(rt, folder, plan, texts.slice(0, 3));
  step('verify', 'done');
  step('zip', 'running');
  const zip = zipFolder(folder.files, folderName);
  step('zip', 'done');
  post({
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
async function exportGguf(requestId: number, files: { path: string; data: Uint8Array }[], fileName: string, ggufType: GgufWeightType) {
  const gguf = await ggufFromFolderFiles(files, ggufType, (done, total) => post({ type: 'gguf-progress', requestId, done, total }));
  post({ type: 'exported-gguf', requestId, result: { fileName, data: gguf.bytes, ggufType, arch: gguf.arch } }, [gguf.bytes.buffer as ArrayBuffer]);
}
