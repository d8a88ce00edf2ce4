/**
 * What a pruned llama model looks like as a GGUF file for llama.cpp: architecture, metadata and the
 * tensor list with each tensor's storage type, data produced one tensor at a time on demand (so a
 * writer never holds more than one encoded tensor). Platform neutral.
 *
 * llama.cpp's `llama` architecture builds every layer with the first layer's FFN width, so plans that
 * keep the same width everywhere are written as `llama` (readable by every GGUF tool); uneven plans
 * are written as `deci` (DeciLM / Nemotron-NAS), which reads `feed_forward_length` per layer and is
 * otherwise the same graph (RMSNorm, SwiGLU, interleaved-pair RoPE).
 */
import { GGMLQuantizationType, GGUFValueType } from '@huggingface/gguf';
import type { GGUFTypedMetadata } from '@huggingface/gguf';
import { ggufLayout, type GgufTensorEntry } from '../import/gguf-writer';
import { encodeF16 } from '../onnx/float16';
import { Q8_0_BLOCK, q8_0Bytes, quantizeQ8_0 } from './q8-0';

export class GgufExportError extends Error {
  override name = 'GgufExportError';
}

export const GGUF_WEIGHT_TYPES = ['f32', 'f16', 'q8_0'] as const;
export type GgufWeightType = (typeof GGUF_WEIGHT_TYPES)[number];

/** The model's dimensions as llama.cpp needs them. */
export interface LlamaGgufShape {
  vocabSize: number;
  dim: number;
  ffnDims: number[];
  nLayers: number;
  nHeads: number;
  nKvHeads: number;
  headDim: number;
  ropeTheta: number;
  rmsEps: number;
  contextLength: number;
  /** No output.weight: llama.cpp then uses token_embd.weight as the LM head. */
  tiedOutput: boolean;
}

/** A model to write: its shape, metadata to carry (tokenizer.*, general.*), and its float tensors. */
export interface LlamaGgufSource {
  shape: LlamaGgufShape;
  metadata: GGUFTypedMetadata;
  /**
   * A tensor by its GGUF name, in GGUF layout: matrices as [out][in] rows, attn_q/attn_k rows in
   * llama.cpp's interleaved-pair RoPE order.
   */
  tensor(name: string): Promise<Float32Array>;
}

export interface GgufTensorJob extends GgufTensorEntry {
  encode(): Promise<Uint8Array>;
}

export interface GgufExportPlan {
  arch: 'llama' | 'deci';
  metadata: GGUFTypedMetadata;
  tensors: GgufTensorJob[];
  /** Matrices kept at F16 under q8_0 because their rows are not whole 32-value blocks. */
  f16Fallbacks: string[];
}

/** F32 data as it is (sources hand out fresh arrays or read-only views; the writer only reads). */
const viewBytes = (values: Float32Array) => new Uint8Array(values.buffer, values.byteOffset, values.byteLength);

/** llama_ftype values for general.file_type. */
const FILE_TYPE: Record<GgufWeightType, number> = { f32: 0, f16: 1, q8_0: 7 };

const u32 = (value: number) => ({ value, type: GGUFValueType.UINT32 as const });
const f32 = (value: number) => ({ value, type: GGUFValueType.FLOAT32 as const });

/**
 * Keeps FFN channels `keep` of a layer `width` channels wide in GGUF rows: gate/up lose rows ([width][dim]),
 * down loses columns ([dim][width]).
 */
export function keepFfnChannels(rows: Float32Array, role: 'gate' | 'up' | 'down', keep: readonly number[], width: number, dim: number): Float32Array {
  if (keep.length === width) return rows;
  const out = new Float32Array(keep.length * dim);
  if (role !== 'down') keep.forEach((c, i) => out.set(rows.subarray(c * dim, (c + 1) * dim), i * dim));
  else for (let o = 0; o < dim; o++) for (let i = 0; i < keep.length; i++) out[o * keep.length + i] = rows[o * width + keep[i]!]!;
  return out;
}

function isUniform(ffnDims: readonly number[]): boolean {
  return ffnDims.every((d) => d === ffnDims[0]);
}

/** GGUF shapes (ne0 = input features first) of every tensor, in llama.cpp's usual order. */
function llamaTensorShapes(s: LlamaGgufShape): [string, number[]][] {
  const q = s.nHeads * s.headDim;
  const kv = s.nKvHeads * s.headDim;
  const list: [string, number[]][] = [['token_embd.weight', [s.dim, s.vocabSize]]];
  for (let l = 0; l < s.nLayers; l++) {
    const p = `blk.${l}.`;
    list.push(
      [p + 'attn_norm.weight', [s.dim]],
      [p + 'attn_q.weight', [s.dim, q]],
      [p + 'attn_k.weight', [s.dim, kv]],
      [p + 'attn_v.weight', [s.dim, kv]],
      [p + 'attn_output.weight', [q, s.dim]],
      [p + 'ffn_norm.weight', [s.dim]],
      [p + 'ffn_gate.weight', [s.dim, s.ffnDims[l]!]],
      [p + 'ffn_up.weight', [s.dim, s.ffnDims[l]!]],
      [p + 'ffn_down.weight', [s.ffnDims[l]!, s.dim]],
    );
  }
  list.push(['output_norm.weight', [s.dim]]);
  if (!s.tiedOutput) list.push(['output.weight', [s.dim, s.vocabSize]]);
  return list;
}

