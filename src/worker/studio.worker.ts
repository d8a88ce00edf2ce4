/// <reference lib="webworker" />
// The studio's worker: one loaded model, its PersonaPipeline (BrowserPipelineRuntime), the saved statistics
// that every re-plan, comparison, chat and export starts from.
import * as ort from 'onnxruntime-web/webgpu';
import type { CalibrationSet } from '../calibration/calibration-set';
import { encodePrompt, renderPrompt } from '../calibration/persona-prompt';
import type { CalibrationSample } from '../calibration/engine-batches';
import type { CalibrationStats } from '../calibration/stats';
import type { PlanWeights } from '../eval/apply-plan';
import { summariseNll } from '../eval/nll';
import { generate } from '../model/generate';
import { readBundleFiles } from '../model/sources/bundle-files';
import { PersonaPipeline } from '../pipeline/persona-pipeline';
import type { PruneRequest } from '../pipeline/request';
import { resolveMethod } from '../pruning/plan-builder';
import { chooseBackend, wasmThreads, type Backend } from './backend';
import { BrowserPipelineRuntime } from './studio-runtime';
import { answerNll, buildEvaluationSets, heldOutAnswersSource, type EvaluationSets } from './studio-evaluation';
import { verifyExport, zipFolder } from './studio-export';
import { planWithOverrides } from './studio-plan';
import { ggufFromFolderFiles } from '../gguf/gguf-from-folder';
import type { GgufWeightType } from '../gguf/llama-gguf';
import type { CalibrationData, PlanParams, PlanSummary, StudioEvent, StudioModelSource, StudioProgress, StudioRequest, TrialParams } from './studio-protocol';

declare const self: DedicatedWorkerGlobalScope;

let backend: Promise<Backend> | undefined;
let runtime: BrowserPipelineRuntime | undefined;
let pipeline: PersonaPipeline | undefined;
let data: CalibrationData | undefined;
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
      if (message.data) data = message.data;
      if (message.checkpoint) loaded().addCheckpoint(message.checkpoint);
      return;
    case 'calibrate':
      return calibrate(message.requestId, message.request);
    case 'cancel':
      running?.abort();
      return;
    case 'generate':
      return tryModel(message.requestId, message.params);
    case 'stop':
      trial?.abort();
      return;
    case 'plan':
      return post({ type: 'plan', requestId: message.requestId, plan: await summary(message.params) });
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

