/**
 * Keep-plans: which FFN intermediate channels each decoder layer keeps. The JSON shape is
 * `{ "keep": [[kept channel indices of layer 0], [of layer 1], ...] }`, indices sorted ascending;
 * layers may keep different numbers of channels. The same `keep` field appears in every
 * pruning.json. Platform neutral.
 */

export interface KeepPlan {
  keep: number[][];
}

export class KeepPlanError extends Error {
  override name = 'KeepPlanError';
}

/**
 * Checks `plan` against a model whose layer l has `sizes[l]` FFN channels and returns it typed.
 * Rejects, naming the layer: a wrong number of layers, a layer keeping no channel, and indices that
 * are not integers, out of range, unsorted or repeated.
 */
export function validateKeepPlan(plan: unknown, sizes: readonly number[]): KeepPlan {
  const { keep } = checkShape(plan);
  if (keep.length !== sizes.length) {
    throw new KeepPlanError(`The keep-plan lists ${keep.length} layers, but the model has ${sizes.length}`);
  }
  keep.forEach((layer, l) => {
    const size = sizes[l]!;
    if (layer.length === 0) throw new KeepPlanError(`Layer ${l} keeps no channel; a layer must keep at least one of its ${size} FFN channels`);
    layer.forEach((c, i) => {
      if (c >= size) throw new KeepPlanError(`Layer ${l}, entry ${i}: channel ${c} is out of range (the layer has channels 0..${size - 1})`);
    });
  });
  return { keep };
}

/** What holds for any model: a list of layers, each a sorted list of distinct non-negative integer indices. */
function checkShape(plan: unknown): KeepPlan {
  if (typeof plan !== 'object' || plan === null || !Array.isArray((plan as { keep?: unknown }).keep)) {
    throw new KeepPlanError('A keep-plan is an object {"keep": [[indices of layer 0], [indices of layer 1], ...]}');
  }
  const keep = (plan as { keep: unknown[] }).keep;
  keep.forEach((layer, l) => {
    if (!Array.isArray(layer)) throw new KeepPlanError(`Layer ${l} of the keep-plan is not a list of channel indices`);
    layer.forEach((c: unknown, i) => {
      if (typeof c !== 'number' || !Number.isInteger(c)) throw new KeepPlanError(`Layer ${l}, entry ${i}: ${JSON.stringify(c)} is not an integer channel index`);
      if (c < 0) throw new KeepPlanError(`Layer ${l}, entry ${i}: channel ${c} is out of range (indices start at 0)`);
      const prev = layer[i - 1] as number;
      if (i > 0 && c === prev) throw new KeepPlanError(`Layer ${l}: channel ${c} is listed twice`);
      if (i > 0 && c < prev) throw new KeepPlanError(`Layer ${l}: indices must be sorted ascending (${prev} comes before ${c})`);
    });
  });
  return { keep: keep as number[][] };
}

/**
 * Parses plan.json text. With `sizes`, validates it against that model; without (the model is not read
 * yet), checks what holds for any model, and the model's reader validates it against its sizes.
 */
export function parseKeepPlan(json: string, sizes?: readonly number[]): KeepPlan {
  let value: unknown;
  try {
    value = JSON.parse(json);
  } catch (error) {
    throw new KeepPlanError(`The keep-plan is not valid JSON: ${(error as Error).message}`);
  }
  return sizes ? validateKeepPlan(value, sizes) : checkShape(value);
}

/** The plan that keeps everything. */
export function densePlan(sizes: readonly number[]): KeepPlan {
  return { keep: sizes.map((n) => Array.from({ length: n }, (_, c) => c)) };
}

/** Per layer, 1 for kept and 0 for removed channels (the reference forward pass's ffnMask). */
export function keepMasks(plan: KeepPlan, sizes: readonly number[]): Uint8Array[] {
  return plan.keep.map((kept, l) => {
    const mask = new Uint8Array(sizes[l]!);
    for (const c of kept) mask[c] = 1;
    return mask;
  });
}

/** Removed channels per layer, ascending. */
export function removedChannels(plan: KeepPlan, sizes: readonly number[]): number[][] {
  return keepMasks(plan, sizes).map((mask) => [...mask.keys()].filter((c) => mask[c] === 0));
}

/** Fraction of all FFN channels the plan removes. */
export function planSparsity(plan: KeepPlan, sizes: readonly number[]): number {
  const total = sizes.reduce((a, b) => a + b, 0);
  const kept = plan.keep.reduce((a, k) => a + k.length, 0);
  return total ? 1 - kept / total : 0;
}

/** The common kept size when every layer keeps the same number of channels, else undefined. */
export function uniformKeptSize(plan: KeepPlan): number | undefined {
  const n = plan.keep[0]?.length;
  return plan.keep.every((k) => k.length === n) ? n : undefined;
}