function llamaMetadata(arch: 'llama' | 'deci', s: LlamaGgufShape, type: GgufWeightType): GGUFTypedMetadata {
  const entries: Record<string, unknown> = {
    'general.architecture': { value: arch, type: GGUFValueType.STRING },
    'general.file_type': u32(FILE_TYPE[type]),
    ...(type === 'q8_0' ? { 'general.quantization_version': u32(2) } : {}),
    [`${arch}.vocab_size`]: u32(s.vocabSize),
    [`${arch}.context_length`]: u32(s.contextLength),
    [`${arch}.embedding_length`]: u32(s.dim),
    [`${arch}.block_count`]: u32(s.nLayers),
    [`${arch}.feed_forward_length`]:
      arch === 'llama' ? u32(s.ffnDims[0]!) : { value: [...s.ffnDims], type: GGUFValueType.ARRAY, subType: GGUFValueType.UINT32 },
    [`${arch}.attention.head_count`]: u32(s.nHeads),
    [`${arch}.attention.head_count_kv`]: u32(s.nKvHeads),
    [`${arch}.attention.key_length`]: u32(s.headDim),
    [`${arch}.attention.value_length`]: u32(s.headDim),
    [`${arch}.rope.dimension_count`]: u32(s.headDim),
    [`${arch}.rope.freq_base`]: f32(s.ropeTheta),
    [`${arch}.attention.layer_norm_rms_epsilon`]: f32(s.rmsEps),
  };
  return entries as GGUFTypedMetadata;
}

/** Carried keys: the tokenizer and descriptive general.* keys, never another architecture's hyperparameters. */
function carried(metadata: GGUFTypedMetadata): GGUFTypedMetadata {
  const keep = Object.entries(metadata).filter(
    ([k]) => k.startsWith('tokenizer.') || (k.startsWith('general.') && !['general.architecture', 'general.file_type', 'general.quantization_version', 'general.alignment'].includes(k)),
  );
  return Object.fromEntries(keep) as GGUFTypedMetadata;
}

export function planLlamaGguf(source: LlamaGgufSource, type: GgufWeightType): GgufExportPlan {
  const s = source.shape;
  if (s.ffnDims.length !== s.nLayers) throw new GgufExportError(`${s.ffnDims.length} FFN widths for ${s.nLayers} layers`);
  if (s.ffnDims.some((d) => d < 1)) throw new GgufExportError('llama.cpp cannot load a layer with no FFN channels left; keep at least one per layer');
  const arch = isUniform(s.ffnDims) ? 'llama' : 'deci';
  const f16Fallbacks: string[] = [];
  const tensors = llamaTensorShapes(s).map(([name, shape]): GgufTensorJob => {
    const elements = shape.reduce((a, b) => a * b, 1);
    let ggmlType = GGMLQuantizationType.F32;
    // llama.cpp keeps norms in F32 at every file type
    if (shape.length === 2 && type !== 'f32') {
      ggmlType = type === 'f16' || shape[0]! % Q8_0_BLOCK !== 0 ? GGMLQuantizationType.F16 : GGMLQuantizationType.Q8_0;
      if (type === 'q8_0' && ggmlType === GGMLQuantizationType.F16) f16Fallbacks.push(name);
    }
    const byteLength = ggmlType === GGMLQuantizationType.F32 ? 4 * elements : ggmlType === GGMLQuantizationType.F16 ? 2 * elements : q8_0Bytes(elements);
    const encoder = ggmlType === GGMLQuantizationType.F32 ? viewBytes : ggmlType === GGMLQuantizationType.F16 ? encodeF16 : quantizeQ8_0;
    return {
      name,
      shape,
      type: ggmlType,
      byteLength,
      encode: async () => {
        const values = await source.tensor(name);
        if (values.length !== elements) throw new GgufExportError(`${name} has ${values.length} values, expected ${elements} for shape [${shape.join(', ')}]`);
        return encoder(values);
      },
    };
  });
  const metadata = { ...llamaMetadata(arch, s, type), ...carried(source.metadata) } as GGUFTypedMetadata;
  return { arch, metadata, tensors, f16Fallbacks };
}

/** The whole GGUF file in memory (the browser's download; Node streams with writeGgufFile instead). */
export async function assembleGguf(plan: GgufExportPlan, onTensor?: (done: number, total: number) => void): Promise<Uint8Array> {
  const layout = ggufLayout(plan.metadata, plan.tensors);
  const out = new Uint8Array(layout.size);
  out.set(layout.header, 0);
  for (const [i, t] of plan.tensors.entries()) {
    out.set(await t.encode(), layout.offsets[i]!);
    onTensor?.(i + 1, plan.tensors.length);
  }
  return out;
}
