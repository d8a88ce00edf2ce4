import { gguf, GGMLQuantizationType } from '@huggingface/gguf';
import type { GGUFTypedMetadata, MetadataValue } from '@huggingface/gguf';
import { f16ToF32Array } from '../onnx/float16';

/** Every problem with a GGUF file we can name: bad magic, truncation, unsupported content, missing tensors. */
export class GgufError extends Error {
  override name = 'GgufError';
}

export interface GgufTensorInfo {
  name: string;
  type: GGMLQuantizationType;
  /** ggml type name, e.g. 'F32', 'Q4_K'. */
  typeName: string;
  /** GGUF order: shape[0] (ne0) varies fastest, so [64, 172] is 172 rows of 64 values. */
  shape: number[];
  elementCount: number;
  /** Absolute byte offset of the data in the file. */
  dataOffset: number;
  byteLength: number;
}

export interface LlamaConfig {
  vocabSize: number;
  dim: number;
  /** Largest FFN width; equals every entry of ffnDims for a dense model. */
  ffnDim: number;
  /** FFN width per layer (GGUF allows an array for feed_forward_length, e.g. after pruning). */
  ffnDims: number[];
  nLayers: number;
  nHeads: number;
  nKvHeads: number;
  headDim: number;
  /** Leading dimensions of each head that RoPE rotates (llama.rope.dimension_count). */
  ropeDim: number;
  ropeTheta: number;
  rmsEps: number;
  contextLength: number;
  bosTokenId: number;
  eosTokenId: number;
  unkTokenId: number;
  /** True when output.weight is absent and the LM head reuses token_embd.weight. */
  tiedOutput: boolean;
}

const GGUF_MAGIC = [0x47, 0x47, 0x55, 0x46]; // "GGUF"
const BYTES_PER_ELEMENT: Partial<Record<GGMLQuantizationType, number>> = {
  [GGMLQuantizationType.F32]: 4,
  [GGMLQuantizationType.F16]: 2,
  [GGMLQuantizationType.BF16]: 2,
};

function ggmlTypeName(type: number): string {
  return GGMLQuantizationType[type] ?? `unknown ggml type ${type}`;
}

/** Parsed GGUF file over its in-memory bytes; build it with readGguf. */
export class GgufModel {
  readonly tensors: ReadonlyMap<string, GgufTensorInfo>;
  readonly config: LlamaConfig;

  constructor(
    readonly bytes: Uint8Array,
    readonly version: number,
    readonly metadata: Readonly<Record<string, MetadataValue>>,
    /** Metadata with GGUF value types, as @huggingface/gguf returns it (lets writers round-trip it). */
    readonly typedMetadata: GGUFTypedMetadata,
    tensors: GgufTensorInfo[],
  ) {
    this.tensors = new Map(tensors.map((t) => [t.name, t]));
    this.config = readLlamaConfig(this);
  }

  hasTensor(name: string): boolean {
    return this.tensors.has(name);
  }

  tensorInfo(name: string): GgufTensorInfo {
    const info = this.tensors.get(name);
    if (!info) throw new GgufError(`missing tensor: ${name}`);
    return info;
  }

  /** The tensor's bytes as stored (a view into the file; do not modify). */
  tensorRaw(name: string): Uint8Array {
    const t = this.tensorInfo(name);
    return this.bytes.subarray(t.dataOffset, t.dataOffset + t.byteLength);
  }

  /**
   * The tensor as float32. F32 data that is 4-byte aligned is returned as a zero-copy view into
   * the file (treat it as read-only); F16/BF16 are converted into a fresh array on every call.
   */
  tensorF32(name: string): Float32Array {
    const t = this.tensorInfo(name);
    const start = this.bytes.byteOffset + t.dataOffset;
    switch (t.type) {
      case GGMLQuantizationType.F32:
        return start % 4 === 0
          ? new Float32Array(this.bytes.buffer, start, t.elementCount)
          : new Float32Array(this.tensorRaw(name).slice().buffer);
      case GGMLQuantizationType.F16:
        return f16ToF32Array(this.u16(t));
      case GGMLQuantizationType.BF16: {
        const src = this.u16(t);
        const bits = new Uint32Array(src.length);
        for (let i = 0; i < src.length; i++) bits[i] = src[i] << 16;
        return new Float32Array(bits.buffer);
      }
      default:
        throw new GgufError(`tensor ${name} has unsupported type ${t.typeName}`);
    }
  }

