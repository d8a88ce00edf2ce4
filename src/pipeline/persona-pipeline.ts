/**
 * The persona-pruning pipeline, platform neutral: persona → calibration set (sensitivity filtering, answers
 * in the persona's voice, the user's examples) → statistics (persona, and generic ones cached across
 * personas) → keep-plan (buildPlan, then optionally sequential reconstruction) → export. The CLI and the
 * studio's worker both drive it through a PipelineRuntime. One PersonaPipeline per loaded model: it keeps
 * what does not depend on the persona (the generic statistics, the reference personas' hidden states, the
 * dense weights) for every request, and the latest persona's calibration for the next plan of that persona.
 */
import {
  buildCalibrationSet,
  buildGenericCalibrationSet,
  type CalibrationSet,
  type SynthesisSettings,
  type Synthesize,
} from '../calibration/calibration-set';
import type { CalibrationSample } from '../calibration/engine-batches';
import { encodePrompt, promptFormat, renderPrompt, type PromptFormat } from '../calibration/persona-prompt';
import { promptsFor, referencePersonas } from '../calibration/question-bank';
import { positionLimit } from '../model/positions';
import { checkRequestLengths } from './request-lengths';
import { questionSensitivities, type HiddenStates } from '../calibration/sensitivity';
import type { CalibrationStats } from '../calibration/stats';
import { modelShapeFromConfig, type ModelShape } from '../pruning/estimates';
import { buildPlan, DEFAULT_GENERIC_MIX, resolveMethod, type BuiltPlan, type ScoringMethod } from '../pruning/plan-builder';
import { mixedGram, reconstructLayer } from '../pruning/reconstruct';
import type { LayerWeights } from '../pruning/scoring';
import { calibrationSummary, pruningManifestFields, type CalibrationSummary } from './manifest';
import { PruneRequestError, resolvePruneRequest, type PruneRequest, type ResolvedPruneRequest } from './request';
import type { ExportSummary, PipelineRuntime } from './runtime';
import type { HeldOutSet, QuantizeRequest } from '../onnx/quantize-int4';
import { buildEvaluationSets, EVALUATION_SAMPLES, heldOutAnswersSource, heldOutQuestions } from '../worker/studio-evaluation';

export type PipelinePhase = 'filtering' | 'synthesis' | 'calibration' | 'scoring' | 'export';

export interface PipelineProgress {
  phase: PipelinePhase;
  /** Which calibration set a filtering/synthesis/calibration step works on. */
  set?: 'persona' | 'generic';
  done: number;
  total: number;
}

export interface PruneRunOptions {
  signal?: AbortSignal;
  onProgress?: (progress: PipelineProgress) => void;
  /**
   * Write the pruned model here (a folder in Node); without it the plan is only built. `quantize` without
   * held-out sequences measures NLL on the dense model's answers to prompts calibration did not use.
   */
  out?: { target: string; overwrite?: boolean; quantize?: QuantizeRequest };
}

export interface PruneOutcome {
  request: ResolvedPruneRequest;
  /** The scoring method `request.method` resolved to. */
  method: ScoringMethod;
  plan: BuiltPlan;
  calibration: { persona?: CalibrationSummary; generic?: CalibrationSummary };
  /** Fields this pipeline adds to pruning.json (beside the exporter's keep, sizes and parameter counts). */
  manifest: Record<string, unknown>;
  export?: ExportSummary;
}

/** The persona methods read persona statistics; the baselines generic ones (or none). */
const PERSONA_DATA: readonly ScoringMethod[] = ['reconstruct', 'activation'];
const GENERIC_DATA: readonly ScoringMethod[] = ['wanda-sp', 'flap'];

/** A calibration set and the statistics the dense model gives on it. */
export interface CalibrationData {
  set: CalibrationSet;
  stats: CalibrationStats;
}

export class PersonaPipeline {
  readonly format: PromptFormat;
  /** Calibration prompts that suit the model: chat questions, or story openings for a base model. */
  readonly questions: readonly string[];
  private readonly generic = new Map<string, Promise<CalibrationData>>();
  /** Hidden states of (reference persona, question) runs: the same for every target persona. */
  private readonly referenceStates = new Map<string, Float32Array[]>();
  private readonly weights = new Map<boolean, Promise<LayerWeights[]>>();
  private lastPersona?: { key: string; entry: CalibrationData };

