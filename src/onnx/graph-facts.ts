/**
 * What a decoder graph itself says about the model's shape, to check config.json against: layers and KV
 * shape from the past_key_values inputs, vocabulary from the logits (or the token embedding), hidden and
 * FFN widths from the FFNs, query heads from a fused attention node, and the longest sequence the graph can
 * run from a position table gathered by position_ids. Each fact is undefined where the graph does not fix
 * it (symbolic dims, RoPE computed on the fly). Reads names, dims and attributes only. Platform neutral.
 */
import { discoverFfns, FfnDiscoveryError, type FfnLayer } from './ffn-discovery';
import { GraphIndex, intAttribute } from './graph-index';
import type { OnnxModel } from './model-io';

export interface GraphFacts {
  layers?: number;
  hiddenSize?: number;
  vocabSize?: number;
  /** FFN width of each layer. */
  intermediateSizes?: number[];
  kvHeads?: number;
  headDim?: number;
  attentionHeads?: number;
  /** Positions the graph's RoPE tables hold: longer sequences fail inside the graph. */
  maxPositions?: number;
}

const PAST_KEY = /^past_key_values\.(\d+)\.key$/;
/** Fused attention ops that carry their query head count as `num_heads`. */
const ATTENTION_OPS = new Set(['GroupQueryAttention', 'MultiHeadAttention', 'Attention']);

const fixed = (dim: number | string | undefined): number | undefined => (typeof dim === 'number' && dim > 0 ? dim : undefined);

export function graphFacts(model: OnnxModel, ffns?: readonly FfnLayer[]): GraphFacts {
  const graph = model.graph;
  if (!graph) return {};
  const g = new GraphIndex(graph);
  const facts: GraphFacts = {};

  const pastKeys = (graph.input ?? []).map((i) => i.name ?? '').filter((name) => PAST_KEY.test(name));
  if (pastKeys.length) {
    facts.layers = pastKeys.length;
    const dims = g.shapeOf(pastKeys[0]!)?.dims ?? [];
    facts.kvHeads = fixed(dims[1]);
    facts.headDim = fixed(dims[3]);
  }

  const layersFfns = ffns ?? discoverOrNothing(model);
  if (layersFfns?.length) {
    facts.intermediateSizes = layersFfns.map((f) => f.intermediateSize);
    facts.hiddenSize = layersFfns[0]!.hiddenSize;
    facts.layers ??= layersFfns.length;
  }

  // The token embedding: a Gather of input_ids from a constant [vocab, hidden] table.
  const embedding = g
    .consumers('input_ids')
    .map((use) => g.nodes[use.node]!)
    .find((n) => n.op_type === 'Gather' && g.initializers.has(n.input?.[0] ?? ''));
  const table = embedding && g.initializers.get(embedding.input![0]!);
  const logits = g.shapeOf('logits')?.dims;
  facts.vocabSize = fixed(logits?.[2]) ?? (table?.dims?.length === 2 ? Number(table.dims[0]) : undefined);
  if (facts.hiddenSize === undefined && table?.dims?.length === 2) facts.hiddenSize = Number(table.dims[1]);

  for (const n of g.nodes) {
    if (ATTENTION_OPS.has(n.op_type ?? '')) {
      const heads = intAttribute(n, 'num_heads');
      if (heads) facts.attentionHeads = heads;
      // GroupQueryAttention's cos/sin caches (inputs 7 and 8) are [max positions, rotary dim / 2].
      const cos = n.op_type === 'GroupQueryAttention' ? g.initializers.get(n.input?.[7] ?? '') : undefined;
      if (cos?.dims?.length) facts.maxPositions = minDefined(facts.maxPositions, Number(cos.dims[0]));
    }
  }
  // A RoPE table read at position_ids (HF exports, our importer): position p needs row p.
  for (const use of g.consumers('position_ids')) {
    const n = g.nodes[use.node]!;
    const data = n.op_type === 'Gather' && use.input === 1 ? g.initializers.get(n.input?.[0] ?? '') : undefined;
    if (data?.dims?.length) facts.maxPositions = minDefined(facts.maxPositions, Number(data.dims[0]));
  }
  return facts;
}

function minDefined(a: number | undefined, b: number): number {
  return a === undefined ? b : Math.min(a, b);
}

/** FFN widths are facts only where the FFNs are found; a graph we cannot prune still loads. */
function discoverOrNothing(model: OnnxModel): FfnLayer[] | undefined {
  try {
    return discoverFfns(model);
  } catch (error) {
    if (error instanceof FfnDiscoveryError) return undefined;
    throw error;
  }
}
