/**
 * The longest token sequence a model can run, and the check every caller makes before running one: a
 * sequence past the graph's position table otherwise ends, after all the work before it, in a raw
 * onnxruntime error ("indices element out of data bounds"). Platform neutral.
 */
import type { ModelConfig } from './config';

/** config.max_position_embeddings, already checked against (and bounded by) the graph on load. */
export function positionLimit(config: Pick<ModelConfig, 'max_position_embeddings'>): number | undefined {
  const limit = config.max_position_embeddings;
  return typeof limit === 'number' && Number.isInteger(limit) && limit > 0 ? limit : undefined;
}

/** "`label` is N tokens, but the model holds at most L positions", or nothing when it fits (or no limit is known). */
export function lengthProblem(tokens: number, limit: number | undefined, label: string): string | undefined {
  if (limit === undefined || tokens <= limit) return undefined;
  return `${label} is ${tokens} tokens, but the model holds at most ${limit} positions`;
}