  constructor(
    readonly runtime: PipelineRuntime,
    /** Contrast personas of sensitivity filtering (default: the project's reference personas). */
    readonly references: readonly string[] = referencePersonas().map((p) => p.description),
  ) {
    this.format = promptFormat(runtime.tokenizerConfig);
    this.questions = promptsFor(this.format);
  }

  /** Validates a request against this model's question bank (throws PruneRequestError). */
  resolve(request: PruneRequest): ResolvedPruneRequest {
    const resolved = resolvePruneRequest(request, this.questions.length);
    if (PERSONA_DATA.includes(resolveMethod(resolved.method)) && resolved.persona === undefined) {
      throw new PruneRequestError(`the ${resolved.method} method needs a persona description`);
    }
    if (resolved.sequential && resolveMethod(resolved.method) !== 'reconstruct') {
      throw new PruneRequestError(`sequential reconstruction is an option of the reconstruct method, not of ${resolved.method}`);
    }
    checkRequestLengths(resolved, { format: this.format, questions: this.questions, tokenizer: this.runtime.tokenizer, limit: positionLimit(this.runtime.config) });
    return resolved;
  }

  async prune(request: PruneRequest, options: PruneRunOptions = {}): Promise<PruneOutcome> {
    const req = this.resolve(request);
    const method = resolveMethod(req.method);
    const { signal } = options;
    const report = (phase: PipelinePhase, set?: 'persona' | 'generic') => (done: number, total: number) => options.onProgress?.({ phase, ...(set && { set }), done, total });
    signal?.throwIfAborted();

    const genericMix = req.planOptions?.genericMix ?? DEFAULT_GENERIC_MIX;
    const gram = method === 'reconstruct';
    const calibration: PruneOutcome['calibration'] = {};
    let generic: CalibrationData | undefined;
    if (GENERIC_DATA.includes(method) || (gram && genericMix !== 0)) {
      generic = await this.genericCalibration(req, { gram, signal, onProgress: options.onProgress });
      calibration.generic = calibrationSummary(generic.set, generic.stats, { filtered: false, synthesis: true });
    }
    let persona: CalibrationData | undefined;
    if (PERSONA_DATA.includes(method)) {
      persona = await this.personaCalibration(req, gram, signal, report);
      calibration.persona = calibrationSummary(persona.set, persona.stats, { filtered: req.filter, synthesis: req.synthesis }, this.runtime.tokenizer);
    }

    signal?.throwIfAborted();
    const weights = await this.denseWeights(method === 'magnitude');
    const shape = this.shape(weights);
    const onScoring = report('scoring');
    onScoring(0, shape.numLayers);
    let plan = buildPlan({
      method,
      allocation: req.allocation,
      sparsity: req.sparsity,
      shape,
      weights,
      stats: (persona?.stats ?? generic?.stats)?.layers,
      ...(gram && generic && { genericStats: generic.stats.layers }),
      options: { ...req.planOptions, seed: req.seed, onProgress: req.sequential ? undefined : onScoring },
    });
    if (req.sequential) {
      plan = await this.sequentialReconstruct(plan, weights, [persona!, ...(generic ? [generic] : [])], genericMix, req, signal, onScoring);
    }
    onScoring(shape.numLayers, shape.numLayers);

    const manifest = pruningManifestFields(req, method, plan, calibration, { genericMix: gram && generic ? genericMix : undefined });
    const outcome: PruneOutcome = { request: req, method, plan, calibration, manifest };
    if (options.out) {
      signal?.throwIfAborted();
      const onExport = report('export');
      onExport(0, 1);
      const quantize = options.out.quantize && {
        ...options.out.quantize,
        heldOut: options.out.quantize.heldOut ?? (await this.heldOutSet(req, [persona, generic], signal)),
      };
      outcome.export = await this.runtime.exportModel({ target: options.out.target, overwrite: options.out.overwrite, plan, method, manifest, ...(quantize && { quantize }) });
      onExport(1, 1);
    }
    return outcome;
  }

