/**
 * GGUF → Hugging Face ONNX model folder (the layout a user downloads from the hub), platform
 * neutral: it returns the files as byte chunks so Node writes them to disk and the browser to storage.
 */
import { defaultExternalDataName, encodeModel } from '../onnx/model-io';
import type { GgufModel } from './gguf-file';
import { buildLlamaOnnx } from './llama-onnx';
import { buildTokenizerFiles } from './tokenizer-json';

export interface FolderFile {
  /** Path relative to the model folder, '/'-separated. */
  path: string;
  /** The file's bytes as consecutive chunks (large tensors stay views; nothing is concatenated). */
  chunks: Uint8Array[];
}

export interface ImportOptions {
  /** 'auto' moves weights to `onnx/model.onnx_data` when they pass `externalThresholdBytes`. */
  externalData?: 'auto' | 'always' | 'never';
  externalThresholdBytes?: number;
}

/** Above this many weight bytes 'auto' uses external data: far below protobuf's 2 GiB ceiling. */
const AUTO_EXTERNAL_BYTES = 512 * 1024 * 1024;
const MODEL_FILE = 'model.onnx';

const json = (path: string, value: unknown): FolderFile => ({ path, chunks: [new TextEncoder().encode(JSON.stringify(value, null, 2) + '\n')] });

export function hfConfig(model: GgufModel): Record<string, unknown> {
  const c = model.config;
  const uniformFfn = c.ffnDims.every((d) => d === c.ffnDims[0]);
  return {
    architectures: ['LlamaForCausalLM'],
    model_type: 'llama',
    hidden_size: c.dim,
    intermediate_size: c.ffnDim,
    // Pruned GGUFs may have a width per layer; HF config holds one, so record the list beside it.
    ...(uniformFfn ? {} : { intermediate_sizes: c.ffnDims }),
    num_hidden_layers: c.nLayers,
    num_attention_heads: c.nHeads,
    num_key_value_heads: c.nKvHeads,
    head_dim: c.headDim,
    vocab_size: c.vocabSize,
    rms_norm_eps: c.rmsEps,
    rope_theta: c.ropeTheta,
    max_position_embeddings: c.contextLength,
    hidden_act: 'silu',
    bos_token_id: c.bosTokenId,
    eos_token_id: c.eosTokenId,
    tie_word_embeddings: c.tiedOutput,
    torch_dtype: 'float32',
    use_cache: true,
  };
}

export function importGguf(model: GgufModel, options: ImportOptions = {}): FolderFile[] {
  const onnx = buildLlamaOnnx(model);
  const weightBytes = (onnx.graph?.initializer ?? []).reduce((n, t) => n + (t.raw_data?.byteLength ?? 0), 0);
  const mode = options.externalData ?? 'auto';
  const external = mode === 'always' || (mode === 'auto' && weightBytes > (options.externalThresholdBytes ?? AUTO_EXTERNAL_BYTES));
  const encoded = encodeModel(onnx, external ? { externalData: { location: defaultExternalDataName(MODEL_FILE) } } : {});
  const { tokenizerJson, tokenizerConfig } = buildTokenizerFiles(model);
  const c = model.config;
  return [
    { path: `onnx/${MODEL_FILE}`, chunks: [encoded.model] },
    ...(encoded.external ? [{ path: `onnx/${encoded.external.location}`, chunks: encoded.external.chunks }] : []),
    json('config.json', hfConfig(model)),
    json('generation_config.json', { bos_token_id: c.bosTokenId, eos_token_id: c.eosTokenId, max_length: c.contextLength }),
    json('tokenizer.json', tokenizerJson),
    json('tokenizer_config.json', tokenizerConfig),
  ];
}
