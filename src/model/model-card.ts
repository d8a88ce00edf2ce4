/**
 * Architecture facts about a loaded model, read from its graph where the graph says them and from
 * config.json otherwise (each fact says which). The FFN facts come from the same discovery the pruning
 * plan uses (src/onnx/ffn-discovery.ts), so the card shows what pruning will see. Works on a parsed
 * header: external data need not be loaded.
 */
import { discoverFfns, type FfnLayer } from '../onnx/ffn-discovery';
import { GraphIndex, intAttribute } from '../onnx/graph-index';
import type { OnnxModel } from '../onnx/model-io';
import { externalSource } from '../onnx/model-pieces';
import { initializerParameters } from '../onnx/parameter-count';
import { DataType, tensorByteLength, type TensorProto } from '../onnx/proto';
import type { ModelConfig } from './config';
import { chatTemplates } from './chat-template';

export interface Fact<T> {
  value: T;
  from: 'graph' | 'config';
}

export interface ModelCard {
  modelType: string | undefined;
  layers: Fact<number> | undefined;
  hiddenSize: Fact<number> | undefined;
  /** FFN width of each layer. */
  ffnSizes: Fact<number[]> | undefined;
  heads: Fact<number> | undefined;
  kvHeads: Fact<number> | undefined;
  headDim: Fact<number> | undefined;
  vocabSize: Fact<number> | undefined;
  /** How the FFN projection weights are stored, e.g. `fp32`, `fp16`, `int4 (MatMulNBits, block 32)`. */
  weightFormat: string;
  /** Element type of the logits (the model's compute type). */
  computeType: string;
  /** Weights stored in the graph (quantized weights counted as their logical K×N; position tables and shape constants left out). */
  parameters: number;
  weightBytes: number;
  largestTensor: { name: string; bytes: number } | undefined;
  files: { path: string; bytes: number }[];
  totalBytes: number;
  contextLength: number | undefined;
  chatTemplates: string[];
  /** Whether pruning can work on this graph: the FFN of every layer found, or why not. */
  ffn: { found: true; activation: string } | { found: false; reason: string };
  /** Where config.json and the graph disagree (e.g. a pruned model with a stale config). */
  notes: string[];
}

const TYPE_NAMES: Record<number, string> = {
  [DataType.FLOAT]: 'fp32',
  [DataType.FLOAT16]: 'fp16',
  [DataType.BFLOAT16]: 'bf16',
  [DataType.UINT8]: 'uint8',
  [DataType.INT8]: 'int8',
  [DataType.UINT4]: 'uint4',
  [DataType.INT4]: 'int4',
};
const typeName = (t: number | undefined) => (t === undefined ? 'unknown' : (TYPE_NAMES[t] ?? `type ${t}`));

