import { beforeAll, describe, expect, it } from 'vitest';
import { convertToFloat16 } from '../fixtures/fp16-graph';
import { buildGenaiLlama } from '../fixtures/genai-llama';
import type { GgufModel } from '../import/gguf-file';
import { hfConfig } from '../import/import-gguf';
import { buildLlamaOnnx } from '../import/llama-onnx';
import { loadBuiltin } from '../fixtures/builtin';
import { DataType, makeModel, node, tensorFromFloat32, valueInfo } from '../onnx/builders';
import type { ModelConfig } from './config';
import { modelCard } from './model-card';

let gguf: GgufModel;
let config: ModelConfig;
beforeAll(async () => {
  gguf = await loadBuiltin();
  config = hfConfig(gguf) as ModelConfig;
});

const files = [{ path: 'onnx/model.onnx', bytes: 1000 }, { path: 'onnx/model.onnx_data', bytes: 2345 }];

/** Every GGUF tensor's elements: the reference parameter count. */
const ggufParameters = (model: GgufModel) => [...model.tensors.values()].reduce((n, t) => n + t.shape.reduce((a, d) => a * d, 1), 0);
/** The importer writes a tied head out as a separate weight. */
const graphParameters = (model: GgufModel) => ggufParameters(model) + (model.config.tiedOutput ? model.config.vocabSize * model.config.dim : 0);

describe('modelCard', () => {
  it('reads the built-in model’s architecture from its graph, as the GGUF defines it', () => {
    const c = gguf.config;
    const card = modelCard(buildLlamaOnnx(gguf), config, files, { chat_template: [{ name: 'default', template: 'x' }, { name: 'tool_use', template: 'y' }] });
    expect(card.layers).toEqual({ value: c.nLayers, from: 'graph' });
    expect(card.hiddenSize).toEqual({ value: c.dim, from: 'graph' });
    expect(card.ffnSizes).toEqual({ value: c.ffnDims, from: 'graph' });
    expect(card.kvHeads).toEqual({ value: c.nKvHeads, from: 'graph' });
    expect(card.headDim).toEqual({ value: c.headDim, from: 'graph' });
    expect(card.vocabSize).toEqual({ value: c.vocabSize, from: 'graph' });
    // The Optimum graph has no attention op that states the head count.
    expect(card.heads).toEqual({ value: c.nHeads, from: 'config' });
    expect(card).toMatchObject({ modelType: 'llama', weightFormat: 'fp32', computeType: 'fp32', totalBytes: 3345, notes: [] });
    expect(card.ffn).toEqual({ found: true, activation: 'silu' });
    expect(card.chatTemplates).toEqual(['default', 'tool_use']);
    // RoPE tables are not parameters; a tied head would be stored as its own [dim, vocab] copy.
    expect(card.parameters).toBe(graphParameters(gguf));
    expect(card.largestTensor).toEqual({ name: 'model.embed_tokens.weight', bytes: c.vocabSize * c.dim * 4 });
  });

  it('reports fp16 weights and compute', () => {
    const card = modelCard(convertToFloat16(buildLlamaOnnx(gguf)), config, files);
    expect(card).toMatchObject({ weightFormat: 'fp16', computeType: 'fp16' });
    expect(card.parameters).toBe(graphParameters(gguf));
  });

  it('counts int4 MatMulNBits weights as K×N and names the block size (genai layout, heads padded to 16)', () => {
    const { dim: D, nHeads: H, nKvHeads: KV, nLayers: L, vocabSize: V, ffnDim: F } = gguf.config;
    const build = buildGenaiLlama(gguf, { dtype: 'int4', blockSize: 32, zeroPoints: false });
    const card = modelCard(build.model, config, files);
    expect(card.weightFormat).toBe('int4 (MatMulNBits, block 32, fp32 scales)');
    expect(card.heads).toEqual({ value: H, from: 'graph' });
    expect(card.headDim).toEqual({ value: build.headSize, from: 'graph' });
    expect(card.notes).toEqual([`head size: the graph has ${build.headSize}, config.json says ${gguf.config.headDim}.`]);
    const hp = build.headSize;
    // Per layer: two norms, packed QKV, o_proj, gate/up/down; then embedding, final norm and LM head.
    const perLayer = 2 * D + D * (H + 2 * KV) * hp + H * hp * D + 3 * D * F;
    expect(card.parameters).toBe(L * perLayer + V * D + D + D * V);
  });

  it('falls back to config.json for a graph without FFNs, saying why pruning cannot work', () => {
    const conv = makeModel({
      graph: {
        node: [node('Conv', ['x', 'w'], ['y'], 'conv')],
        initializer: [tensorFromFloat32('w', [2, 1, 1, 1], new Float32Array([1, 2]))],
        input: [valueInfo('x', DataType.FLOAT, [1, 1, 4, 4])],
        output: [valueInfo('y', DataType.FLOAT, [1, 2, 4, 4])],
      },
      opsetImports: [{ domain: '', version: 17 }],
    });
    const card = modelCard(conv, { ...config, intermediate_size: 99 }, files);
    expect(card.ffn.found).toBe(false);
    expect(card.ffnSizes).toEqual({ value: Array(gguf.config.nLayers).fill(99), from: 'config' });
    expect(card.layers).toEqual({ value: gguf.config.nLayers, from: 'config' });
    expect(card.parameters).toBe(2);
  });

  it('notes where config.json disagrees with the graph', () => {
    const card = modelCard(buildLlamaOnnx(gguf), { ...config, intermediate_size: 128, vocab_size: 1000 }, files);
    expect(card.ffnSizes?.value).toEqual(gguf.config.ffnDims);
    expect(card.notes).toEqual([
      `FFN sizes: the graph has ${gguf.config.ffnDims.join(',')}, config.json says ${Array(gguf.config.nLayers).fill(128).join(',')}.`,
      'vocabulary: the graph has 512, config.json says 1000.',
    ]);
  });
});
