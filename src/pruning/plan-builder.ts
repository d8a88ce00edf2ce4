/**
 * The one entry point from calibration statistics and weights to a keep-plan: scoring method, allocation,
 * optional replacement down_proj weights / bias means, and size estimates. The CLI and the studio both
 * call buildPlan, so a plan means the same wherever it is made.
 */
import type { LayerStats } from '../core/stats';
import { keepCounts, topChannels, type AllocationKind, type AllocationOptions } from './allocation';
import { estimatePlan, type EstimateOptions, type ModelShape, type PlanEstimates } from './estimates';
import type { KeepPlan } from '../core/keep-plan';
import type { MatMul } from '../core/matmul';
import { mixedGram } from './reconstruct';
import { LayerReconstructor } from './reconstruct-path';
import {
  activationScores,
  channelMeans,
  flapScores,
  magnitudeScores,
  randomScores,
  wandaElementScores,
  wandaSpScores,
  type LayerWeights,
} from './scoring';

export const PRUNE_METHODS = ['persona', 'reconstruct', 'activation', 'wanda-sp', 'flap', 'magnitude', 'random'] as const;
export type PruneMethod = (typeof PRUNE_METHODS)[number];
/** The methods themselves; `persona` is an alias. */
export type ScoringMethod = Exclude<PruneMethod, 'persona'>;

/**
 * What `persona` (the product's best persona method, and the default) resolves to. Today that is
 * layer-wise reconstruction on the persona-weighted Gram; when a better method lands, change it here.
 */
export const PERSONA_METHOD: ScoringMethod = 'reconstruct';
export const DEFAULT_METHOD: PruneMethod = 'persona';
/** Weight of the generic mean Gram mixed into the persona one when generic statistics are given. */
export const DEFAULT_GENERIC_MIX = 0.5;

export function resolveMethod(method: PruneMethod): ScoringMethod {
  if (!PRUNE_METHODS.includes(method)) throw new RangeError(`unknown method "${method}" (one of ${PRUNE_METHODS.join(', ')})`);
  return method === 'persona' ? PERSONA_METHOD : method;
}

export interface BuildPlanOptions extends Omit<AllocationOptions, 'sparsity' | 'outlierScores'>, EstimateOptions {
  /** Seed of the random method (default 0). */
  seed?: number;
  /** reconstruct: damping λ as a fraction of the mean Gram diagonal. */
  damping?: number;
  /** reconstruct: α in G = G_persona/W_p + α·G_generic/W_g (default DEFAULT_GENERIC_MIX when genericStats is given). */
  genericMix?: number;
  /** Supply per-channel means so the exporter adds the removed channels' mean output as a bias (default: flap only). */
  biasCompensation?: boolean;
  /** reconstruct: called after each layer (seconds per layer on large FFNs). */
  onProgress?: (layersDone: number, layers: number) => void;
  /** reconstruct: runs the O(C³) products (default: the JS cpuMatMul; the runtimes pass onnxruntime's). */
  matmul?: MatMul;
}

export interface BuildPlanInput {
  method: PruneMethod;
  allocation: AllocationKind;
  /** Fraction of all FFN channels to remove. */
  sparsity: number;
  shape: ModelShape;
  /** Per layer, ONNX [in, out] layout; gate/up only matter to the magnitude method. */
  weights: LayerWeights[];
  /**
   * Calibration statistics per layer (every method but magnitude and random). Persona statistics for the
   * persona methods; the baselines are meant to get generic ones, so comparisons stay fair.
   */
  stats?: LayerStats[];
  /** reconstruct: generic statistics (with Gram) mixed into the persona Gram, to keep general ability. */
  genericStats?: LayerStats[];
  options?: BuildPlanOptions;
  /**
   * reconstruct: layer l's solver, when the caller keeps them to share their removal paths between plans of
   * the same statistics and damping (the plan search). Default: a new one per layer on `stats` (+ generic).
   */
  reconstructors?: (layer: number) => LayerReconstructor;
}

/** Layer l's reconstruct solver for a plan input: the caller's, or one on the input's (mixed) Gram. */
export function layerReconstructor(input: BuildPlanInput, l: number): LayerReconstructor {
  if (input.reconstructors) return input.reconstructors(l);
  const { stats, options = {} } = input;
  const layerStats = statsOrThrow(stats, 'reconstruct')[l]!;
  const gram = () => mixedGram(layerStats, input.genericStats?.[l], input.genericStats ? (options.genericMix ?? DEFAULT_GENERIC_MIX) : 0);
  return new LayerReconstructor(gram, input.weights[l]!.down, input.shape.hiddenSize, options);
}

