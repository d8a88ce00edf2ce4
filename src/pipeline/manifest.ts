/**
 * What the pipeline adds to pruning.json beside the exporter's fields (keep, sizes, parameter counts): how
 * the plan was made (persona, method, allocation, options), what it was calibrated on, its estimates and
 * its channel scores. Plain JSON.
 */
import type { CalibrationSet } from '../calibration/calibration-set';
import type { CalibrationStats } from '../core/stats';
import type { BuiltPlan, ScoringMethod } from '../pruning/plan-builder';
import type { ResolvedPruneRequest } from './request';
import type { PipelineTokenizer } from './runtime';

export interface CalibrationPromptRecord {
  kind: string;
  prompt: string;
  /** Persona sensitivity of the prompt, when the set was filtered. */
  sensitivity?: number;
  weight: number;
  answerTokens: number;
  /** The answer the dense model wrote (persona set only, when a tokenizer is given). */
  answer?: string;
}

export interface CalibrationSummary {
  samples: number;
  /** Tokens run through the model. */
  tokens: number;
  /** Tokens whose activations counted (answers, user examples). */
  countedTokens: number;
  emptyAnswers: number;
  seed: number;
  sampling: CalibrationSet['sampling'];
  filtered: boolean;
  synthesis: boolean;
  prompts: CalibrationPromptRecord[];
}

export function calibrationSummary(
  set: CalibrationSet,
  stats: CalibrationStats,
  flags: { filtered: boolean; synthesis: boolean },
  tokenizer?: Pick<PipelineTokenizer, 'decode'>,
): CalibrationSummary {
  return {
    samples: set.samples.length,
    tokens: stats.tokens,
    countedTokens: set.samples.reduce((n, s) => n + s.meta.answerTokens, 0),
    emptyAnswers: set.emptyAnswers,
    seed: set.seed,
    sampling: set.sampling,
    ...flags,
    prompts: set.samples.map(({ ids, meta }) => ({
      kind: meta.kind,
      prompt: meta.prompt,
      ...(meta.sensitivity !== undefined && { sensitivity: meta.sensitivity }),
      weight: meta.sampleWeight,
      answerTokens: meta.answerTokens,
      ...(tokenizer && meta.kind === 'persona-answer' && { answer: tokenizer.decode(ids.slice(meta.promptTokens)) }),
    })),
  };
}

/** Six significant digits: scores are for reading and plotting, and full doubles would triple the file. */
const round = (x: number) => Number(x.toPrecision(6));

export function pruningManifestFields(
  req: ResolvedPruneRequest,
  method: ScoringMethod,
  plan: BuiltPlan,
  calibration: { persona?: CalibrationSummary; generic?: CalibrationSummary },
  extra: { genericMix?: number },
): Record<string, unknown> {
  return {
    persona: req.persona ?? null,
    requested_method: req.method,
    scoring_method: method,
    allocation: req.allocation,
    requested_sparsity: req.sparsity,
    seed: req.seed,
    plan_options: { ...req.planOptions, ...(extra.genericMix !== undefined && { genericMix: extra.genericMix }) },
    sequential: req.sequential,
    ...(req.keepOverrides && { layer_overrides: req.keepOverrides }),
    refit_down_proj: plan.downWeights !== undefined,
    bias_compensation: plan.channelMeans !== undefined,
    estimates: plan.estimates,
    calibration,
    scores: plan.scores.map((s) => Array.from(s, round)),
  };
}
