import { readFile } from 'node:fs/promises';
import { join } from 'node:path';
import * as ort from 'onnxruntime-node';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { FIXTURE_NAMES, buildFixtureSet, readFixtureModels, type FixtureName, type FixtureSet } from '../fixtures/fixtures';
import { CHECK_TOKENS, sessionLogits } from '../fixtures/verify';
import { maskedDenseModel } from '../fixtures/masked-dense';
import { node } from './builders';
import { FfnDiscoveryError, discoverFfns, layerHint } from './ffn-discovery';
import { encodeModel, parseModel, type OnnxModel } from './model-io';
import { pruneModel } from './prune-export';
import { buildTestModel } from './test-model';

let set: FixtureSet;
let models: Map<FixtureName, OnnxModel>;
beforeAll(async () => {
  set = await buildFixtureSet();
  models = await readFixtureModels(set);
});
afterAll(() => set.remove());

describe('FFN discovery', () => {
  it.each(FIXTURE_NAMES)('finds all 5 FFNs of %s with their weights, sizes and tensors', (name) => {
    const fx = set.fixtures[name];
    const ffns = discoverFfns(models.get(name)!);
    expect(ffns.map((f) => f.layer)).toEqual([0, 1, 2, 3, 4]);
    const out = fx.layout === 'genai' ? '/output_0' : '_output_0';
    for (const f of ffns) {
      const l = f.layer;
      expect([f.intermediateSize, f.hiddenSize]).toEqual([172, 64]);
      expect(f.activation.kind).toBe('silu');
      expect(f.gate.node).toMatch(new RegExp(`^/model/layers\\.${l}/mlp/gate_proj/MatMul`));
      expect(f.up.node).toMatch(new RegExp(`^/model/layers\\.${l}/mlp/up_proj/MatMul`));
      expect(f.down.node).toMatch(new RegExp(`^/model/layers\\.${l}/mlp/down_proj/MatMul`));
      expect(f.downInput).toBe(`/model/layers.${l}/mlp/Mul${out}`);
      expect(f.interior).toContain(`/model/layers.${l}/mlp/gate_proj/MatMul${out}`);
      expect(f.activationType).toBe(fx.dtype === 'fp16' ? 10 : 1);
      if (fx.layout === 'optimum') {
        expect(f.hidden).toMatchObject({ outputIndex: 0, tensor: `/model/layers.${l}/Add_1_output_0` });
      } else {
        // The residual sum is output 3 of the next layer's input norm; the final norm does not emit it.
        expect(f.hidden?.outputIndex).toBe(3);
        expect(f.hidden?.tensor).toBe(l < 4 ? `/model/layers.${l + 1}/input_layernorm/output_3` : undefined);
      }
      const w = f.down.weight;
      if (fx.dtype === 'int4') {
        expect(w).toMatchObject({ format: 'nbits', K: 172, N: 64, bits: 4, blockSize: name === 'genai-int4' ? 32 : 16, initializer: `model.layers.${l}.mlp.down_proj.MatMul.weight_Q4` });
        expect(!!(w as { zeroPoints?: string }).zeroPoints).toBe(name === 'genai-int4-b16-zp');
      } else {
        expect(w).toMatchObject({ format: 'float', layout: 'in-out', dims: [172, 64], dataType: fx.dtype === 'fp16' ? 10 : 1 });
        expect((w as { initializer: string }).initializer).toMatch(fx.layout === 'genai' ? `model.layers.${l}.mlp.down_proj.MatMul.weight` : /^onnx::MatMul_\d+$/);
      }
    }
  });

  it('reads only the graph: works on a parsed model whose external data is not loaded', async () => {
    const fx = set.fixtures['genai-int4-b16-zp'];
    const parsed = parseModel(new Uint8Array(await readFile(join(fx.dir, fx.modelFile))));
    const ffns = discoverFfns(parsed);
    expect(ffns.map((f) => f.down.weight)).toEqual(discoverFfns(models.get('genai-int4-b16-zp')!).map((f) => f.down.weight));
  });

  it('uses names only as hints: an anonymized graph is found by its pattern and numbered in graph order', () => {
    const model = structuredClone(models.get('genai-int4')!);
    const g = model.graph!;
    const rename = new Map((g.initializer ?? []).map((t, i) => [t.name!, `w${i}`]));
    g.initializer!.forEach((t) => (t.name = rename.get(t.name!)));
    g.node!.forEach((n, i) => {
      n.name = `n${i}`;
      if (n.input) n.input = n.input.map((x) => rename.get(x) ?? x);
    });
    const ffns = discoverFfns(model);
    expect(ffns.map((f) => f.layer)).toEqual([0, 1, 2, 3, 4]);
    const named = discoverFfns(models.get('genai-int4')!);
    expect(ffns.map((f) => f.down.nodeIndex)).toEqual(named.map((f) => f.down.nodeIndex));
  });

  it('recognizes Gelu, FastGelu and QuickGelu activations, and pruning stays exact with them', async () => {
    for (const [op, domain, kind] of [
      ['Gelu', undefined, 'gelu'],
      ['FastGelu', 'com.microsoft', 'fast-gelu'],
      ['QuickGelu', 'com.microsoft', 'quick-gelu'],
    ] as const) {
      const model = withActivation(models.get('optimum-fp32')!, op, domain);
      const ffns = discoverFfns(model);
      expect(ffns.map((f) => f.activation.kind)).toEqual(new Array(5).fill(kind));
      if (op !== 'FastGelu') continue;
      const plan = { keep: ffns.map((f, l) => [...Array(f.intermediateSize).keys()].filter((c) => (c + l) % 3 !== 0)) };
      const pruned = await ort.InferenceSession.create(encodeModel((await pruneModel(model, plan)).model).model);
      const masked = await ort.InferenceSession.create(encodeModel(maskedDenseModel(model, ffns, plan)).model);
      expect(await sessionLogits(pruned, CHECK_TOKENS)).toEqual(await sessionLogits(masked, CHECK_TOKENS));
    }
  });

  it('names the first layer that does not match and says why', () => {
    const model = structuredClone(models.get('optimum-fp32')!);
    const sigmoid = model.graph!.node!.find((n) => n.name === '/model/layers.3/mlp/act_fn/Sigmoid')!;
    sigmoid.op_type = 'Relu';
    const error = catchError(() => discoverFfns(model));
    expect(error).toBeInstanceOf(FfnDiscoveryError);
    expect((error as FfnDiscoveryError).layer).toBe(3);
    expect(error.message).toMatch(/^Layer 3 of 5: no FFN matched: Mul node "\/model\/layers\.3\/mlp\/act_fn\/Mul" is not a SiLU/);

    const noWeight = structuredClone(models.get('genai-fp32')!);
    noWeight.graph!.initializer = noWeight.graph!.initializer!.filter((t) => t.name !== 'model.layers.1.mlp.down_proj.MatMul.weight');
    expect(() => discoverFfns(noWeight)).toThrow(/^Layer 1 of 5: no FFN matched: MatMul node "\/model\/layers\.1\/mlp\/down_proj\/MatMul" has no constant weight/);
  });

  it('says so when a graph has no gated FFN at all', () => {
    expect(() => discoverFfns(buildTestModel())).toThrow(/No gated FFN/);
  });

  it('reads layer numbers from both naming schemes', () => {
    expect(layerHint('/model/layers.12/mlp/down_proj/MatMul')).toBe(12);
    expect(layerHint('model.layers.7.mlp.gate_proj.MatMul.weight_Q4')).toBe(7);
    expect(layerHint('/transformer/h.3/mlp/fc_in/MatMul')).toBe(3);
    expect(layerHint('/lm_head/MatMul')).toBeUndefined();
  });
});

/** Replaces each layer's Sigmoid+Mul SiLU by one `op` node on the gate output. */
function withActivation(model: OnnxModel, op: string, domain?: string): OnnxModel {
  const copy = structuredClone(model);
  const g = copy.graph!;
  g.node = g.node!.flatMap((n) => {
    if (n.name?.endsWith('/act_fn/Sigmoid')) return [];
    if (n.name?.endsWith('/act_fn/Mul')) return [node(op, [n.input![0]!], n.output!, n.name.replace('Mul', op), {}, domain)];
    return [n];
  });
  if (op === 'Gelu') copy.opset_import = copy.opset_import!.map((o) => (o.domain ? o : { ...o, version: 20 }));
  else copy.opset_import = [...copy.opset_import!, { domain: 'com.microsoft', version: 1 }];
  return copy;
}

function catchError(fn: () => unknown): Error {
  try {
    fn();
  } catch (error) {
    return error as Error;
  }
  throw new Error('expected an error');
}
