import { describe, expect, it } from 'vitest';
import { configFromGenai, exportedGenaiConfig, generationConfigFromGenai, parseGenaiConfig } from './genai-config';

/** genai_config.json as onnxruntime-genai's model builder writes it for Phi-3-mini (abridged: session options, inputs/outputs). */
const phi3 = {
  model: {
    bos_token_id: 1,
    context_length: 4096,
    decoder: {
      session_options: { log_id: 'onnxruntime-genai', provider_options: [] },
      filename: 'model.onnx',
      head_size: 96,
      hidden_size: 3072,
      inputs: { input_ids: 'input_ids', attention_mask: 'attention_mask', past_key_names: 'past_key_values.%d.key', past_value_names: 'past_key_values.%d.value' },
      outputs: { logits: 'logits', present_key_names: 'present.%d.key', present_value_names: 'present.%d.value' },
      num_attention_heads: 32,
      num_hidden_layers: 32,
      num_key_value_heads: 32,
    },
    eos_token_id: [32007, 32001, 32000],
    pad_token_id: 32000,
    type: 'phi3',
    vocab_size: 32064,
  },
  search: { do_sample: false, max_length: 4096, top_k: 1 },
};

describe('genai_config.json', () => {
  it('gives the config.json fields loading reads, FFN width from the graph', () => {
    const genai = parseGenaiConfig(phi3);
    expect(configFromGenai(genai, Array(32).fill(8192))).toEqual({
      model_type: 'phi3',
      hidden_size: 3072,
      intermediate_size: 8192,
      num_hidden_layers: 32,
      num_attention_heads: 32,
      num_key_value_heads: 32,
      head_dim: 96,
      vocab_size: 32064,
      max_position_embeddings: 4096,
      bos_token_id: 1,
      eos_token_id: [32007, 32001, 32000],
    });
    expect(configFromGenai(genai, [100, 300, 200])).toMatchObject({ intermediate_size: 300, intermediate_sizes: [100, 300, 200] });
    expect(generationConfigFromGenai(genai)).toEqual({ bos_token_id: 1, eos_token_id: [32007, 32001, 32000], max_length: 4096 });
  });

  it('an export keeps every field and names its graph', () => {
    const out = exportedGenaiConfig(parseGenaiConfig(phi3), 'model.onnx');
    expect(out).toEqual(phi3);
    expect(exportedGenaiConfig(parseGenaiConfig(phi3), 'pruned.onnx').model.decoder.filename).toBe('pruned.onnx');
  });

  it('refuses what does not describe a decoder, naming the missing fields', () => {
    expect(() => parseGenaiConfig({ model: { type: 'whisper', vocab_size: 51865, decoder: { hidden_size: 384 } } })).toThrow(
      'genai_config.json lacks model.decoder.num_attention_heads, model.decoder.num_hidden_layers: it does not describe a decoder language model',
    );
    expect(() => parseGenaiConfig(null)).toThrow(/lacks model\.type, model\.vocab_size/);
    expect(() => configFromGenai(parseGenaiConfig(phi3), [])).toThrow(/no FFN layers/);
  });
});
