import { join } from 'node:path';
import * as ort from 'onnxruntime-node';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { buildFixtureSet, type FixtureName, type FixtureSet } from '../fixtures/fixtures';
import { CHECK_TOKENS, loadReference, sessionLogits } from '../fixtures/verify';
import { f16ToF32Array } from './float16';
import { referenceLogits } from '../import/llama-reference';
import { describeDecoder, emptyPast, tokenFeeds } from '../model/decoder-io';
import { instrumentModel } from './instrument';
import { readModelFile } from '../node/model-files';
import { encodeModel, type OnnxModel } from './model-io';
import { DataType } from './proto';

const NAMES: FixtureName[] = ['optimum-fp32', 'genai-fp32', 'genai-int4-b16-zp', 'genai-fp16'];
let set: FixtureSet;
const models = new Map<string, OnnxModel>();
beforeAll(async () => {
  set = await buildFixtureSet(NAMES);
  for (const name of NAMES) models.set(name, await readModelFile(join(set.root, name, set.fixtures[name].modelFile)));
});
afterAll(() => set.remove());

/** Every output of one full-sequence run, as float32. */
async function runAll(model: OnnxModel, tokens: readonly number[]): Promise<Record<string, { dims: readonly number[]; data: Float32Array }>> {
  const session = await ort.InferenceSession.create(encodeModel(model).model);
  const io = describeDecoder(session);
  const out = await session.run({ ...tokenFeeds(ort, io, tokens, 0), ...emptyPast(ort, io) });
  return Object.fromEntries(
    Object.entries(out).map(([name, t]) => [name, { dims: t.dims, data: t.type === 'float16' ? f16ToF32Array(t.data as Uint16Array) : (t.data as Float32Array) }]),
  );
}

describe('instrumentation', () => {
  it.each(NAMES)('%s: extra outputs hold down_proj inputs and layer outputs as the reference computes them; logits unchanged', async (name) => {
    const fx = set.fixtures[name];
    const model = models.get(name)!;
    const { model: instrumented, outputs } = instrumentModel(model, { hidden: true });
    expect(instrumented.graph!.output!.slice(0, model.graph!.output!.length)).toEqual(model.graph!.output);
    expect(outputs.map((o) => o.layer)).toEqual([0, 1, 2, 3, 4]);

    const tokens = CHECK_TOKENS;
    const captured = new Map<string, Float32Array>();
    referenceLogits(await loadReference(fx.referenceGguf), tokens, {
      capture: (layer, t, v) => {
        captured.set(`${layer}:${t}:down`, v.downInput);
        captured.set(`${layer}:${t}:hidden`, v.hidden);
      },
    });
    const run = await runAll(instrumented, tokens);
    const plain = await ort.InferenceSession.create(encodeModel(model).model);
    expect(run.logits!.data).toEqual(await sessionLogits(plain, tokens));

    // fp16 activations carry ~3 significant digits; fp32 and int4 (reference on dequantized weights) match closely.
    const tolerance = fx.dtype === 'fp16' ? (x: number) => 0.02 + 0.01 * Math.abs(x) : () => 1e-4;
    for (const o of outputs) {
      for (const [kind, width] of [
        ['down', 172],
        ['hidden', 64],
      ] as const) {
        const got = run[kind === 'down' ? o.downInput : o.hidden!]!;
        expect(got.dims).toEqual([1, tokens.length, width]);
        let worst = -Infinity;
        tokens.forEach((_, t) => {
          const want = captured.get(`${o.layer}:${t}:${kind}`)!;
          want.forEach((v, i) => (worst = Math.max(worst, Math.abs(got.data[t * width + i]! - v) - tolerance(v))));
        });
        expect(worst, `layer ${o.layer} ${kind}: largest excess over the tolerance`).toBeLessThanOrEqual(0);
      }
    }
  });

  it('annotates each extra output with its type and shape, and names the last genai layer output it materializes', () => {
    const { model, outputs } = instrumentModel(models.get('genai-fp16')!, { hidden: true });
    const byName = new Map(model.graph!.output!.map((o) => [o.name, o.type!.tensor_type!]));
    const down = byName.get(outputs[2]!.downInput)!;
    expect(down.elem_type).toBe(DataType.FLOAT16);
    expect(down.shape!.dim!.map((d) => d.dim_value ?? d.dim_param)).toEqual(['batch_size', 'sequence_length', 172]);
    expect(outputs[4]!.hidden).toBe('/model/layers.4/instrument/hidden_output');
    const finalNorm = model.graph!.node!.find((n) => n.op_type === 'SkipSimplifiedLayerNormalization' && n.name!.includes('final_norm'))!;
    expect(finalNorm.output).toEqual(['/model/layers.5/final_norm_layernorm/output_0', '', '', '/model/layers.4/instrument/hidden_output']);
    // Without `hidden`, only down_proj inputs are added and the graph's nodes are untouched.
    const plain = instrumentModel(models.get('genai-fp16')!);
    expect(plain.outputs.every((o) => o.hidden === undefined)).toBe(true);
    expect(plain.model.graph!.node).toEqual(models.get('genai-fp16')!.graph!.node);
    expect(plain.model.graph!.output!.length).toBe(models.get('genai-fp16')!.graph!.output!.length + 5);
  });
});