  /**
   * Sequential reconstruction: layer l is re-solved on statistics of the model whose layers before l are
   * already pruned (and refit), so each refit sees the inputs the pruned model will really feed it. Same kept
   * counts as the one-shot plan; one calibration run per set and layer.
   */
  private async sequentialReconstruct(
    plan: BuiltPlan,
    weights: readonly LayerWeights[],
    sets: readonly CalibrationData[],
    genericMix: number,
    req: ResolvedPruneRequest,
    signal: AbortSignal | undefined,
    onProgress: (done: number, total: number) => void,
  ): Promise<BuiltPlan> {
    const hidden = this.runtime.config.hidden_size;
    const keep = [...plan.keep];
    const downWeights = [...plan.downWeights!];
    const scores = [...plan.scores];
    onProgress(1, weights.length);
    for (let l = 1; l < weights.length; l++) {
      const partial = {
        keep: keep.map((k, i) => (i < l ? k : Array.from({ length: weights[i]!.down.length / hidden }, (_, c) => c))),
        downWeights: downWeights.map((d, i) => (i < l ? d : weights[i]!.down)),
      };
      const stats = [];
      for (const set of sets) stats.push((await this.runtime.calibrate(stripMeta(set.set), { gram: true, plan: partial, signal })).layers[l]!);
      const gram = mixedGram(stats[0]!, stats[1], stats[1] ? genericMix : 0);
      const layer = reconstructLayer(gram, weights[l]!.down, hidden, keep[l]!.length, { damping: req.planOptions?.damping });
      keep[l] = layer.keep;
      downWeights[l] = layer.down;
      scores[l] = layer.saliency;
      onProgress(l + 1, weights.length);
    }
    return { ...plan, keep, downWeights, scores };
  }

  /**
   * Held-out sequences for measuring an export (quantization's NLL before/after): the dense model's persona
   * and plain answers to prompts no calibration sample used, with a seed of their own. Undefined without a
   * persona, or when too few prompts are left over.
   */
  private async heldOutSet(req: ResolvedPruneRequest, calibration: (CalibrationData | undefined)[], signal?: AbortSignal): Promise<HeldOutSet | undefined> {
    if (req.persona === undefined) return undefined;
    const samples = calibration.flatMap((c) => c?.set.samples ?? []);
    const common = { questions: this.questions, tokenizer: this.runtime.tokenizer, format: this.format, persona: req.persona, calibration: samples };
    if (heldOutQuestions(common.questions, common.tokenizer, common.format, common.persona, samples).length < 2 * EVALUATION_SAMPLES) return undefined;
    const sets = await buildEvaluationSets({ ...common, synthesize: this.guard(this.runtime.generate, signal), seed: req.seed, sampling: req.sampling });
    const sequences = [...sets.persona.samples, ...sets.general.samples].map((s) => s.ids);
    return { sequences, source: heldOutAnswersSource(sequences.length) };
  }

  /** Dense FFN weights, read once per pipeline (gate/up only for the magnitude method). */
  denseWeights(gateUp: boolean): Promise<LayerWeights[]> {
    let weights = this.weights.get(gateUp);
    if (!weights) {
      weights = this.runtime.ffnWeights({ gateUp });
      this.weights.set(gateUp, weights);
    }
    return weights;
  }

  /** The model's shape with the FFN widths it really has (a pruned model may differ per layer from config.json). */
  shape(weights: readonly LayerWeights[]): ModelShape {
    const shape = modelShapeFromConfig(this.runtime.config);
    return { ...shape, numLayers: weights.length, intermediateSizes: weights.map((w) => w.down.length / shape.hiddenSize) };
  }

  private guard<A extends unknown[], R>(fn: (...args: A) => Promise<R>, signal?: AbortSignal): (...args: A) => Promise<R> {
    return (...args) => {
      signal?.throwIfAborted();
      return fn(...args);
    };
  }

