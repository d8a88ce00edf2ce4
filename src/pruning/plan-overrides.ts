/**
 * A plan at the global sparsity with per-layer kept counts edited on top (the studio's overrides typed or
 * dragged for one layer; any request's `keepOverrides`). An overridden layer is re-solved alone with the
 * same method: the top channels by its scores, or for reconstruct a refit at the new count. Pure.
 */
import { topChannels } from './allocation';
import { estimatePlan } from './estimates';
import { buildPlan, layerReconstructor, type BuildPlanInput, type BuiltPlan } from './plan-builder';

/** Per layer, the kept channel count the writer chose, or null to follow the global sparsity. */
export type LayerOverrides = readonly (number | null)[];

export async function planWithOverrides(input: BuildPlanInput, overrides: LayerOverrides = []): Promise<BuiltPlan> {
  const plan = await buildPlan(input);
  if (overrides.length > plan.keep.length) throw new RangeError(`${overrides.length} layer overrides for a model of ${plan.keep.length} layers`);
  const { shape, options = {} } = input;
  const changed = overrides.some((k, l) => k !== null && k !== undefined && k !== plan.keep[l]!.length);
  if (!changed) return plan;
  const keep = [...plan.keep];
  const downWeights = plan.downWeights && [...plan.downWeights];
  for (const [l, count] of overrides.entries()) {
    if (count === null || count === undefined || count === keep[l]!.length) continue;
    const width = shape.intermediateSizes[l]!;
    if (!Number.isInteger(count) || count < 1 || count > width) throw new RangeError(`layer ${l + 1} can keep 1 to ${width} channels, not ${count}`);
    if (plan.method === 'reconstruct') {
      const layer = await layerReconstructor(input, l).solve(count);
      keep[l] = layer.keep;
      downWeights![l] = layer.down;
    } else {
      keep[l] = topChannels(plan.scores[l]!, count);
    }
  }
  return {
    ...plan,
    keep,
    ...(downWeights && { downWeights }),
    estimates: estimatePlan(shape, keep.map((k) => k.length), options),
  };
}

