/**
 * The FFN sparsities the product accepts, in one place: CLI arguments, request resolution, the studio's
 * validation and its sliders all read this, so a value is accepted or refused the same way everywhere.
 * Below 5% a plan barely changes the model; above 90% the smallest FFN layers keep only a handful of
 * channels and the pruned model stops producing text worth keeping.
 */
export const SPARSITY_RANGE = { min: 0.05, max: 0.9, step: 0.05 } as const;

/** The one message for an out-of-range sparsity (null when the value is accepted). */
export function sparsityProblem(value: number): string | null {
  if (typeof value === 'number' && value >= SPARSITY_RANGE.min && value <= SPARSITY_RANGE.max) return null;
  const { min, max } = SPARSITY_RANGE;
  return `sparsity must be between ${min} and ${max} (${Math.round(min * 100)}% to ${Math.round(max * 100)}% of the FFN channels removed), got ${value}`;
}