  private u16(t: GgufTensorInfo): Uint16Array {
    const start = this.bytes.byteOffset + t.dataOffset;
    return start % 2 === 0
      ? new Uint16Array(this.bytes.buffer, start, t.elementCount)
      : new Uint16Array(this.tensorRaw(t.name).slice().buffer);
  }
}


/**
 * @huggingface/gguf reads through HTTP Range requests; serving them from memory lets the same
 * code parse a browser File's bytes and a file read in Node.
 */
function inMemoryFetch(bytes: Uint8Array): typeof fetch {
  return (async (_input: RequestInfo | URL, init?: RequestInit) => {
    const range = /^bytes=(\d+)-(\d*)$/.exec(new Headers(init?.headers).get('Range') ?? '');
    const total = bytes.byteLength;
    const start = range ? Math.min(Number(range[1]), total) : 0;
    const end = range?.[2] ? Math.min(Number(range[2]) + 1, total) : total;
    return new Response(bytes.slice(start, end), {
      status: 206,
      headers: { 'Content-Range': `bytes ${start}-${end - 1}/${total}` },
    });
  }) as typeof fetch;
}

/** Parses and validates a llama GGUF (F32/F16/BF16 tensors) held in memory. Throws GgufError. */
export async function readGguf(bytes: Uint8Array): Promise<GgufModel> {
  checkPreamble(bytes);
  let parsed;
  try {
    // The library needs an http(s) URI to use our fetch under Node; the host is never contacted.
    parsed = await gguf('https://in-memory.invalid/model.gguf', {
      fetch: inMemoryFetch(bytes),
      typedMetadata: true,
    });
  } catch (err) {
    throw new GgufError(`malformed GGUF header: ${(err as Error).message}`, { cause: err });
  }
  // The library zero-fills reads past the end instead of failing, so truncation inside the
  // header shows up as a header that ends beyond the file.
  const headerEnd = parsed.tensorInfoByteRange[1];
  if (headerEnd > bytes.byteLength) {
    throw new GgufError(
      `truncated file: the GGUF header needs at least ${headerEnd} bytes but the file has only ${bytes.byteLength}`,
    );
  }
  const arch = parsed.metadata['general.architecture'];
  if (arch !== 'llama') {
    throw new GgufError(
      arch === undefined
        ? 'unsupported architecture: general.architecture is missing (only llama is supported)'
        : `unsupported architecture: ${String(arch)} (only llama is supported)`,
    );
  }
  const dataStart = Number(parsed.tensorDataOffset);
  const tensors = parsed.tensorInfos.map((info): GgufTensorInfo => {
    const typeName = ggmlTypeName(info.dtype);
    const bytesPerElement = BYTES_PER_ELEMENT[info.dtype];
    if (bytesPerElement === undefined) {
      throw new GgufError(
        `unsupported tensor type: ${info.name} is ${typeName} (only F32, F16 and BF16 are supported)`,
      );
    }
    const shape = info.shape.map(Number);
    const elementCount = shape.reduce((a, b) => a * b, 1);
    const dataOffset = dataStart + Number(info.offset);
    const byteLength = elementCount * bytesPerElement;
    if (dataOffset + byteLength > bytes.byteLength) {
      throw new GgufError(
        `truncated file: data of tensor ${info.name} ends at byte ${dataOffset + byteLength} but the file has only ${bytes.byteLength}`,
      );
    }
    return { name: info.name, type: info.dtype, typeName, shape, elementCount, dataOffset, byteLength };
  });
  const metadata = parsed.metadata as unknown as Record<string, MetadataValue>;
  return new GgufModel(bytes, parsed.metadata.version, metadata, parsed.typedMetadata, tensors);
}

/** Magic, version and byte order, checked here so these errors are precise. */
function checkPreamble(bytes: Uint8Array): void {
  if (bytes.byteLength === 0) throw new GgufError('not a GGUF file: the file is empty');
  const head = Array.from(bytes.subarray(0, 4));
  if (head.some((b, i) => b !== GGUF_MAGIC[i])) {
    const shown = head.map((b) => b.toString(16).padStart(2, '0')).join(' ');
    throw new GgufError(`not a GGUF file: expected magic "GGUF" (47 47 55 46) but the file starts with ${shown}`);
  }
  // magic, version, tensor count and KV count (u64 each since version 2)
  if (bytes.byteLength < 24) {
    throw new GgufError(`truncated file: ${bytes.byteLength} bytes is shorter than the 24-byte GGUF preamble`);
  }
  const view = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength);
  const version = view.getUint32(4, true);
  if (version === 2 || version === 3) return;
  const bigEndian = view.getUint32(4, false);
  if (bigEndian === 2 || bigEndian === 3) throw new GgufError('big-endian GGUF files are not supported');
  throw new GgufError(`unsupported GGUF version ${version} (only versions 2 and 3 are supported)`);
}

