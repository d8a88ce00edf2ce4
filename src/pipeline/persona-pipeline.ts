/**
 * The persona-pruning pipeline, platform neutral: persona → calibration set (sensitivity filtering, answers
 * in the persona's voice, the user's examples) → statistics (persona, and generic ones cached across
 * personas) → keep-plan (buildPlan, or sequential reconstruction: src/pipeline/sequential.ts) → export. The CLI and the
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
import type { CalibrationSample } from '../core/stats';
import { splitHeldOut } from '../calibration/held-out';
import { encodePrompt, promptFormat, renderPrompt, type PromptFormat } from '../calibration/persona-prompt';
import { promptsFor, referencePersonas } from '../calibration/question-bank';
import { positionLimit } from '../model/positions';
import { checkRequestLengths } from './request-lengths';
import { questionSensitivities, type HiddenStates } from '../calibration/sensitivity';
import type { CalibrationStats } from '../core/stats';
import { keepCounts } from '../pruning/allocation';
import { estimatePlan, modelShapeFromConfig, type ModelShape } from '../pruning/estimates';
import { buildPlan, DEFAULT_GENERIC_MIX, resolveMethod, type BuiltPlan, type ScoringMethod } from '../pruning/plan-builder';
import { planWithOverrides } from '../pruning/plan-overrides';
import { DEFAULT_DAMPING, mixedGram } from '../pruning/reconstruct';
import { LayerReconstructor } from '../pruning/reconstruct-path';
import type { LayerWeights } from '../pruning/scoring';
import { calibrationSummary, pruningManifestFields, type CalibrationSummary } from './manifest';
import { PruneRequestError, resolvePruneRequest, type PruneRequest, type ResolvedPruneRequest } from './request';
import { beatsBeyondNoise, evolveCounts, mutationStep, selectPlan, type Candidate, type JudgedCandidate, type PlanSelection, type SearchSettings } from './plan-search';
import type { ExportSummary, PipelineRuntime } from './runtime';
import type { HeldOutSet, QuantizeRequest } from '../onnx/quantize-int4';
import { buildEvaluationSets, EVALUATION_SAMPLES, heldOutAnswersSource, heldOutQuestions } from './evaluation-sets';
import { sequentialReconstruct, type SequentialResult } from './sequential';

export type PipelinePhase = 'filtering' | 'synthesis' | 'calibration' | 'scoring' | 'search' | 'export';

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
  /** The plan search (request.search): the chosen candidate and every candidate's held-out KL. */
  selection?: PlanSelection;
}

/** The persona methods read persona statistics; the baselines generic ones (or none). */
const PERSONA_DATA: readonly ScoringMethod[] = ['reconstruct', 'activation'];
const GENERIC_DATA: readonly ScoringMethod[] = ['wanda-sp', 'flap'];

/** A calibration set and the statistics the dense model gives on it. */
export interface CalibrationData {
  set: CalibrationSet;
  stats: CalibrationStats;
  /** Persona samples built like `set`'s but held out of the statistics (plan search judges plans on them). */
  heldOut?: CalibrationSet['samples'];
}

/** The calibration statistics a request's plan reads, as far as this pipeline holds them. */
export interface HeldCalibration {
  persona?: CalibrationData;
  generic?: CalibrationData;
}

