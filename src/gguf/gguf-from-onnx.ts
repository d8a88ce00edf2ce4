/**
 * A llama-family ONNX decoder (Hugging Face Optimum or onnxruntime-genai layout, float or 4-bit
 * MatMulNBits weights, already pruned or with a keep-plan applied here) as a LlamaGgufSource.
 * FFNs are found by op pattern (ffn-discovery); attention projections by their node names
 * (q_proj / k_proj / v_proj / o_proj or a packed qkv_proj, within `layers.N`); norms as the weight of
 * whatever produces a projection's input; the embedding as the Gather of input_ids; the LM head as
 * the projection producing `logits`. Each tensor is read and converted only when the writer asks for
 * it. Platform neutral.
 */
import type { GGUFTypedMetadata } from '@huggingface/gguf';
import type { ModelConfig } from '../model/config';
import { asProjection, discoverFfns, layerHint, type FfnProjection } from '../onnx/ffn-discovery';
import { decodeFloats, transpose } from '../onnx/float-tensor';
import { GraphIndex } from '../onnx/graph-index';
import { dequantizeInt4 } from '../onnx/int4';
import type { OnnxModel } from '../onnx/model-io';
import { DataType, type NodeProto, type TensorProto } from '../onnx/proto';
import { readInt4 } from '../onnx/prune-export';
import type { KeepPlan } from '../core/keep-plan';
import { validateKeepPlan } from '../core/keep-plan';
import { GgufExportError, keepFfnChannels, type LlamaGgufShape, type LlamaGgufSource } from './llama-gguf';

/** A tensor's raw bytes, inline or from external data. */
export type InitializerReader = (tensor: TensorProto) => Promise<Uint8Array>;

export interface OnnxGgufOptions {
  config: ModelConfig;
  /** GGUF metadata to carry (tokenizer.*) for a vocabulary of the embedding's size. */
  metadata: (vocabSize: number) => GGUFTypedMetadata;
  /** Channels to keep per layer; omitted, the FFNs are written as they are. */
  plan?: KeepPlan;
}

/** float32 values of tensor bytes; aligned FLOAT bytes are viewed, not copied (readers return fresh buffers or the model's own bytes, never written to). */
function floatsOf(bytes: Uint8Array, dataType: number): Float32Array {
  return dataType === DataType.FLOAT && bytes.byteOffset % 4 === 0 ? new Float32Array(bytes.buffer, bytes.byteOffset, bytes.byteLength / 4) : decodeFloats(bytes, dataType);
}

/** A projection's weight as stored: [in][out] (MatMul's B; MatMulNBits dequantized the same way). */
async function projectionInOut(index: GraphIndex, proj: FfnProjection, read: InitializerReader): Promise<Float32Array> {
  const w = proj.weight;
  const byName = (name: string) => read(index.initializers.get(name)!);
  return w.format === 'float' ? floatsOf(await byName(w.initializer), w.dataType) : dequantizeInt4(await readInt4(w, byName, layerHint(proj.node) ?? -1));
}

/**
 * HF rotate_half order → llama.cpp's interleaved pairs, per head: GGUF row 2i is HF row i and GGUF row
 * 2i + 1 is HF row i + d/2 (the inverse of the importer's unpermuteRopeRows).
 */
export function permuteRopeRows(rows: Float32Array, heads: number, headDim: number, inDim: number): Float32Array {
  const out = new Float32Array(rows.length);
  const half = headDim / 2;
  for (let h = 0; h < heads; h++) {
    for (let r = 0; r < headDim; r++) {
      const src = r % 2 === 0 ? r / 2 : half + (r - 1) / 2;
      out.set(rows.subarray((h * headDim + src) * inDim, (h * headDim + src + 1) * inDim), (h * headDim + r) * inDim);
    }
  }
  return out;
}