function readLlamaConfig(model: GgufModel): LlamaConfig {
  const md = model.metadata;
  const num = (key: string, fallback?: number): number => {
    const v = md[key];
    if (v === undefined) {
      if (fallback === undefined) throw new GgufError(`missing metadata: ${key}`);
      return fallback;
    }
    if (typeof v !== 'number' && typeof v !== 'bigint') throw new GgufError(`metadata ${key} is not a number`);
    return Number(v);
  };

  const dim = num('llama.embedding_length');
  const nLayers = num('llama.block_count');
  const nHeads = num('llama.attention.head_count');
  const nKvHeads = num('llama.attention.head_count_kv', nHeads);
  const headDim = num('llama.attention.key_length', dim / nHeads);
  if (!Number.isInteger(headDim) || nHeads % nKvHeads !== 0) {
    throw new GgufError(`unsupported attention layout: dim ${dim}, ${nHeads} heads, ${nKvHeads} KV heads`);
  }
  const ffRaw = md['llama.feed_forward_length'];
  const ffnDims = Array.isArray(ffRaw) ? ffRaw.map(Number) : new Array<number>(nLayers).fill(num('llama.feed_forward_length'));
  if (ffnDims.length !== nLayers) {
    throw new GgufError(`llama.feed_forward_length has ${ffnDims.length} entries for ${nLayers} layers`);
  }
  const tokens = md['tokenizer.ggml.tokens'];
  const embd = model.tensors.get('token_embd.weight');
  const vocabSize = num('llama.vocab_size', Array.isArray(tokens) ? tokens.length : (embd?.shape[1] ?? 0));

  const qDim = nHeads * headDim;
  const kvDim = nKvHeads * headDim;
  const expected = new Map<string, number[]>([
    ['token_embd.weight', [dim, vocabSize]],
    ['output_norm.weight', [dim]],
  ]);
  for (let l = 0; l < nLayers; l++) {
    const p = `blk.${l}.`;
    expected.set(p + 'attn_norm.weight', [dim]);
    expected.set(p + 'attn_q.weight', [dim, qDim]);
    expected.set(p + 'attn_k.weight', [dim, kvDim]);
    expected.set(p + 'attn_v.weight', [dim, kvDim]);
    expected.set(p + 'attn_output.weight', [qDim, dim]);
    expected.set(p + 'ffn_norm.weight', [dim]);
    expected.set(p + 'ffn_gate.weight', [dim, ffnDims[l]]);
    expected.set(p + 'ffn_up.weight', [dim, ffnDims[l]]);
    expected.set(p + 'ffn_down.weight', [ffnDims[l], dim]);
  }
  const tiedOutput = !model.hasTensor('output.weight');
  if (!tiedOutput) expected.set('output.weight', [dim, vocabSize]);

  const missing = [...expected.keys()].filter((name) => !model.hasTensor(name));
  if (missing.length > 0) {
    const shown = missing.slice(0, 8).join(', ') + (missing.length > 8 ? ` and ${missing.length - 8} more` : '');
    throw new GgufError(`missing tensors: ${shown}`);
  }
  for (const [name, shape] of expected) {
    const actual = model.tensorInfo(name).shape;
    if (!sameShape(actual, shape)) {
      throw new GgufError(`tensor ${name} has shape [${actual.join(', ')}], expected [${shape.join(', ')}]`);
    }
  }

  return {
    vocabSize,
    dim,
    ffnDim: Math.max(...ffnDims),
    ffnDims,
    nLayers,
    nHeads,
    nKvHeads,
    headDim,
    ropeDim: num('llama.rope.dimension_count', headDim),
    ropeTheta: num('llama.rope.freq_base', 10000),
    rmsEps: num('llama.attention.layer_norm_rms_epsilon', 1e-5),
    contextLength: num('llama.context_length', 2048),
    bosTokenId: num('tokenizer.ggml.bos_token_id', 1),
    eosTokenId: num('tokenizer.ggml.eos_token_id', 2),
    unkTokenId: num('tokenizer.ggml.unknown_token_id', 0),
    tiedOutput,
  };
}

/** Shapes match up to trailing 1s, which some writers keep. */
function sameShape(a: number[], b: number[]): boolean {
  for (let i = 0; i < Math.max(a.length, b.length); i++) if ((a[i] ?? 1) !== (b[i] ?? 1)) return false;
  return true;
}