async function calibrate(requestId: number, request: PruneRequest) {
  const rt = loaded();
  if (running) throw new Error('A calibration is already running.');
  running = new AbortController();
  let answerTokens = 0;
  const records: { samples: readonly CalibrationSample[]; stats: CalibrationStats; accumulator: 'gpu' | 'cpu' }[] = [];
  rt.hooks.onAnswer = (text, tokens) => {
    answerTokens += tokens;
    post({ type: 'answer', requestId, text });
  };
  rt.hooks.onCalibrated = (samples, stats, accumulator) => records.push({ samples, stats, accumulator });
  rt.hooks.onResume = (checkpoint) => post({ type: 'resumed', requestId, checkpoint });
  const report = progressReporter(requestId, () => answerTokens);
  const timings: Record<string, number> = {};
  let phase = '';
  let phaseStart = performance.now();
  const started = phaseStart;
  try {
    const outcome = await pipeline!.prune(request, {
      signal: running.signal,
      onProgress: (p) => {
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
    const method = outcome.method;
    const needsGeneric = method === 'wanda-sp' || method === 'flap' || (method === 'reconstruct' && (request.planOptions?.genericMix ?? 0.5) !== 0);
    const generic = needsGeneric ? await pipeline!.genericCalibration(request, { gram: method === 'reconstruct' }) : undefined;
    let personaRecord = records.filter((r) => r.stats !== generic?.stats).pop();
    // Sequential reconstruction gathers its Grams layer by layer; the re-planning below needs the dense ones.
    if (method === 'reconstruct' && personaRecord && !personaRecord.stats.layers.every((l) => l.gram)) {
      personaRecord = { ...personaRecord, stats: await rt.calibrate(personaRecord.samples, { gram: true }) };
    }
    const keep = (r: { stats: CalibrationStats; samples: readonly CalibrationSample[] } | undefined) => r && { stats: r.stats, samples: r.samples.map(({ ids, weights }) => ({ ids, weights })) };
    const previousPersona = data?.request.persona === request.persona ? data?.persona : undefined;
    data = {
      request,
      ...(generic && { generic: keep({ stats: generic.stats, samples: generic.set.samples }) }),
      ...((method === 'reconstruct' || method === 'activation') && { persona: keep(personaRecord) ?? previousPersona }),
    };
    const params: PlanParams = { method: request.method ?? 'persona', allocation: request.allocation ?? 'uniform', sparsity: request.sparsity, overrides: [] };
    post({ type: 'calibrated', requestId, data, plan: await summary(params), accumulator: records[0]?.accumulator ?? (rt.backend.kind === 'webgpu' ? 'gpu' : 'cpu'), timings });
  } finally {
    running = undefined;
    rt.hooks.onAnswer = undefined;
    rt.hooks.onCalibrated = undefined;
    rt.hooks.onResume = undefined;
  }
}

/** A plan rebuilt from the saved statistics: the inputs PersonaPipeline.prune gives buildPlan, plus the overrides. */
async function planOf(params: PlanParams) {
  loaded();
  if (!data) throw new Error('Run the calibration first.');
  const method = resolveMethod(params.method);
  const weights = await pipeline!.denseWeights(method === 'magnitude');
  const stats = (method === 'reconstruct' || method === 'activation' ? data.persona : data.generic)?.stats.layers;
  return planWithOverrides(
    {
      method: params.method,
      allocation: params.allocation,
      sparsity: params.sparsity,
      shape: pipeline!.shape(weights),
      weights,
      stats,
      ...(method === 'reconstruct' && data.generic && { genericStats: data.generic.stats.layers }),
      options: { ...data.request.planOptions, seed: data.request.seed ?? 0 },
    },
    params.overrides,
  );
}

async function summary(params: PlanParams): Promise<PlanSummary> {
  const plan = await planOf(params);
  return {
    params,
    method: plan.method,
    keptPerLayer: plan.keep.map((k) => k.length),
    widths: plan.scores.map((s) => s.length),
    scores: plan.scores,
    estimates: plan.estimates,
    totals: runtime!.totals(plan.keep.map((k) => k.length), plan.channelMeans !== undefined),
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
      calibration: [...(data.persona?.samples ?? []), ...(data.generic?.samples ?? [])],
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
    const plan = await planOf(level.params);
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
  const session = params ? await rt.sessionOf(await rt.prunedModel(await planOf(params)), 'wasm') : rt.cpuSession;
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
  const plan = await planOf(params);
  const step = (name: 'build' | 'verify' | 'zip', state: 'running' | 'done') => post({ type: 'export-progress', requestId, step: name, state });
  step('build', 'running');
  const manifest = { persona: data?.request.persona ?? null, requested_method: params.method, allocation: params.allocation, requested_sparsity: params.sparsity, layer_overrides: params.overrides, estimates: plan.estimates };
  const quantize = quantizeTo && { type: quantizeTo, heldOut: await heldOutAnswers() };
  const summaryOf = await rt.exportModel({ target: folderName, plan, method: plan.method, manifest, ...(quantize && { quantize }) });
  const folder = rt.exports.get(folderName)!;
  rt.exports.delete(folderName);
  step('build', 'done');
  step('verify', 'running');
  // Any real texts do for comparing logits: the first calibration samples.
  const texts = (data?.persona ?? data?.generic)?.samples.map((s) => [...s.ids]).filter((ids) => ids.length > 1) ?? [];
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
