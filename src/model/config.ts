/** The fields of a Hugging Face `config.json` (LlamaConfig and relatives) that loading and generation read. */
export interface ModelConfig {
  model_type: string;
  hidden_size: number;
  intermediate_size: number;
  num_hidden_layers: number;
  num_attention_heads: number;
  num_key_value_heads?: number;
  head_dim?: number;
  vocab_size: number;
  rms_norm_eps?: number;
  rope_theta?: number;
  max_position_embeddings?: number;
  bos_token_id?: number;
  eos_token_id?: number | number[];
  [key: string]: unknown;
}

/** `generation_config.json`; every field is optional in the wild. */
export interface GenerationConfig {
  bos_token_id?: number;
  eos_token_id?: number | number[];
  [key: string]: unknown;
}

/** Shape of one layer's past/present key or value: [batch, kvHeads, seq, headDim]. */
export interface KvShape {
  layers: number;
  kvHeads: number;
  headDim: number;
}

export function kvShape(config: ModelConfig): KvShape {
  const kvHeads = config.num_key_value_heads ?? config.num_attention_heads;
  const headDim = config.head_dim ?? config.hidden_size / config.num_attention_heads;
  return { layers: config.num_hidden_layers, kvHeads, headDim };
}

/** Every id that ends generation: config.json and generation_config.json may each hold one id or a list. */
export function eosTokenIds(config: ModelConfig, generationConfig?: GenerationConfig | null): number[] {
  const ids = [config.eos_token_id, generationConfig?.eos_token_id].flat();
  return [...new Set(ids.filter((id): id is number => typeof id === 'number'))];
}