export function modelCard(
  model: OnnxModel,
  config: ModelConfig | null,
  files: { path: string; bytes: number }[],
  tokenizerConfig: Record<string, unknown> = {},
): ModelCard {
  const graph = model.graph ?? {};
  const g = new GraphIndex(graph);
  const notes: string[] = [];

  let ffns: FfnLayer[] | undefined;
  let ffn: ModelCard['ffn'];
  try {
    ffns = discoverFfns(model);
    ffn = { found: true, activation: ffns[0]!.activation.kind };
  } catch (error) {
    ffn = { found: false, reason: error instanceof Error ? error.message : String(error) };
  }

  const past = (graph.input ?? []).filter((i) => /^past_key_values\.\d+\.key$/.test(i.name ?? ''));
  const pastDims = past[0]?.type?.tensor_type?.shape?.dim;
  const logits = (graph.output ?? []).find((o) => o.name === 'logits');
  const logitsDims = logits?.type?.tensor_type?.shape?.dim;
  const attention = g.nodes.find((n) => (n.op_type === 'GroupQueryAttention' || n.op_type === 'MultiHeadAttention') && n.domain === 'com.microsoft');

  const pick = <T,>(what: string, fromGraph: T | undefined, fromConfig: T | undefined, same = (a: T, b: T) => a === b): Fact<T> | undefined => {
    if (fromGraph !== undefined && fromConfig !== undefined && !same(fromGraph, fromConfig)) {
      notes.push(`${what}: the graph has ${String(fromGraph)}, config.json says ${String(fromConfig)}.`);
    }
    if (fromGraph !== undefined) return { value: fromGraph, from: 'graph' };
    return fromConfig === undefined ? undefined : { value: fromConfig, from: 'config' };
  };
  const num = (v: unknown) => (typeof v === 'number' && Number.isFinite(v) ? v : undefined);
  const configFfn = num(config?.intermediate_size);
  const configLayers = num(config?.num_hidden_layers);
  const configHeads = num(config?.num_attention_heads);
  const configHidden = num(config?.hidden_size);

  const layers = pick('layers', ffns?.length ?? (past.length || undefined), configLayers);
  const weights = weightStats(model, g);
  return {
    modelType: typeof config?.model_type === 'string' ? config.model_type : undefined,
    layers,
    hiddenSize: pick('hidden size', ffns?.[0]?.hiddenSize, configHidden),
    ffnSizes: pick(
      'FFN sizes',
      ffns?.map((f) => f.intermediateSize),
      configFfn !== undefined && layers ? Array<number>(layers.value).fill(configFfn) : undefined,
      (a, b) => a.length === b.length && a.every((x, i) => x === b[i]),
    ),
    heads: pick('attention heads', attention ? intAttribute(attention, 'num_heads') : undefined, configHeads),
    kvHeads: pick('KV heads', num(pastDims?.[1]?.dim_value), num(config?.num_key_value_heads) ?? configHeads),
    headDim: pick('head size', num(pastDims?.[3]?.dim_value), num(config?.head_dim) ?? (configHidden && configHeads ? configHidden / configHeads : undefined)),
    vocabSize: pick('vocabulary', num(logitsDims?.[logitsDims.length - 1]?.dim_value), num(config?.vocab_size)),
    weightFormat: ffns ? projectionFormat(ffns) : 'unknown (no FFN found)',
    computeType: typeName(logits?.type?.tensor_type?.elem_type),
    parameters: weights.parameters,
    weightBytes: weights.bytes,
    largestTensor: weights.largest,
    files,
    totalBytes: files.reduce((n, f) => n + f.bytes, 0),
    contextLength: num(config?.max_position_embeddings),
    chatTemplates: chatTemplates(tokenizerConfig).map((t) => t.name),
    ffn,
    notes,
  };
}

function projectionFormat(ffns: FfnLayer[]): string {
  const formats = new Set(
    ffns.flatMap((f) =>
      [f.gate, f.up, f.down].map(({ weight: w }) =>
        w.format === 'float' ? typeName(w.dataType) : `int${w.bits} (MatMulNBits, block ${w.blockSize}, ${typeName(w.scalesType)} scales)`,
      ),
    ),
  );
  return [...formats].join(' + ');
}

function tensorBytes(t: TensorProto): number {
  return externalSource(t)?.length ?? t.raw_data?.byteLength ?? tensorByteLength(t.data_type ?? 0, t.dims ?? []) ?? 0;
}

/** Bytes of all initializers, the largest one, and the parameter count (see {@link ModelCard.parameters}). */
function weightStats(model: OnnxModel, index?: GraphIndex): { parameters: number; bytes: number; largest: { name: string; bytes: number } | undefined } {
  const g = index ?? new GraphIndex(model.graph ?? {});
  let parameters = 0;
  let bytes = 0;
  let largest: { name: string; bytes: number } | undefined;
  for (const [name, t] of g.initializers) {
    const size = tensorBytes(t);
    bytes += size;
    if (!largest || size > largest.bytes) largest = { name, bytes: size };
    parameters += initializerParameters(name, t, g);
  }
  return { parameters, bytes, largest };
}