export interface BuiltPlan extends KeepPlan {
  method: ScoringMethod;
  /** reconstruct: refit down_proj rows per layer, [keep[l].length, hidden], in keep order. */
  downWeights?: Float32Array[];
  /** Bias compensation: mean activation of every channel (all C of them) per layer, as the exporter's `channelMeans`. */
  channelMeans?: Float32Array[];
  /** Channel scores per layer (higher = more important); for reconstruct, the one-shot OBS saliency. */
  scores: Float64Array[];
  estimates: PlanEstimates;
}

function checkInput(input: BuildPlanInput, method: ScoringMethod): void {
  const { shape, weights, stats } = input;
  if (weights.length !== shape.numLayers) throw new RangeError(`weights cover ${weights.length} layers, the model has ${shape.numLayers}`);
  weights.forEach((w, l) => {
    const expected = shape.intermediateSizes[l] * shape.hiddenSize;
    if (w.down.length !== expected) throw new RangeError(`layer ${l} down_proj has ${w.down.length} values, expected ${shape.intermediateSizes[l]}×${shape.hiddenSize}`);
  });
  const needsStats = method !== 'magnitude' && method !== 'random';
  if (needsStats && !stats) throw new Error(`the ${method} method needs calibration statistics`);
  for (const [label, list] of [['stats', stats], ['genericStats', input.genericStats]] as const) {
    if (list && list.length !== shape.numLayers) throw new RangeError(`${label} cover ${list.length} layers, the model has ${shape.numLayers}`);
  }
}

export async function buildPlan(input: BuildPlanInput): Promise<BuiltPlan> {
  const method = resolveMethod(input.method);
  checkInput(input, method);
  const { shape, weights, stats, options = {} } = input;
  const hidden = shape.hiddenSize;
  const allocation: AllocationOptions = { ...options, sparsity: input.sparsity };
  const biasCompensation = options.biasCompensation ?? method === 'flap';
  if (biasCompensation && method === 'reconstruct') {
    throw new Error('bias compensation does not combine with reconstruct: the refit already restores the removed channels’ contribution');
  }

  const scoreLayer = async (l: number): Promise<Float64Array> => {
    const down = weights[l].down;
    switch (method) {
      case 'reconstruct':
        return layerReconstructor(input, l).saliency();
      case 'activation':
        return activationScores(stats![l], down, hidden);
      case 'wanda-sp':
        return wandaSpScores(stats![l], down, hidden);
      case 'flap':
        return flapScores(stats![l], down, hidden);
      case 'magnitude':
        return magnitudeScores(weights[l], hidden);
      case 'random':
        return randomScores(shape.intermediateSizes[l], options.seed ?? 0, l);
    }
  };

  // Uniform allocation only needs layer widths, so reconstruct can skip a separate saliency pass (one
  // inversion of G per layer instead of two) and report the saliency its own pass computes.
  const deferScores = method === 'reconstruct' && input.allocation === 'uniform';
  const scores: Float64Array[] = [];
  for (let l = 0; l < weights.length; l++) scores.push(deferScores ? new Float64Array(shape.intermediateSizes[l]) : await scoreLayer(l));
  // OWL counts outliers among Wanda's per-weight scores of down_proj, as OWL does for unstructured pruning:
  // per-channel scores are too smooth to have outliers at OWL's thresholds.
  if (input.allocation === 'owl') allocation.outlierScores = weights.map((w, l) => wandaElementScores(stats?.[l], w.down, hidden));
  const counts = keepCounts(input.allocation, scores, allocation);

  let keep: number[][];
  let downWeights: Float32Array[] | undefined;
  if (method === 'reconstruct') {
    const layers = [];
    for (let l = 0; l < weights.length; l++) {
      layers.push(await layerReconstructor(input, l).solve(counts[l]));
      options.onProgress?.(l + 1, weights.length);
    }
    keep = layers.map((r) => r.keep);
    downWeights = layers.map((r) => r.down);
    if (deferScores) layers.forEach((r, l) => (scores[l] = r.saliency));
  } else {
    keep = scores.map((s, l) => topChannels(s, counts[l]));
  }
  return {
    method,
    keep,
    ...(downWeights && { downWeights }),
    ...(biasCompensation && { channelMeans: statsOrThrow(stats, 'bias compensation').map((s) => Float32Array.from(channelMeans(s))) }),
    scores,
    estimates: estimatePlan(shape, counts, options),
  };
}

function statsOrThrow(stats: LayerStats[] | undefined, what: string): LayerStats[] {
  if (!stats) throw new Error(`${what} needs calibration statistics`);
  return stats;
}
