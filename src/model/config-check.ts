/**
 * config.json checked against the graph on load (CLI and studio): a number the graph contradicts is replaced
 * by the graph's value with a warning naming the field, so generation, the KV cache and every export carry
 * the true shape; a value that is missing, negative or not an integer and that the graph cannot supply is an
 * error naming the field. Platform neutral.
 */
import type { GraphFacts } from '../onnx/graph-facts';
import type { ModelConfig } from './config';

export class ModelConfigError extends Error {
  override name = 'ModelConfigError';
}

export interface CheckedConfig {
  /** The config with the graph's values where they differ. */
  config: ModelConfig;
  /** One line per corrected field, naming it. */
  warnings: string[];
}

type SizeField =
  | 'num_hidden_layers'
  | 'hidden_size'
  | 'vocab_size'
  | 'intermediate_size'
  | 'num_attention_heads'
  | 'num_key_value_heads';

/** Fields generation or export cannot do without. */
const REQUIRED: ReadonlySet<SizeField> = new Set(['num_hidden_layers', 'hidden_size', 'vocab_size', 'num_attention_heads']);

const isSize = (v: unknown): v is number => typeof v === 'number' && Number.isInteger(v) && v > 0;
const shown = (v: unknown) => (v === undefined ? 'missing' : JSON.stringify(v));

/** What the graph says each field must be (undefined where the graph does not fix it). */
function expectedValues(config: Record<string, unknown>, facts: GraphFacts): Partial<Record<SizeField, number>> {
  const widths = facts.intermediateSizes;
  const hidden = facts.hiddenSize ?? (isSize(config.hidden_size) ? config.hidden_size : undefined);
  // HF Llama-style models without head_dim compute it as hidden_size / num_attention_heads.
  const headsFromDim =
    config.head_dim === undefined && hidden !== undefined && facts.headDim !== undefined && hidden % facts.headDim === 0 ? hidden / facts.headDim : undefined;
  return {
    num_hidden_layers: facts.layers,
    hidden_size: facts.hiddenSize,
    vocab_size: facts.vocabSize,
    // A per-layer (pruned) model keeps the widest layer here and the list in intermediate_sizes.
    intermediate_size: widths?.length ? Math.max(...widths) : undefined,
    num_attention_heads: facts.attentionHeads ?? headsFromDim,
    num_key_value_heads: facts.kvHeads,
    // head_dim itself is not compared: a graph may pad its KV cache's head size (GroupQueryAttention builds).
  };
}

export function checkConfigAgainstGraph(raw: unknown, facts: GraphFacts, file = 'config.json'): CheckedConfig {
  if (typeof raw !== 'object' || raw === null || Array.isArray(raw)) throw new ModelConfigError(`${file} is not a JSON object`);
  const config: Record<string, unknown> = { ...(raw as Record<string, unknown>) };
  const warnings: string[] = [];
  const expected = expectedValues(config, facts);
  for (const field of Object.keys(expected) as SizeField[]) {
    const value = config[field];
    const truth = expected[field];
    if (truth !== undefined) {
      // Absent KV heads mean as many as query heads (corrected above, as the order of fields puts them first).
      const effective = field === 'num_key_value_heads' && value === undefined ? config.num_attention_heads : value;
      if (effective === truth) continue;
      warnings.push(`${file}: ${field} is ${shown(value)} but the graph has ${truth}; using ${truth}`);
      config[field] = truth;
      continue;
    }
    if (value === undefined && !REQUIRED.has(field)) continue;
    if (!isSize(value)) throw new ModelConfigError(`${file}: ${field} must be a positive integer, got ${shown(value)}`);
  }
  checkPerLayerWidths(config, facts, file, warnings);
  checkPositions(config, facts, file, warnings);
  return { config: config as ModelConfig, warnings };
}

/** intermediate_sizes (our per-layer exports) must list the graph's FFN widths; a uniform graph needs none. */
function checkPerLayerWidths(config: Record<string, unknown>, facts: GraphFacts, file: string, warnings: string[]): void {
  const widths = facts.intermediateSizes;
  const listed = config.intermediate_sizes;
  if (!widths?.length) return;
  const uniform = widths.every((w) => w === widths[0]);
  const same = Array.isArray(listed) && listed.length === widths.length && listed.every((w, i) => w === widths[i]);
  if (uniform ? listed === undefined : same) return;
  if (uniform) {
    delete config.intermediate_sizes;
    warnings.push(`${file}: intermediate_sizes is ${shown(listed)} but every layer of the graph has ${widths[0]} FFN channels; dropping it`);
  } else {
    config.intermediate_sizes = [...widths];
    warnings.push(`${file}: intermediate_sizes is ${shown(listed)} but the graph's FFN widths are [${widths.join(', ')}]; using those`);
  }
}

/** The graph's position table bounds max_position_embeddings; a config that claims more is lowered. */
function checkPositions(config: Record<string, unknown>, facts: GraphFacts, file: string, warnings: string[]): void {
  const value = config.max_position_embeddings;
  const limit = facts.maxPositions;
  if (limit === undefined) {
    if (value !== undefined && !isSize(value)) throw new ModelConfigError(`${file}: max_position_embeddings must be a positive integer, got ${shown(value)}`);
    return;
  }
  if (value === undefined) {
    config.max_position_embeddings = limit;
  } else if (!isSize(value) || value > limit) {
    warnings.push(`${file}: max_position_embeddings is ${shown(value)} but the graph holds positions for ${limit} tokens; using ${limit}`);
    config.max_position_embeddings = limit;
  }
}