  /**
   * The generic calibration set (no persona, plain answers: the baselines' data) and its statistics, cached
   * by everything they depend on. Gram statistics, once computed, also serve requests that do not need them.
   */
  async genericCalibration(request: PruneRequest, options: Omit<PruneRunOptions, 'out'> & { gram: boolean }): Promise<CalibrationData> {
    const req = resolvePruneRequest(request, this.questions.length);
    const { signal, gram } = options;
    const report = (phase: PipelinePhase) => (done: number, total: number) => options.onProgress?.({ phase, set: 'generic', done, total });
    const key = JSON.stringify([req.genericSamples, req.seed, req.sampling]);
    const make = async (previous?: CalibrationData): Promise<CalibrationData> => {
      const set =
        previous?.set ??
        (await buildGenericCalibrationSet({
          questions: this.questions,
          tokenizer: this.runtime.tokenizer,
          format: this.format,
          synthesize: this.guard(this.runtime.generate, signal),
          samples: req.genericSamples,
          seed: req.seed,
          sampling: req.sampling,
          onProgress: report('synthesis'),
        }));
      const stats = await this.runtime.calibrate(stripMeta(set), { gram, signal, onProgress: report('calibration') });
      return { set, stats };
    };
    const cached = await this.generic.get(key)?.catch(() => undefined);
    if (cached && (!gram || cached.stats.layers.every((l) => l.gram))) return cached;
    const entry = make(cached);
    this.generic.set(key, entry);
    try {
      return await entry;
    } catch (error) {
      this.generic.delete(key);
      throw error;
    }
  }

  /**
   * The persona set and its statistics. The latest one is kept, so plans at other sparsities, allocations
   * or methods for the same persona (the studio's side-by-side comparison) skip synthesis and calibration.
   */
  private async personaCalibration(
    req: ResolvedPruneRequest,
    gram: boolean,
    signal: AbortSignal | undefined,
    report: (phase: PipelinePhase, set?: 'persona') => (done: number, total: number) => void,
  ): Promise<CalibrationData> {
    const key = JSON.stringify([req.persona, req.samples, req.seed, req.sampling, req.filter, req.synthesis, req.userExamples]);
    const cached = this.lastPersona?.key === key ? this.lastPersona.entry : undefined;
    if (cached && (!gram || cached.stats.layers.every((l) => l.gram))) return cached;
    const set = cached?.set ?? (await this.personaSet(req, signal, report));
    const entry = { set, stats: await this.runtime.calibrate(stripMeta(set), { gram, signal, onProgress: report('calibration', 'persona') }) };
    this.lastPersona = { key, entry };
    return entry;
  }

  private async personaSet(
    req: ResolvedPruneRequest,
    signal: AbortSignal | undefined,
    report: (phase: PipelinePhase, set?: 'persona') => (done: number, total: number) => void,
  ): Promise<CalibrationSet> {
    const persona = req.persona!;
    const { tokenizer } = this.runtime;
    const hiddenStates: HiddenStates = this.guard(this.runtime.hiddenStates, signal);
    const sensitivity = req.filter
      ? await questionSensitivities({
          persona,
          references: this.references,
          questions: this.questions,
          format: this.format,
          tokenizer,
          hiddenStates,
          cache: this.referenceStates,
          onProgress: report('filtering', 'persona'),
        })
      : undefined;
    return buildCalibrationSet({
      persona,
      questions: this.questions,
      tokenizer,
      format: this.format,
      synthesize: req.synthesis ? this.guard(this.runtime.generate, signal) : this.plainAnswers(persona, signal),
      samples: req.samples,
      seed: req.seed,
      sampling: req.sampling,
      sensitivity,
      userExamples: req.userExamples,
      onProgress: report('synthesis', 'persona'),
    });
  }

  /**
   * "No rewriting": the answer to a persona prompt is the one the dense model gives the same question
   * without the persona. The calibration set asks by prompt ids, so map them back to their question.
   */
  private plainAnswers(persona: string, signal: AbortSignal | undefined): Synthesize {
    const { tokenizer } = this.runtime;
    const ids = (who: string | null, question: string) => encodePrompt(tokenizer, this.format, renderPrompt(this.format, who, question).text);
    const questionOf = new Map(this.questions.map((q) => [ids(persona, q).join(','), q]));
    const generate = this.guard(this.runtime.generate, signal);
    return (promptIds: number[], settings: SynthesisSettings & { seed: number }) => {
      const question = questionOf.get(promptIds.join(','));
      if (question === undefined) throw new Error('internal: a persona prompt that is not in the question bank');
      return generate(ids(null, question), settings);
    };
  }
}

/** Engine samples without provenance (plain ids and weights: what a runtime needs, and cheap to post). */
function stripMeta(set: CalibrationSet): CalibrationSample[] {
  return set.samples.map(({ ids, weights }) => ({ ids, weights }));
}