/** The first `headDim` rows of each `padded`-row head; the dropped rows must be zero. */
function unpadHeadRows(rows: Float32Array, heads: number, padded: number, headDim: number, inDim: number): Float32Array {
  const out = new Float32Array(heads * headDim * inDim);
  for (let h = 0; h < heads; h++) {
    const head = rows.subarray(h * padded * inDim, (h + 1) * padded * inDim);
    if (head.subarray(headDim * inDim).some((v) => v !== 0)) throw new GgufExportError(`Attention head ${h} is ${padded} wide and its dims past ${headDim} are not zero padding`);
    out.set(head.subarray(0, headDim * inDim), h * headDim * inDim);
  }
  return out;
}

/** o_proj rows [outDim][heads * padded] → [outDim][heads * headDim]; dropped columns must be zero. */
function unpadHeadColumns(rows: Float32Array, outDim: number, heads: number, padded: number, headDim: number): Float32Array {
  const out = new Float32Array(outDim * heads * headDim);
  for (let o = 0; o < outDim; o++) {
    for (let h = 0; h < heads; h++) {
      const from = o * heads * padded + h * padded;
      if (rows.subarray(from + headDim, from + padded).some((v) => v !== 0)) throw new GgufExportError(`Attention head ${h} is ${padded} wide and its dims past ${headDim} are not zero padding`);
      out.set(rows.subarray(from, from + headDim), o * heads * headDim + h * headDim);
    }
  }
  return out;
}

/** Whether a [rows][cols] equals b [cols][rows] transposed. */
function sameTransposed(a: Float32Array, b: Float32Array, rows: number, cols: number): boolean {
  for (let r = 0; r < rows; r++) for (let c = 0; c < cols; c++) if (a[r * cols + c] !== b[c * rows + r]) return false;
  return true;
}

const attrOf = (n: NodeProto, name: string) => n.attribute?.find((a) => a.name === name);

