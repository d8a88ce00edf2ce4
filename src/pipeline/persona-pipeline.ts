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
import { DEFAULT_GENERIC_MIX, resolveMethod, type BuiltPlan, type ScoringMethod } from '../pruning/plan-builder';
import { planWithOverrides } from '../pruning/plan-overrides';
import { mixedGram, reconstructLayer } from '../pruning/reconstruct';
import type { LayerWeights } from '../pruning/scoring';
import { calibrationSummary, pruningManifestFields, type CalibrationSummary } from './manifest';
import { PruneRequestError, resolvePruneRequest, type PruneRequest, type ResolvedPruneRequest } from './request';
import type { ExportSummary, PipelineRuntime } from './runtime';

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
  /** Write the pruned model here (a folder in Node); without it the plan is only built. */
  out?: { target: string; overwrite?: boolean };
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
  /** The plan search's choice and every candidate's held-out KL, when the search ran. */
  selection?: { chosen: string; heldOutKl: number; candidates: { label: string; kl: number; sparsities: number[] }[] };
}

/** The persona methods read persona statistics; the baselines generic ones (or none). */
const PERSONA_DATA: readonly ScoringMethod[] = ['reconstruct', 'activation'];
const GENERIC_DATA: readonly ScoringMethod[] = ['wanda-sp', 'flap'];

/** A calibration set and the statistics the dense model gives on it. */
export interface CalibrationData {
  set: CalibrationSet;
  stats: CalibrationStats;
}

/** The calibration statistics a request's plan reads, as far as this pipeline holds them. */
export interface HeldCalibration {
  persona?: CalibrationData;
  generic?: CalibrationData;
}

const personaKey = (req: ResolvedPruneRequest) => JSON.stringify([req.persona, req.samples, req.seed, req.sampling, req.filter, req.synthesis, req.userExamples]);
const genericKey = (req: ResolvedPruneRequest) => JSON.stringify([req.genericSamples, req.seed, req.sampling]);
const hasGram = (data: CalibrationData) => data.stats.layers.every((l) => l.gram);

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
    const needs = this.needs(req);
    const gram = needs.gram;
    const calibration: PruneOutcome['calibration'] = {};
    let generic: CalibrationData | undefined;
    if (needs.generic) {
      generic = await this.genericCalibration(req, { gram, signal, onProgress: options.onProgress });
      calibration.generic = calibrationSummary(generic.set, generic.stats, { filtered: false, synthesis: true });
    }
    let persona: CalibrationData | undefined;
    if (needs.persona) {
      persona = await this.personaCalibration(req, gram, signal, report);
      calibration.persona = calibrationSummary(persona.set, persona.stats, { filtered: req.filter, synthesis: req.synthesis }, this.runtime.tokenizer);
    }

    signal?.throwIfAborted();
    const weights = await this.denseWeights(method === 'magnitude');
    const layers = weights.length;
    const onScoring = report('scoring');
    onScoring(0, layers);
    let plan = this.oneShotPlan(req, weights, { persona, generic }, req.sequential ? undefined : onScoring);
    if (req.sequential) {
      plan = await this.sequentialReconstruct(plan, weights, [persona!, ...(generic ? [generic] : [])], genericMix, req, signal, onScoring);
    }
    onScoring(layers, layers);

    const manifest = pruningManifestFields(req, method, plan, calibration, { genericMix: gram && generic ? genericMix : undefined });
    const outcome: PruneOutcome = { request: req, method, plan, calibration, manifest };
    if (options.out) {
      signal?.throwIfAborted();
      const onExport = report('export');
      onExport(0, 1);
      outcome.export = await this.runtime.exportModel({ target: options.out.target, overwrite: options.out.overwrite, plan, method, manifest });
      onExport(1, 1);
    }
    return outcome;
  }

  /**
   * The instant preview: the one-shot plan (buildPlan + the request's per-layer overrides) from the
   * calibration this pipeline already holds for the request (a prune() of the same persona and data
   * settings, or restoreCalibration). No model runs, so a slider can call it on every move; prune() of the
   * same request is the refined plan (sequential reconstruction, and whatever else prune adds).
   */
  async replan(request: PruneRequest): Promise<BuiltPlan> {
    const req = this.resolve(request);
    const needs = this.needs(req);
    const held = await this.heldCalibration(req);
    const usable = (data: CalibrationData | undefined) => data && (!needs.gram || hasGram(data));
    if ((needs.persona && !usable(held.persona)) || (needs.generic && !usable(held.generic))) {
      throw new PruneRequestError('there are no calibration statistics for this persona and these settings yet: run the calibration first');
    }
    const weights = await this.denseWeights(resolveMethod(req.method) === 'magnitude');
    return this.oneShotPlan(req, weights, { persona: needs.persona ? held.persona : undefined, generic: needs.generic ? held.generic : undefined });
  }

  /** The calibration sets and statistics held for a request's persona and data settings (to save them, say). */
  async heldCalibration(request: PruneRequest): Promise<HeldCalibration> {
    const req = resolvePruneRequest(request, this.questions.length);
    const persona = this.lastPersona?.key === personaKey(req) ? this.lastPersona.entry : undefined;
    const generic = await this.generic.get(genericKey(req))?.catch(() => undefined);
    return { ...(persona && { persona }), ...(generic && { generic }) };
  }

  /** Adopts calibration saved from an earlier heldCalibration (after a reload), so replan and prune reuse it. */
  restoreCalibration(request: PruneRequest, held: HeldCalibration): void {
    const req = resolvePruneRequest(request, this.questions.length);
    if (held.persona) this.lastPersona = { key: personaKey(req), entry: held.persona };
    if (held.generic) this.generic.set(genericKey(req), Promise.resolve(held.generic));
  }

  /** Which statistics a request's method reads, and whether it needs their Gram matrices. */
  private needs(req: ResolvedPruneRequest): { persona: boolean; generic: boolean; gram: boolean } {
    const method = resolveMethod(req.method);
    const gram = method === 'reconstruct';
    const genericMix = req.planOptions?.genericMix ?? DEFAULT_GENERIC_MIX;
    return { persona: PERSONA_DATA.includes(method), generic: GENERIC_DATA.includes(method) || (gram && genericMix !== 0), gram };
  }

  /** buildPlan with the request's overrides, on the persona statistics (else the generic ones) a method reads. */
  private oneShotPlan(req: ResolvedPruneRequest, weights: LayerWeights[], data: HeldCalibration, onProgress?: (done: number, total: number) => void): BuiltPlan {
    const method = resolveMethod(req.method);
    const { persona, generic } = data;
    return planWithOverrides(
      {
        method,
        allocation: req.allocation,
        sparsity: req.sparsity,
        shape: this.shape(weights),
        weights,
        stats: (persona?.stats ?? generic?.stats)?.layers,
        ...(method === 'reconstruct' && generic && { genericStats: generic.stats.layers }),
        options: { ...req.planOptions, seed: req.seed, onProgress },
      },
      req.keepOverrides,
    );
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
    const key = genericKey(req);
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
    if (cached && (!gram || hasGram(cached))) return cached;
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
    const key = personaKey(req);
    const cached = this.lastPersona?.key === key ? this.lastPersona.entry : undefined;
    if (cached && (!gram || hasGram(cached))) return cached;
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
