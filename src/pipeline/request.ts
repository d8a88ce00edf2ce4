/**
 * One persona-pruning request (what the CLI's flags and the studio's form both fill in), its defaults and
 * its validation. Plain data, so it travels through postMessage and into pruning.json unchanged.
 */
import { DEFAULT_SYNTHESIS, type SynthesisSettings } from '../calibration/calibration-set';
import { ALLOCATIONS, type AllocationKind } from '../pruning/allocation';
import { DEFAULT_METHOD, PRUNE_METHODS, resolveMethod, type BuildPlanOptions, type PruneMethod } from '../pruning/plan-builder';
import { DEFAULT_SEARCH, type SearchSettings } from './plan-search';
import type { LayerOverrides } from '../pruning/plan-overrides';
import { sparsityProblem } from '../pruning/sparsity-range';

export interface PruneRequest {
  /** The character description. Required by the persona methods; the baselines ignore it. */
  persona?: string;
  /** Default: `persona`, the product's best persona method. */
  method?: PruneMethod;
  /** Default: uniform. */
  allocation?: AllocationKind;
  /** Fraction of all FFN channels to remove, within SPARSITY_RANGE. */
  sparsity: number;
  /** Persona calibration samples (answered questions), default DEFAULT_SAMPLES. */
  samples?: number;
  /** Samples of the generic set (baselines, and reconstruct's generic mix); default: `samples`. */
  genericSamples?: number;
  /** Seeds question choice and answer sampling (default 0). */
  seed?: number;
  /** Keep the most persona-sensitive questions, weighted by sensitivity (default true); else a seeded random choice. */
  filter?: boolean;
  /**
   * Persona-voiced answers (default true): the dense model answers under the persona prompt. Without it the
   * answers are the plain ones (the dense model without the persona prompt) counted under the persona
   * prompt: Persona-Pruner's "no rewriting" ablation.
   */
  synthesis?: boolean;
  /** Answer sampling settings (default DEFAULT_SYNTHESIS). */
  sampling?: SynthesisSettings;
  /** The user's own dialogue lines for the character: every token counts. */
  userExamples?: string[];
  /**
   * reconstruct only: re-solve each layer on statistics of the model pruned up to it (one calibration run per
   * set and layer). Default: on for `persona` (it lost less in eval:methods, see the README), off for an
   * explicit `reconstruct`, which stays the one-shot method of plan-builder.
   */
  sequential?: boolean;
  /**
   * Per layer, a kept channel count that replaces the allocation's (null: follow the sparsity). The studio's
   * per-layer edits; sequential reconstruction then refits every layer at these counts.
   */
  keepOverrides?: LayerOverrides;
  /** Passed to buildPlan: damping, genericMix, minKeep, multiple, OWL settings. */
  planOptions?: Omit<BuildPlanOptions, 'seed' | 'onProgress'>;
  /**
   * reconstruct only: choose the plan by held-out KL among variants, baselines and searched per-layer
   * allocations (plan-search.ts), on persona samples held out from calibration. Default: on for `persona`
   * (DEFAULT_SEARCH), off otherwise; `false` turns it off, a partial object changes some settings.
   */
  search?: Partial<SearchSettings> | false;
}

const DEFAULT_SAMPLES = 32;

export type ResolvedPruneRequest = Required<Omit<PruneRequest, 'persona' | 'planOptions' | 'search' | 'keepOverrides'>> &
  Pick<PruneRequest, 'persona' | 'planOptions' | 'keepOverrides'> & { search: SearchSettings | false };

export class PruneRequestError extends Error {
  override name = 'PruneRequestError';
}

function count(value: number, what: string, max: number): void {
  if (!Number.isInteger(value) || value < 1) throw new PruneRequestError(`${what} must be a positive integer, got ${value}`);
  if (value > max) throw new PruneRequestError(`${what} is ${value}, but the question bank for this model has only ${max} prompts`);
}

/** Fills in the defaults and rejects what cannot run; `questions` is the size of the model's prompt bank. */
export function resolvePruneRequest(request: PruneRequest, questions: number): ResolvedPruneRequest {
  const method = request.method ?? DEFAULT_METHOD;
  if (!PRUNE_METHODS.includes(method)) throw new PruneRequestError(`unknown method "${method}" (one of ${PRUNE_METHODS.join(', ')})`);
  const allocation = request.allocation ?? 'uniform';
  if (!ALLOCATIONS.includes(allocation)) throw new PruneRequestError(`unknown allocation "${allocation}" (one of ${ALLOCATIONS.join(', ')})`);
  const sparsityError = sparsityProblem(request.sparsity);
  if (sparsityError) throw new PruneRequestError(sparsityError);
  const persona = request.persona?.trim();
  if (request.persona !== undefined && !persona) throw new PruneRequestError('the persona description is empty');
  const samples = request.samples ?? DEFAULT_SAMPLES;
  count(samples, 'samples', questions);
  const genericSamples = request.genericSamples ?? samples;
  count(genericSamples, 'generic samples', questions);
  const seed = request.seed ?? 0;
  if (!Number.isInteger(seed)) throw new PruneRequestError(`seed must be an integer, got ${seed}`);
  const sampling = request.sampling ?? DEFAULT_SYNTHESIS;
  if (!Number.isInteger(sampling.maxNewTokens) || sampling.maxNewTokens < 1) throw new PruneRequestError(`maxNewTokens must be a positive integer, got ${sampling.maxNewTokens}`);
  if (!(sampling.temperature >= 0)) throw new PruneRequestError(`temperature must be >= 0, got ${sampling.temperature}`);
  const search = resolveSearch(request.search, method, samples, questions);
  return {
    ...(persona !== undefined && { persona }),
    method,
    allocation,
    sparsity: request.sparsity,
    samples,
    genericSamples,
    seed,
    filter: request.filter ?? true,
    synthesis: request.synthesis ?? true,
    sequential: request.sequential ?? (method === 'persona' && resolveMethod(method) === 'reconstruct'),
    sampling,
    userExamples: (request.userExamples ?? []).filter((t) => t.trim() !== ''),
    ...(request.keepOverrides?.some((k) => k !== null) && { keepOverrides: request.keepOverrides }),
    ...(request.planOptions && { planOptions: request.planOptions }),
    search,
  };
}

function resolveSearch(search: PruneRequest['search'], method: PruneMethod, samples: number, questions: number): SearchSettings | false {
  if (search === false || (search === undefined && method !== 'persona')) return false;
  if (resolveMethod(method) !== 'reconstruct') throw new PruneRequestError(`plan search is an option of the reconstruct method, not of ${method}`);
  const settings = { ...DEFAULT_SEARCH, ...search };
  for (const key of ['heldOutSamples', 'offspring', 'quickSamples'] as const) {
    if (!Number.isInteger(settings[key]) || settings[key] < 1) throw new PruneRequestError(`search ${key} must be a positive integer, got ${settings[key]}`);
  }
  if (!Number.isInteger(settings.generations) || settings.generations < 0) throw new PruneRequestError(`search generations must be a non-negative integer, got ${settings.generations}`);
  if (samples + settings.heldOutSamples > questions) {
    throw new PruneRequestError(
      `samples (${samples}) plus held-out samples (${settings.heldOutSamples}) is ${samples + settings.heldOutSamples}, but the question bank for this model has only ${questions} prompts: use at most ${questions - settings.heldOutSamples} samples, or turn the plan search off`,
    );
  }
  return { ...settings, quickSamples: Math.min(settings.quickSamples, settings.heldOutSamples) };
}
