/**
 * A plan at the global sparsity with per-layer kept counts edited on top (the studio's overrides typed or
 * dragged for one layer; any request's `keepOverrides`). An overridden layer is re-solved alone with the
 * same method: the top channels by its scores, or for reconstruct a refit at the new count. Pure.
 */
import { topChannels } from './allocation';
import { estimatePlan } from './estimates';
import { buildPlan, DEFAULT_GENERIC_MIX, type BuildPlanInput, type BuiltPlan } from './plan-builder';
import { mixedGram, reconstructLayer } from './reconstruct';

/** Per layer, the kept channel count the writer chose, or null to follow the global sparsity. */
export type LayerOverrides = readonly (number | null)[];

export function planWithOverrides(input: BuildPlanInput, overrides: LayerOverrides = []): BuiltPlan {
  const plan = buildPlan(input);
  if (overrides.length > plan.keep.length) throw new RangeError(`${overrides.length} layer overrides for a model of ${plan.keep.length} layers`);
  const { shape, weights, stats, options = {} } = input;
  const changed = overrides.some((k, l) => k !== null && k !== undefined && k !== plan.keep[l]!.length);
  if (!changed) return plan;
  const keep = [...plan.keep];
  const downWeights = plan.downWeights && [...plan.downWeights];
  overrides.forEach((count, l) => {
    if (count === null || count === undefined || count === keep[l]!.length) return;
    const width = shape.intermediateSizes[l]!;
    if (!Number.isInteger(count) || count < 1 || count > width) throw new RangeError(`layer ${l + 1} can keep 1 to ${width} channels, not ${count}`);
    if (plan.method === 'reconstruct') {
      const gram = mixedGram(stats![l]!, input.genericStats?.[l], input.genericStats ? (options.genericMix ?? DEFAULT_GENERIC_MIX) : 0);
      const layer = reconstructLayer(gram, weights[l]!.down, shape.hiddenSize, count, options);
      keep[l] = layer.keep;
      downWeights![l] = layer.down;
    } else {
      keep[l] = topChannels(plan.scores[l]!, count);
    }
  });
  return {
    ...plan,
    keep,
    ...(downWeights && { downWeights }),
    estimates: estimatePlan(shape, keep.map((k) => k.length), options),
  };
}