/** Persona samples held out of the statistics for the plan search (none without it). */
const heldOutCount = (req: ResolvedPruneRequest) => (req.search ? req.search.heldOutSamples : 0);
const personaKey = (req: ResolvedPruneRequest) =>
  JSON.stringify([req.persona, req.samples, heldOutCount(req), req.seed, req.sampling, req.filter, req.synthesis, req.userExamples]);
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
  private heldSolvers?: { persona: CalibrationData; mixed?: CalibrationData; genericMix: number; weights: LayerWeights[]; solvers: OneShotSolvers };

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
    // Sequential reconstruction gathers its own Grams layer by layer; the dense ones only serve a
    // non-uniform allocation (its counts rank every layer's saliency at once), the plan search's one-shot
    // candidates and the instant previews (replan) that the studio builds on the held statistics.
    const gram = needs.gram && (req.search !== false || !(req.sequential && req.allocation === 'uniform'));
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
    const onScoring = report('scoring');
    const shape = this.shape(weights);
    onScoring(0, shape.numLayers);
    let plan: BuiltPlan;
    let sequential: SequentialResult['calibration'] | undefined;
    // One-shot solvers on the dense statistics, shared by every one-shot plan of this run (the search's too)
    // and by the previews that follow.
    const solvers = persona && method === 'reconstruct' && hasGram(persona) ? this.oneShotSolvers(req, weights, { persona, generic }) : undefined;
    let oneShot: BuiltPlan | undefined;
    if (req.sequential) {
      // A uniform allocation's counts need no solve; any other ranks every layer's one-shot saliency.
      if (req.allocation !== 'uniform') oneShot = await this.oneShotPlan(req, weights, { persona, generic }, undefined, solvers);
      const counts = oneShot
        ? oneShot.keep.map((k) => k.length)
        : keepCounts('uniform', shape.intermediateSizes.map((c) => new Float64Array(c)), { ...req.planOptions, sparsity: req.sparsity }).map((c, l) => req.keepOverrides?.[l] ?? c);
      const result = await sequentialReconstruct({
        runtime: this.runtime,
        weights,
        counts,
        sets: [persona!, ...(generic ? [generic] : [])].map((d) => stripMeta(d.set)),
        genericMix,
        damping: req.planOptions?.damping,
        signal,
        onProgress: onScoring,
      });
      sequential = result.calibration;
      plan = { method, keep: result.keep, downWeights: result.downWeights, scores: result.scores, estimates: estimatePlan(shape, counts, req.planOptions) };
    } else {
      plan = oneShot = await this.oneShotPlan(req, weights, { persona, generic }, onScoring, solvers);
    }
    onScoring(shape.numLayers, shape.numLayers);

    let selection: PlanSelection | undefined;
    // Per-layer counts the writer set by hand are a decision, not something for the search to re-allocate.
    if (req.search && persona?.heldOut?.length && !overriddenCounts(req)) {
      ({ plan, selection } = await this.searchPlan({ plan, oneShot, solvers: solvers!, weights, shape, persona, generic, genericMix, req, settings: req.search, signal, onProgress: report('search') }));
    }

    const manifest = pruningManifestFields(req, plan.method, plan, calibration, { genericMix: needs.gram && generic ? genericMix : undefined });
    if (sequential) manifest.sequential_calibration = sequential;
    if (selection) manifest.selection = { ...selection, heldOut: { samples: persona!.heldOut!.length, countedTokens: persona!.heldOut!.reduce((n, s) => n + s.meta.answerTokens, 0) } };
    const outcome: PruneOutcome = { request: req, method: plan.method, plan, calibration, manifest, ...(selection && { selection }) };
    if (options.out) {
      signal?.throwIfAborted();
      const onExport = report('export');
      onExport(0, 1);
      const quantize = options.out.quantize && {
        ...options.out.quantize,
        heldOut: options.out.quantize.heldOut ?? (await this.heldOutSet(req, [persona, generic], signal)),
      };
      outcome.export = await this.runtime.exportModel({ target: options.out.target, overwrite: options.out.overwrite, plan, method: plan.method, manifest, ...(quantize && { quantize }) });
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
    const data = { persona: needs.persona ? held.persona : undefined, generic: needs.generic ? held.generic : undefined };
    // The removal paths held from the last run (or preview) make a preview at another level one refit per layer.
    const solvers = needs.gram && data.persona ? this.oneShotSolvers(req, weights, { persona: data.persona, generic: data.generic }) : undefined;
    return await this.oneShotPlan(req, weights, data, undefined, solvers);
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

  /**
   * buildPlan with the request's overrides, on the persona statistics (else the generic ones) a method reads;
   * reconstruct on `solvers` at the request's damping when given (their paths then serve later plans too).
   */
  private oneShotPlan(
    req: ResolvedPruneRequest,
    weights: LayerWeights[],
    data: HeldCalibration,
    onProgress?: (done: number, total: number) => void,
    solvers?: OneShotSolvers,
  ): Promise<BuiltPlan> {
    const method = resolveMethod(req.method);
    const { persona, generic } = data;
    const damping = req.planOptions?.damping ?? DEFAULT_DAMPING;
    return planWithOverrides(
      {
        method,
        allocation: req.allocation,
        sparsity: req.sparsity,
        shape: this.shape(weights),
        weights,
        stats: (persona?.stats ?? generic?.stats)?.layers,
        ...(method === 'reconstruct' && generic && { genericStats: generic.stats.layers }),
        ...(method === 'reconstruct' && solvers && { reconstructors: (l: number) => solvers.at(damping, l) }),
        options: { ...req.planOptions, seed: req.seed, onProgress, matmul: this.runtime.matmul },
      },
      req.keepOverrides,
    );
  }

  /**
   * Per damping and layer, one reconstruct solver on the mixed dense Gram of a request's data (made when a
   * pass needs it). The solvers of the latest data are kept, so prune() and the previews of the same
   * calibration share their removal paths.
   */
  private oneShotSolvers(req: ResolvedPruneRequest, weights: LayerWeights[], data: { persona: CalibrationData; generic?: CalibrationData }): OneShotSolvers {
    const genericMix = req.planOptions?.genericMix ?? DEFAULT_GENERIC_MIX;
    const mixed = data.generic && genericMix !== 0 ? data.generic : undefined;
    const held = this.heldSolvers;
    if (held && held.persona === data.persona && held.mixed === mixed && held.genericMix === genericMix && held.weights === weights) return held.solvers;
    const hidden = this.shape(weights).hiddenSize;
    const solvers = new Map<string, LayerReconstructor>();
    const made: OneShotSolvers = {
      at: (damping, l) => {
        const key = `${damping}:${l}`;
        let solver = solvers.get(key);
        if (!solver) {
          const gram = () => mixedGram(data.persona.stats.layers[l]!, mixed?.stats.layers[l], mixed ? genericMix : 0);
          solvers.set(key, (solver = new LayerReconstructor(gram, weights[l]!.down, hidden, { damping, matmul: this.runtime.matmul })));
        }
        return solver;
      },
    };
    this.heldSolvers = { persona: data.persona, mixed, genericMix, weights, solvers: made };
    return made;
  }

  /**
   * Chooses the plan by held-out KL (plan-search.ts). Candidates: the plan built so far; one-shot
   * reconstruction at the requested damping and at ten times it; Wanda-sp and FLAP on the persona data and
   * on the generic data (so the result is never worse than those baselines on the held-out KL); and the
   * per-layer allocation found by evolution over the best one-shot damping, plus its sequential refit when
   * the request is sequential and the allocation is measurably better than the one it started from. Every
   * kept-count vector has the same total, i.e. the same parameter budget.
   * selectPlan picks the winner (the lowest KL, or the plan built so far when the gap is within noise).
   */
  private async searchPlan(args: {
    plan: BuiltPlan;
    /** The one-shot plan at the request's damping, when prune() built one. */
    oneShot: BuiltPlan | undefined;
    solvers: OneShotSolvers;
    weights: LayerWeights[];
    shape: ModelShape;
    persona: CalibrationData;
    generic: CalibrationData | undefined;
    genericMix: number;
    req: ResolvedPruneRequest;
    settings: SearchSettings;
    signal: AbortSignal | undefined;
    onProgress: (done: number, total: number) => void;
  }): Promise<{ plan: BuiltPlan; selection: PlanSelection }> {
    const { weights, shape, persona, generic, genericMix, req, settings, signal, onProgress } = args;
    const heldOut = stripMeta({ samples: persona.heldOut! });
    const quick = heldOut.slice(0, settings.quickSamples);
    const widths = shape.intermediateSizes;
    const damping = req.planOptions?.damping ?? DEFAULT_DAMPING;
    const mixed = generic && genericMix !== 0 ? generic : undefined;
    const common = { allocation: req.allocation, sparsity: req.sparsity, shape, weights };
    const { solvers } = args;
    const oneShot = (d: number) =>
      buildPlan({
        ...common,
        method: 'reconstruct',
        stats: persona.stats.layers,
        ...(mixed && { genericStats: mixed.stats.layers }),
        reconstructors: (l) => solvers.at(d, l),
        options: { ...req.planOptions, damping: d, genericMix, seed: req.seed, matmul: this.runtime.matmul },
      });
    const baselineOptions = { ...req.planOptions, damping: undefined, genericMix: undefined, biasCompensation: undefined, seed: req.seed };
    const baselines: (Candidate & { plan: BuiltPlan })[] = [];
    for (const data of ['persona', 'generic'] as const) {
      const stats = (data === 'persona' ? persona : generic)?.stats.layers;
      if (!stats) continue;
      for (const method of ['wanda-sp', 'flap'] as const) baselines.push({ label: `${method} (${data} data)`, baseline: true, plan: await buildPlan({ ...common, method, stats, options: baselineOptions }) });
    }
    // The one-shot plan at the requested damping is prune()'s own when it built one with these counts.
    const oneShots: (Candidate & { plan: BuiltPlan; damping: number })[] = [];
    for (const [i, d] of [damping, damping * 10].entries()) {
      oneShots.push({ label: `reconstruct one-shot, damping ${d}`, plan: (i === 0 && args.oneShot) || (await oneShot(d)), damping: d });
    }
    const fixed: (Candidate & { plan: BuiltPlan })[] = [...(req.sequential ? [{ label: `reconstruct sequential, damping ${damping}`, plan: args.plan }] : []), ...oneShots, ...baselines];

    const evolving = settings.generations > 0;
    const total = (fixed.length + (evolving ? 1 + Number(req.sequential) : 0)) * heldOut.length + (evolving ? (1 + settings.generations * settings.offspring) * quick.length : 0);
    let done = 0;
    onProgress(0, total);
    const judge = async (plan: BuiltPlan, samples: CalibrationSample[]) => {
      const summary = await this.runtime.heldOutKl(samples, { keep: plan.keep, downWeights: plan.downWeights, channelMeans: plan.channelMeans }, { signal });
      done += samples.length;
      onProgress(Math.min(done, total), total);
      return summary;
    };
    const judged: JudgedCandidate<Candidate & { plan: BuiltPlan }>[] = [];
    const add = async (candidate: Candidate & { plan: BuiltPlan }) => {
      const { meanKl, perSample } = await judge(candidate.plan, heldOut);
      judged.push({ candidate, kl: meanKl, perSample });
    };
    for (const candidate of fixed) await add(candidate);

    if (evolving) {
      // Evolve from the better one-shot damping; each layer's reconstruction at a given count is computed once.
      const judgedOf = (plan: BuiltPlan) => judged.find((j) => j.candidate.plan === plan)!;
      const klOf = (plan: BuiltPlan) => judgedOf(plan).kl;
      const base = oneShots.reduce((best, c) => (klOf(c.plan) < klOf(best.plan) ? c : best));
      // Each layer's removal path at the base damping serves every count the evolution tries.
      const planFor = async (counts: readonly number[]): Promise<BuiltPlan> => {
        const results = [];
        for (const [l, count] of counts.entries()) results.push(await solvers.at(base.damping, l).solve(count));
        return { method: 'reconstruct', keep: results.map((r) => r.keep), downWeights: results.map((r) => r.down), scores: base.plan.scores, estimates: estimatePlan(shape, [...counts], req.planOptions) };
      };
      const start = base.plan.keep.map((k) => k.length);
      const evolved = await evolveCounts({
        start,
        widths,
        step: mutationStep(widths, req.planOptions?.multiple),
        minKeep: req.planOptions?.minKeep ?? 1,
        generations: settings.generations,
        offspring: settings.offspring,
        seed: req.seed,
        judge: async (counts) => (await judge(await planFor(counts), quick)).meanKl,
        signal,
      });
      if (evolved.counts.join(',') !== start.join(',')) {
        const searched = await planFor(evolved.counts);
        await add({ label: `searched allocation, one-shot, damping ${base.damping}`, plan: searched });
        // Its sequential refit costs another calibration pass: worth it only where the searched allocation
        // beats the one it started from by more than one standard error of the paired per-sample
        // differences (selectPlan's noise rule), i.e. where the evolution found more than selection noise.
        if (req.sequential && beatsBeyondNoise(judgedOf(searched).perSample, judgedOf(base.plan).perSample)) {
          const refit = await sequentialReconstruct({
            runtime: this.runtime,
            weights,
            counts: evolved.counts,
            sets: [persona, ...(mixed ? [mixed] : [])].map((d) => stripMeta(d.set)),
            genericMix,
            damping: req.planOptions?.damping,
            signal,
          });
          const plan: BuiltPlan = { method: 'reconstruct', keep: refit.keep, downWeights: refit.downWeights, scores: refit.scores, estimates: estimatePlan(shape, evolved.counts, req.planOptions) };
          await add({ label: `searched allocation, sequential, damping ${damping}`, plan });
        }
      }
    }
    onProgress(total, total);
    const { chosen, selection } = selectPlan(judged, widths);
    return { plan: chosen.plan, selection };
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
    const heldOutSamples = heldOutCount(req);
    const key = personaKey(req);
    const cached = this.lastPersona?.key === key ? this.lastPersona.entry : undefined;
    if (cached && (!gram || hasGram(cached))) return cached;
    let set = cached?.set;
    let heldOut = cached?.heldOut;
    if (!set) {
      // Held-out samples are the next prompts of the same choice, answered the same way, then split off.
      const all = await this.personaSet({ ...req, samples: req.samples + heldOutSamples }, signal, report);
      ({ calibration: set, heldOut } = heldOutSamples ? splitHeldOut(all, heldOutSamples) : { calibration: all, heldOut: undefined });
    }
    const entry = { set, ...(heldOut && { heldOut }), stats: await this.runtime.calibrate(stripMeta(set), { gram, signal, onProgress: report('calibration', 'persona') }) };
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

/** Reconstruct solvers of one run's dense statistics, by damping and layer (see PersonaPipeline.oneShotSolvers). */
interface OneShotSolvers {
  at(damping: number, layer: number): LayerReconstructor;
}

/** Whether a request sets some layer's kept count by hand. */
const overriddenCounts = (req: ResolvedPruneRequest) => req.keepOverrides?.some((k) => k !== null && k !== undefined) ?? false;

/** Engine samples without provenance (plain ids and weights: what a runtime needs, and cheap to post). */
function stripMeta(set: Pick<CalibrationSet, 'samples'>): CalibrationSample[] {
  return set.samples.map(({ ids, weights }) => ({ ids, weights }));
}
