/**
 * onnxruntime-genai folders (what Microsoft's model builder writes: `genai_config.json`, `model.onnx`,
 * `model.onnx.data`, the tokenizer files, and no `config.json`). The model's shape is read from
 * `genai_config.json` and its FFN widths from the graph, into the Hugging Face config fields that
 * loading and generation read. Platform neutral.
 */
import type { GenerationConfig, ModelConfig } from './config';

/** The parts of genai_config.json this project reads (see onnxruntime-genai's config.h). */
export interface GenaiConfig {
  model: {
    type: string;
    vocab_size: number;
    context_length?: number;
    bos_token_id?: number;
    eos_token_id?: number | number[];
    pad_token_id?: number;
    decoder: {
      filename?: string;
      head_size?: number;
      hidden_size: number;
      num_attention_heads: number;
      num_hidden_layers: number;
      num_key_value_heads?: number;
      [key: string]: unknown;
    };
    [key: string]: unknown;
  };
  search?: Record<string, unknown>;
  [key: string]: unknown;
}

export const GENAI_CONFIG_FILE = 'genai_config.json';

const DECODER_FIELDS = ['hidden_size', 'num_attention_heads', 'num_hidden_layers'] as const;

/** Checks the fields loading needs and returns the config typed; the message says which are missing. */
export function parseGenaiConfig(value: unknown): GenaiConfig {
  const model = (value as { model?: Record<string, unknown> } | null)?.model;
  const decoder = model?.decoder as Record<string, unknown> | undefined;
  const missing = [
    ...(typeof model?.type === 'string' ? [] : ['model.type']),
    ...(typeof model?.vocab_size === 'number' ? [] : ['model.vocab_size']),
    ...DECODER_FIELDS.filter((f) => typeof decoder?.[f] !== 'number').map((f) => `model.decoder.${f}`),
  ];
  if (missing.length) throw new Error(`genai_config.json lacks ${missing.join(', ')}: it does not describe a decoder language model`);
  return value as GenaiConfig;
}

/**
 * A config.json equivalent: shape from genai_config.json, FFN widths from the graph (genai_config.json has
 * none). Uneven widths give the widest as intermediate_size and the list beside it, as pruned configs do.
 * head_dim is the decoder's head_size, which is the KV cache's last dimension.
 */
export function configFromGenai(genai: GenaiConfig, ffnWidths: readonly number[]): ModelConfig {
  const { model } = genai;
  const d = model.decoder;
  if (ffnWidths.length === 0) throw new Error('the graph has no FFN layers, so its intermediate size is unknown');
  const uniform = ffnWidths.every((w) => w === ffnWidths[0]);
  return {
    model_type: model.type,
    hidden_size: d.hidden_size,
    intermediate_size: uniform ? ffnWidths[0]! : Math.max(...ffnWidths),
    ...(uniform ? {} : { intermediate_sizes: [...ffnWidths] }),
    num_hidden_layers: d.num_hidden_layers,
    num_attention_heads: d.num_attention_heads,
    ...(d.num_key_value_heads !== undefined && { num_key_value_heads: d.num_key_value_heads }),
    ...(d.head_size !== undefined && { head_dim: d.head_size }),
    vocab_size: model.vocab_size,
    ...(model.context_length !== undefined && { max_position_embeddings: model.context_length }),
    ...(model.bos_token_id !== undefined && { bos_token_id: model.bos_token_id }),
    ...(model.eos_token_id !== undefined && { eos_token_id: model.eos_token_id }),
  };
}

/** genai_config.json's search settings as a generation config (max_length; the stop ids live on the model). */
export function generationConfigFromGenai(genai: GenaiConfig): GenerationConfig {
  const maxLength = genai.search?.max_length;
  return {
    ...(genai.model.bos_token_id !== undefined && { bos_token_id: genai.model.bos_token_id }),
    ...(genai.model.eos_token_id !== undefined && { eos_token_id: genai.model.eos_token_id }),
    ...(typeof maxLength === 'number' && { max_length: maxLength }),
  };
}

/**
 * genai_config.json of an exported model: the decoder's `filename` names the written graph (everything
 * else holds: FFN pruning and int4 quantization change no field onnxruntime-genai reads).
 */
export function exportedGenaiConfig(genai: GenaiConfig, graphFile: string): GenaiConfig {
  return { ...genai, model: { ...genai.model, decoder: { ...genai.model.decoder, filename: graphFile } } };
}
