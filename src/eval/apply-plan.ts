/**
 * A plan applied to the dense weights in memory, so it can be evaluated before export: the pruned model
 * equals the dense model whose removed channels contribute nothing. Zeroing a channel's down_proj row is
 * exactly that (gate/up of the channel may stay: their output is multiplied by a zero row), refit rows
 * replace the kept ones, and bias compensation becomes a bias on the down_proj output.
 */
import { validateKeepPlan, type KeepPlan } from '../core/keep-plan';

export interface PlanWeights extends KeepPlan {
  /** Per layer, refit down_proj rows [keep[l].length, hidden] in keep order. */
  downWeights?: readonly Float32Array[];
  /** Per layer, the mean activation of every channel (bias compensation). */
  channelMeans?: readonly ArrayLike<number>[];
}

export interface AppliedLayer {
  /** Dense-shaped down_proj [C, hidden]: removed rows zero, kept rows original or refit. */
  down: Float32Array;
  /** Bias to add to the down_proj output (Σ over removed channels of mean · original row), or null. */
  bias: Float32Array | null;
}

function applyToLayer(down: Float32Array, hidden: number, keep: readonly number[], layer: number, replacement?: Float32Array, means?: ArrayLike<number>): AppliedLayer {
  const channels = down.length / hidden;
  if (replacement && replacement.length !== keep.length * hidden) {
    throw new RangeError(`layer ${layer}: replacement down_proj has ${replacement.length} values, expected ${keep.length}×${hidden}`);
  }
  if (means && means.length !== channels) throw new RangeError(`layer ${layer}: ${means.length} channel means for ${channels} channels`);

  const out = new Float32Array(down.length);
  keep.forEach((j, r) => {
    const row = replacement ? replacement.subarray(r * hidden, (r + 1) * hidden) : down.subarray(j * hidden, (j + 1) * hidden);
    out.set(row, j * hidden);
  });
  let bias: Float32Array | null = null;
  if (means) {
    const kept = new Set(keep);
    const acc = new Float64Array(hidden);
    for (let j = 0; j < channels; j++) {
      if (kept.has(j) || means[j] === 0) continue;
      for (let k = 0; k < hidden; k++) acc[k] += means[j] * down[j * hidden + k];
    }
    bias = Float32Array.from(acc);
  }
  return { down: out, bias };
}

/** Every layer of a plan; `downs[l]` is layer l's dense down_proj [C_l, hidden] in the ONNX [in, out] layout. */
export function applyPlanToWeights(downs: readonly Float32Array[], hidden: number, plan: PlanWeights): AppliedLayer[] {
  const sizes = downs.map((down, l) => {
    const c = down.length / hidden;
    if (!Number.isInteger(c)) throw new RangeError(`layer ${l}: down_proj has ${down.length} values, not a multiple of hidden size ${hidden}`);
    return c;
  });
  const { keep } = validateKeepPlan(plan, sizes);
  return downs.map((down, l) => applyToLayer(down, hidden, keep[l], l, plan.downWeights?.[l], plan.channelMeans?.[l]));
}
