/**
 * Weight-only int4 quantization of a float decoder: every MatMul whose B is a 2-D float initializer
 * becomes a com.microsoft `MatMulNBits` (4 bits, block 32 by default), named the way onnxruntime's
 * MatMul4BitsQuantizer names it (`<node>_Q4`, `<weight>_Q4`, `<weight>_scales`, `<weight>_zero_points`):
 * the layout onnxruntime-genai's int4 models and transformers.js's q4 files use. Scales are in the
 * weight's float type (MatMulNBits wants them in the activation type). Platform neutral; external
 * tensors are read one at a time through `read`, so a model larger than memory streams.
 */
import { DataType, node, tensorFromBytes } from './builders';
import { decodeFloats, encodeFloats, roundToFloatType } from './float-tensor';
import { GraphIndex } from './graph-index';
import { kBlocksOf, quantizeInt4, zeroPointBytesPerRow } from './int4';
import type { OnnxModel } from './model-io';
import type { NodeProto, TensorProto } from './proto';

export interface Int4QuantizeOptions {
  /** Block size along K (default 32, the builders' default). */
  blockSize?: number;
  /** Asymmetric quantization with stored zero points; default symmetric (zero point 8, none stored). */
  zeroPoints?: boolean;
}

/** Token sequences a quantized export's NLL is measured on, before and after, and where they came from. */
export interface HeldOutSet {
  /** Each scored from its second token on (BOS first). */
  sequences: readonly (readonly number[])[];
  source: string;
}

/** What an export is asked to quantize to, and what to measure it on. */
export interface QuantizeRequest extends Int4QuantizeOptions {
  type: 'int4';
  heldOut?: HeldOutSet;
}

/** pruning.json's `quantization` record. */
export interface QuantizationRecord {
  type: 'int4';
  block_size: number;
  zero_points: boolean;
  /** MatMuls turned into MatMulNBits. */
  matmuls: number;
  /** Bytes of the graph and its data files, float pruned vs quantized. */
  bytes: { before: number; after: number };
  /** Pooled NLL (nats per predicted token, BOS prepended) on the held-out texts. */
  held_out_nll?: { before: number; after: number; tokens: number; sequences: number; source: string };
}

/** What the record keeps of an NLL measurement (eval/nll.ts's NllSummary is one). */
interface MeasuredNll {
  meanNll: number;
  tokens: number;
}

/** The record of one quantized export, from what the exporter measured. */
export function quantizationRecord(
  request: QuantizeRequest,
  matmuls: number,
  bytes: { before: number; after: number },
  nll?: { before: MeasuredNll; after: MeasuredNll },
): QuantizationRecord {
  return {
    type: request.type,
    block_size: request.blockSize ?? DEFAULT_INT4_BLOCK,
    zero_points: request.zeroPoints ?? false,
    matmuls,
    bytes,
    ...(nll && request.heldOut && {
      held_out_nll: { before: nll.before.meanNll, after: nll.after.meanNll, tokens: nll.after.tokens, sequences: request.heldOut.sequences.length, source: request.heldOut.source },
    }),
  };
}

export interface Int4QuantizeResult {
  model: OnnxModel;
  /** Names of the quantized MatMul nodes, in graph order. */
  quantized: string[];
}

const FLOAT_TYPES: readonly number[] = [DataType.FLOAT, DataType.FLOAT16];
const MS_DOMAIN = 'com.microsoft';

const DEFAULT_INT4_BLOCK = 32;

/** Quantizes `model`'s float MatMul weights; `read` returns an initializer's raw bytes (resolving external data). */
export async function quantizeMatMulsInt4(model: OnnxModel, read: (tensor: TensorProto) => Promise<Uint8Array>, options: Int4QuantizeOptions = {}): Promise<Int4QuantizeResult> {
  const graph = model.graph;
  if (!graph) throw new Error('The model has no graph');
  const blockSize = options.blockSize ?? DEFAULT_INT4_BLOCK;
  const index = new GraphIndex(graph);
  const nodes: NodeProto[] = [...(graph.node ?? [])];
  const added: TensorProto[] = [];
  const replacedWeights = new Set<string>();
  const quantized: string[] = [];
  for (let i = 0; i < nodes.length; i++) {
    const n = nodes[i]!;
    if (n.op_type !== 'MatMul' || (n.domain ?? '') !== '') continue;
    const name = n.input?.[1] ?? '';
    const weight = index.initializers.get(name);
    if (!weight || weight.dims?.length !== 2 || !FLOAT_TYPES.includes(weight.data_type ?? 0)) continue;
    const [K, N] = weight.dims.map(Number) as [number, number];
    const type = weight.data_type!;
    const round = (v: number) => (type === DataType.FLOAT ? Math.fround(v) : roundToFloatType(v, type));
    const q = quantizeInt4(decodeFloats(await read(weight), type), K, N, blockSize, { zeroPoints: options.zeroPoints, roundScale: round });
    const kBlocks = kBlocksOf(K, blockSize);
    const inputs = [n.input![0]!, `${name}_Q4`, `${name}_scales`];
    added.push(tensorFromBytes(inputs[1]!, [N, kBlocks, blockSize / 2], DataType.UINT8, q.b), tensorFromBytes(inputs[2]!, [N * kBlocks], type, encodeFloats(q.scales, type)));
    if (q.zeroPoints) {
      inputs.push(`${name}_zero_points`);
      added.push(tensorFromBytes(inputs[3]!, [N * zeroPointBytesPerRow(kBlocks)], DataType.UINT8, q.zeroPoints));
    }
    const base = n.name || `${name}_MatMul`;
    nodes[i] = node('MatMulNBits', inputs, [...n.output!], `${base}_Q4`, { K, N, bits: 4, block_size: blockSize }, MS_DOMAIN);
    replacedWeights.add(name);
    quantized.push(base);
  }
  // A float weight another node still reads (a tied embedding's Gather) stays beside its int4 copy.
  const stillRead = new Set(nodes.flatMap((n) => n.input ?? []));
  const initializer = [...(graph.initializer ?? []).filter((t) => !replacedWeights.has(t.name ?? '') || stillRead.has(t.name ?? '') || index.otherUses.has(t.name ?? '')), ...added];
  const opsets = model.opset_import ?? [];
  const opset_import = quantized.length && !opsets.some((o) => o.domain === MS_DOMAIN) ? [...opsets, { domain: MS_DOMAIN, version: 1 }] : opsets;
  return { model: { ...model, opset_import, graph: { ...graph, node: nodes, initializer } }, quantized };
}