export async function onnxLlamaSource(model: OnnxModel, read: InitializerReader, options: OnnxGgufOptions): Promise<LlamaGgufSource> {
  const graph = model.graph;
  if (!graph) throw new GgufExportError('The model has no graph');
  const index = new GraphIndex(graph);
  const ffns = discoverFfns(model);
  const plan = options.plan ? validateKeepPlan(options.plan, ffns.map((f) => f.intermediateSize)) : undefined;
  const cfg = options.config;
  const nHeads = cfg.num_attention_heads;
  const nKvHeads = cfg.num_key_value_heads ?? nHeads;
  const headDim = cfg.head_dim ?? cfg.hidden_size / nHeads;
  // llama.cpp would need these as GGUF keys (and Llama-3 scaling as a rope_freqs tensor); refuse rather than write a model that drifts
  if (cfg.rope_scaling) throw new GgufExportError(`config.json sets rope_scaling ${JSON.stringify(cfg.rope_scaling)}, which GGUF export does not carry over yet`);
  if (cfg.partial_rotary_factor !== undefined && cfg.partial_rotary_factor !== 1) throw new GgufExportError('Partial RoPE (partial_rotary_factor) is not supported by GGUF export');

  const projection = (nodeIndex: number, what: string): FfnProjection => {
    const m = asProjection(index, nodeIndex);
    if (!m.ok) throw new GgufExportError(`${what}: ${m.reason}`);
    return m.value;
  };
  /** The norm weight applied to `tensor`: RMSNorm as Mul(weight, normed) or an ORT (Skip)SimplifiedLayerNormalization. */
  const normWeightOf = (tensor: string, what: string): TensorProto => {
    const p = index.producer(tensor);
    const n = p?.node;
    const candidates =
      n?.op_type === 'SimplifiedLayerNormalization' ? [n.input?.[1]] : n?.op_type === 'SkipSimplifiedLayerNormalization' ? [n.input?.[2]] : n?.op_type === 'Mul' ? (n.input ?? []) : [];
    const weight = candidates.map((name) => (name ? index.initializers.get(name) : undefined)).find((t) => t && (t.dims ?? []).length === 1);
    if (!weight) throw new GgufExportError(`${what}: no RMSNorm weight found on "${tensor}" (produced by ${n?.op_type ?? 'nothing'})`);
    return weight;
  };

  // Embedding: Gather(table, input_ids).
  const gather = index.consumers('input_ids').map((u) => index.nodes[u.node]!).find((n) => n.op_type === 'Gather' && index.initializers.has(n.input?.[0] ?? ''));
  const embed = gather && index.initializers.get(gather.input![0]!)!;
  if (!embed || embed.dims?.length !== 2) throw new GgufExportError('No embedding table found: expected a Gather of input_ids from a 2-D initializer');
  const [vocabSize, dim] = (embed.dims as number[]).map(Number) as [number, number];
  if (dim !== cfg.hidden_size) throw new GgufExportError(`The embedding is ${dim} wide but config.json says hidden_size ${cfg.hidden_size}`);

  // LM head: the projection producing `logits` (through a Cast in fp16 graphs).
  let headTensor = 'logits';
  let head = index.producer(headTensor);
  while (head?.node.op_type === 'Cast') head = index.producer((headTensor = head.node.input![0]!));
  if (!head) throw new GgufExportError('No node produces "logits"');
  const lmHead = projection(head.index, 'the LM head');
  const finalNorm = normWeightOf(lmHead.input, 'the final norm');

  // Attention projections by name within each layer.
  const ATTN = /(?:^|[./_])(q_proj|k_proj|v_proj|o_proj|qkv_proj)(?=[./_]|$)/;
  const attention = ffns.map(() => new Map<string, FfnProjection>());
  const gqa: (NodeProto | undefined)[] = ffns.map(() => undefined);
  index.nodes.forEach((n, i) => {
    const layer = layerHint(n.name);
    if (layer === undefined || layer >= ffns.length) return;
    if (n.op_type === 'GroupQueryAttention') gqa[layer] = n;
    const role = ATTN.exec(n.name ?? '')?.[1];
    if (role && (n.op_type === 'MatMul' || n.op_type === 'MatMulNBits')) attention[layer]!.set(role, projection(i, `layer ${layer} ${role}`));
  });
  // The graph's head size: config's, or larger when heads are zero-padded (onnxruntime's CPU
  // GroupQueryAttention needs head_size % 16 == 0); padded dims are dropped again below.
  let graphHead = headDim;
  attention.forEach((a, l) => {
    if (!(a.has('qkv_proj') || (a.has('q_proj') && a.has('k_proj') && a.has('v_proj'))) || !a.has('o_proj')) {
      throw new GgufExportError(`Layer ${l}: attention projections not found (need q_proj, k_proj, v_proj or qkv_proj, and o_proj in node names)`);
    }
    const q = a.get('qkv_proj') ?? a.get('q_proj')!;
    const perHead = q.outFeatures / (a.has('qkv_proj') ? nHeads + 2 * nKvHeads : nHeads);
    if (q.inFeatures !== dim || !Number.isInteger(perHead) || perHead < headDim || (l > 0 && perHead !== graphHead)) {
      throw new GgufExportError(`Layer ${l}: attention is ${q.inFeatures}→${q.outFeatures}, which does not fit config.json's ${nHeads} heads and ${nKvHeads} KV heads of ${headDim} on width ${dim}`);
    }
    graphHead = perHead;
    const g = gqa[l];
    const scale = g && attrOf(g, 'scale')?.f;
    if ((scale && Math.abs(scale * Math.sqrt(headDim) - 1) > 1e-6) || (!scale && perHead !== headDim)) {
      throw new GgufExportError(`Layer ${l}: attention scale ${scale ?? `1/sqrt(${perHead})`} is not 1/sqrt(head_dim ${headDim}), which llama.cpp always uses`);
    }
  });
  const qDim = nHeads * graphHead;
  const kvDim = nKvHeads * graphHead;
  // genai's GroupQueryAttention may apply RoPE itself, interleaved (GGUF order) or not; HF graphs rotate halves.
  const interleaved = (l: number) => {
    const g = gqa[l];
    return !!g && Number(attrOf(g, 'do_rotary')?.i ?? 0) === 1 && Number(attrOf(g, 'rotary_interleaved')?.i ?? 0) === 1;
  };

  const ffnDims = ffns.map((f, l) => plan?.keep[l]!.length ?? f.intermediateSize);
  const shape: LlamaGgufShape = {
    vocabSize,
    dim,
    ffnDims,
    nLayers: ffns.length,
    nHeads,
    nKvHeads,
    headDim,
    ropeTheta: cfg.rope_theta ?? 10000,
    rmsEps: cfg.rms_norm_eps ?? 1e-5,
    contextLength: cfg.max_position_embeddings ?? 2048,
    tiedOutput: false,
  };
  const floats = async (t: TensorProto) => floatsOf(await read(t), t.data_type!);
  const rows = async (p: FfnProjection) => transpose(await projectionInOut(index, p, read), p.inFeatures, p.outFeatures);

  const attentionRows = async (l: number, role: 'q' | 'k' | 'v' | 'o'): Promise<Float32Array> => {
    const a = attention[l]!;
    const packed = a.get('qkv_proj');
    let r: Float32Array;
    if (role === 'o') r = await rows(a.get('o_proj')!);
    else if (!packed) r = await rows(a.get(`${role}_proj`)!);
    else {
      const all = await rows(packed);
      const [start, count] = role === 'q' ? [0, qDim] : role === 'k' ? [qDim, kvDim] : [qDim + kvDim, kvDim];
      r = all.slice(start * dim, (start + count) * dim);
    }
    if (graphHead !== headDim) r = role === 'o' ? unpadHeadColumns(r, dim, nHeads, graphHead, headDim) : unpadHeadRows(r, role === 'q' ? nHeads : nKvHeads, graphHead, headDim, dim);
    if ((role === 'q' || role === 'k') && !interleaved(l)) r = permuteRopeRows(r, role === 'q' ? nHeads : nKvHeads, headDim, dim);
    return r;
  };

  const ffnRows = async (l: number, role: 'gate' | 'up' | 'down'): Promise<Float32Array> => {
    const ffn = ffns[l]!;
    const r = await rows(ffn[role]);
    const keep = plan?.keep[l];
    return keep ? keepFfnChannels(r, role, keep, ffn.intermediateSize, dim) : r;
  };

  const tensor = async (name: string): Promise<Float32Array> => {
    if (name === 'token_embd.weight') return floats(embed);
    if (name === 'output_norm.weight') return floats(finalNorm);
    if (name === 'output.weight') return rows(lmHead);
    const m = /^blk\.(\d+)\.(\w+)\.weight$/.exec(name);
    const l = Number(m?.[1]);
    switch (m?.[2]) {
      case 'attn_norm':
        return floats(normWeightOf((attention[l]!.get('qkv_proj') ?? attention[l]!.get('q_proj')!).input, `layer ${l} input norm`));
      case 'ffn_norm':
        return floats(normWeightOf(ffns[l]!.gate.input, `layer ${l} post-attention norm`));
      case 'attn_q':
        return attentionRows(l, 'q');
      case 'attn_k':
        return attentionRows(l, 'k');
      case 'attn_v':
        return attentionRows(l, 'v');
      case 'attn_output':
        return attentionRows(l, 'o');
      case 'ffn_gate':
        return ffnRows(l, 'gate');
      case 'ffn_up':
        return ffnRows(l, 'up');
      case 'ffn_down':
        return ffnRows(l, 'down');
    }
    throw new GgufExportError(`No tensor ${name} in this model`);
  };

  // Tied embeddings (exporters often store the LM head as a transposed copy): equal values mean
  // llama.cpp can reuse token_embd.weight, as the original checkpoint did. Compared in place, stopping
  // at the first difference.
  const embedValues = await floats(embed);
  const headInOut = lmHead.outFeatures === vocabSize && lmHead.inFeatures === dim ? await projectionInOut(index, lmHead, read) : undefined;
  shape.tiedOutput = !!headInOut && sameTransposed(embedValues, headInOut, vocabSize, dim);
  return { shape, metadata: options.metadata(vocabSize), tensor };
}
