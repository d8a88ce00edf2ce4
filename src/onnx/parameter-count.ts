/**
 * The parameter count every part of the studio shows (model card, totals, pruning.json): learnt weights
 * stored in the graph. Quantized weights count as their logical K×N; scales, zero points, RoPE position
 * tables and integer shape constants are not parameters.
 */
import { GraphIndex, intAttribute } from './graph-index';
import type { OnnxModel } from './model-io';
import { DataType, type TensorProto } from './proto';

const NOT_WEIGHTS = new Set<number>([DataType.INT64, DataType.INT32, DataType.BOOL, DataType.STRING, DataType.UINT64, DataType.UINT32]);

/** Inputs of quantized ops that hold scales or zero points (metadata of a weight, not weights). */
const QUANT_METADATA: Record<string, number[]> = {
  MatMulNBits: [2, 3, 4],
  GatherBlockQuantized: [2, 3],
  DequantizeLinear: [1, 2],
  MatMulInteger: [2, 3],
  DynamicQuantizeMatMul: [2, 3],
};

/** Inputs that are tables of positions (RoPE cos/sin caches), not learnt weights. */
const POSITION_TABLES: Record<string, number[]> = { GroupQueryAttention: [7, 8], RotaryEmbedding: [2, 3] };

const product = (dims: readonly number[] | undefined) => (dims ?? []).reduce((a, d) => a * d, 1);

export function initializerParameters(name: string, t: TensorProto, g: GraphIndex): number {
  const elements = product(t.dims);
  if (NOT_WEIGHTS.has(t.data_type ?? 0) || elements <= 1) return 0;
  const uses = g.consumers(name).map((u) => ({ node: g.nodes[u.node]!, input: u.input }));
  const isInput = (ops: Record<string, number[]>) => uses.length > 0 && uses.every((u) => ops[u.node.op_type ?? '']?.includes(u.input));
  if (isInput(QUANT_METADATA) || isInput(POSITION_TABLES)) return 0;
  // RoPE tables gathered at position_ids (the Optimum layout).
  if (uses.length > 0 && uses.every((u) => u.node.op_type === 'Gather' && u.input === 0 && u.node.input?.[1] === 'position_ids')) return 0;
  const nbits = uses.find((u) => u.node.op_type === 'MatMulNBits' && u.input === 1);
  if (nbits) return (intAttribute(nbits.node, 'K') ?? 0) * (intAttribute(nbits.node, 'N') ?? 0);
  // Packed 4-bit gathers (quantized embeddings): two values per byte unless stored as a 4-bit type.
  const packed = uses.find((u) => u.node.op_type === 'GatherBlockQuantized' && u.input === 0);
  if (packed && t.data_type === DataType.UINT8) return elements * (8 / (intAttribute(packed.node, 'bits') ?? 4));
  return elements;
}

export function countParameters(model: OnnxModel): number {
  const g = new GraphIndex(model.graph ?? {});
  let total = 0;
  for (const [name, t] of g.initializers) total += initializerParameters(name, t, g);
  return total;
}
