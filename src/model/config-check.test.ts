import { beforeAll, describe, expect, it } from 'vitest';
import { buildGenaiLlama } from '../fixtures/genai-llama';
import type { GgufModel } from '../import/gguf-file';
import { hfConfig } from '../import/import-gguf';
import { buildLlamaOnnx } from '../import/llama-onnx';
import { loadBuiltin } from '../fixtures/builtin';
import { graphFacts, type GraphFacts } from '../onnx/graph-facts';
import { checkConfigAgainstGraph } from './config-check';

let gguf: GgufModel;
beforeAll(async () => {
  gguf = await loadBuiltin();
});

describe('graphFacts', () => {
  it('reads the built-in model’s shape from its graph alone (design brief: 5 layers, dim 64, FFN 172, 4 KV heads, vocab 512)', () => {
    expect(graphFacts(buildLlamaOnnx(gguf, { maxPositions: 300 }))).toEqual({
      layers: 5,
      hiddenSize: 64,
      vocabSize: 512,
      intermediateSizes: [172, 172, 172, 172, 172],
      kvHeads: 4,
      headDim: 8,
      maxPositions: 300,
    });
  });

  it('reads query heads and positions from an onnxruntime-genai GroupQueryAttention graph', () => {
    const facts = graphFacts(buildGenaiLlama(gguf, { dtype: 'fp32' }).model);
    expect(facts).toMatchObject({ layers: 5, hiddenSize: 64, vocabSize: 512, attentionHeads: 8, kvHeads: 4, maxPositions: gguf.config.contextLength });
  });
});

describe('checkConfigAgainstGraph', () => {
  const facts: GraphFacts = { layers: 5, hiddenSize: 64, vocabSize: 512, intermediateSizes: [172, 172, 172, 172, 172], kvHeads: 4, headDim: 8, maxPositions: 2048 };
  const good = () => hfConfig(gguf) as Record<string, unknown>;

  it('accepts the importer’s config unchanged', () => {
    const { config, warnings } = checkConfigAgainstGraph(good(), facts);
    expect(warnings).toEqual([]);
    expect(config).toEqual(good());
  });

  it('replaces numbers the graph contradicts, with a warning naming each field', () => {
    const bad = { ...good(), num_hidden_layers: 99, hidden_size: -3, vocab_size: 500, intermediate_size: 1.5, num_key_value_heads: 8, max_position_embeddings: 100000, intermediate_sizes: [1, 2] };
    const { config, warnings } = checkConfigAgainstGraph(bad, facts);
    expect(config).toEqual(good());
    expect(warnings).toEqual([
      'config.json: num_hidden_layers is 99 but the graph has 5; using 5',
      'config.json: hidden_size is -3 but the graph has 64; using 64',
      'config.json: vocab_size is 500 but the graph has 512; using 512',
      'config.json: intermediate_size is 1.5 but the graph has 172; using 172',
      'config.json: num_key_value_heads is 8 but the graph has 4; using 4',
      'config.json: intermediate_sizes is [1,2] but every layer of the graph has 172 FFN channels; dropping it',
      'config.json: max_position_embeddings is 100000 but the graph holds positions for 2048 tokens; using 2048',
    ]);
  });

  it('derives query heads from hidden_size / head size when config.json gives no head_dim', () => {
    const { head_dim: _, ...noHeadDim } = good();
    const { config, warnings } = checkConfigAgainstGraph({ ...noHeadDim, num_attention_heads: 3 }, facts);
    expect(config.num_attention_heads).toBe(8);
    expect(warnings).toEqual(['config.json: num_attention_heads is 3 but the graph has 8; using 8']);
  });

  it('keeps per-layer widths of a pruned graph in intermediate_sizes', () => {
    const pruned = { ...facts, intermediateSizes: [100, 172, 50, 172, 172] };
    const { config, warnings } = checkConfigAgainstGraph({ ...good(), intermediate_size: 172 }, pruned);
    expect(config.intermediate_sizes).toEqual([100, 172, 50, 172, 172]);
    expect(warnings).toEqual(['config.json: intermediate_sizes is missing but the graph\'s FFN widths are [100, 172, 50, 172, 172]; using those']);
  });

  it('refuses a value that is missing, negative or fractional when the graph cannot supply it', () => {
    const none: GraphFacts = {};
    expect(() => checkConfigAgainstGraph({ ...good(), num_attention_heads: -8 }, none)).toThrow('config.json: num_attention_heads must be a positive integer, got -8');
    expect(() => checkConfigAgainstGraph({ ...good(), hidden_size: 64.5 }, none, 'm/config.json')).toThrow('m/config.json: hidden_size must be a positive integer, got 64.5');
    const { vocab_size: _, ...noVocab } = good();
    expect(() => checkConfigAgainstGraph(noVocab, none)).toThrow('config.json: vocab_size must be a positive integer, got missing');
    expect(() => checkConfigAgainstGraph({ ...good(), max_position_embeddings: '2k' }, none)).toThrow('config.json: max_position_embeddings must be a positive integer, got "2k"');
    expect(() => checkConfigAgainstGraph([1], none)).toThrow('config.json is not a JSON object');
  });

  it('fills max_position_embeddings from the graph and lets a smaller one stand', () => {
    const { max_position_embeddings: _, ...noMax } = good();
    expect(checkConfigAgainstGraph(noMax, facts).config.max_position_embeddings).toBe(2048);
    expect(checkConfigAgainstGraph({ ...good(), max_position_embeddings: 64 }, facts)).toEqual({ config: { ...good(), max_position_embeddings: 64 }, warnings: [] });
  });
});
