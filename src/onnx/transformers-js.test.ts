/**
 * The exported pruned folders in transformers.js (@huggingface/transformers in Node, local files only): fp32,
 * fp16 and int4-quantized exports (from fp32: q4, from fp16: q4f16) load, and transformers.js's greedy
 * generation equals ours (the project's generation loop on onnxruntime-node) token for token.
 * transformers.js picks the graph by dtype (onnx/model.onnx, onnx/model_fp16.onnx, onnx/model_q4.onnx,
 * onnx/model_q4f16.onnx) while our exports keep onnx/model.onnx, so the test names the copies that way,
 * as the README tells users to. Also what it does not accept: a folder without config.json (genai).
 */
import { copyFile, readdir } from 'node:fs/promises';
import { join } from 'node:path';
import { AutoModelForCausalLM, env, Tensor } from '@huggingface/transformers';
import * as ort from 'onnxruntime-node';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { buildFixtureSet, type FixtureName, type FixtureSet } from '../fixtures/fixtures';
import { generate } from '../model/generate';
import { loadNodeModel } from '../node/model-folder';
import { exportPrunedFolder } from '../node/prune-folder';

let set: FixtureSet;
beforeAll(async () => {
  set = await buildFixtureSet(['optimum-fp32', 'optimum-fp16', 'optimum-fp32-chunked', 'genai-builder']);
  env.allowRemoteModels = false;
  env.localModelPath = set.root;
});
afterAll(() => set.remove());

/** Uneven widths: transformers.js never reads intermediate_size, so per-layer widths must just work. */
const PLAN = { keep: Array.from({ length: 5 }, (_, l) => [...Array(172).keys()].filter((c) => c % (l + 2) !== 0)) };
const PROMPT = [1, 403, 407, 261];
const NEW_TOKENS = 16;

async function ours(dir: string): Promise<number[]> {
  const model = await loadNodeModel(dir);
  try {
    return (await generate(ort, model.session, model.config, PROMPT, { maxNewTokens: NEW_TOKENS, temperature: 0, stopTokenIds: [] })).tokens;
  } finally {
    await model.session.release();
  }
}

type Dtype = 'fp32' | 'fp16' | 'q4' | 'q4f16';

async function transformersJs(folder: string, dtype: Dtype): Promise<number[]> {
  const model = await AutoModelForCausalLM.from_pretrained(folder, { dtype, device: 'cpu' });
  try {
    const input = new Tensor('int64', BigInt64Array.from(PROMPT, BigInt), [1, PROMPT.length]);
    // min_new_tokens keeps it from stopping at EOS, as ours is told no stop tokens.
    const out = (await model.generate({ input_ids: input, max_new_tokens: NEW_TOKENS, min_new_tokens: NEW_TOKENS, do_sample: false })) as Tensor;
    return (out.tolist() as bigint[][])[0]!.slice(PROMPT.length).map(Number);
  } finally {
    await model.dispose();
  }
}

describe('transformers.js loads the exported pruned folders', () => {
  it.each([
    ['optimum-fp32', 'fp32', false],
    ['optimum-fp16', 'fp16', false],
    ['optimum-fp32', 'q4', true],
    ['optimum-fp16', 'q4f16', true],
  ] as [FixtureName, Dtype, boolean][])('%s as %s: greedy tokens equal ours', async (name, dtype, quantize) => {
    const folder = `pruned-${name}-${dtype}`;
    const dir = join(set.root, folder);
    await exportPrunedFolder({ modelDir: set.fixtures[name].dir, plan: PLAN, outDir: dir, ...(quantize && { quantize: { type: 'int4' } }) });
    if (dtype !== 'fp32') await copyFile(join(dir, 'onnx/model.onnx'), join(dir, `onnx/model_${dtype}.onnx`));
    const expected = await ours(dir);
    expect(expected).toHaveLength(NEW_TOKENS);
    expect(await transformersJs(folder, dtype)).toEqual(expected);
  });

  it('fp32 with external data: in Node the graph reads the data file it names, with no option', async () => {
    const folder = 'pruned-chunked-fp32';
    const dir = join(set.root, folder);
    await exportPrunedFolder({ modelDir: set.fixtures['optimum-fp32-chunked'].dir, plan: PLAN, outDir: dir });
    expect((await readdir(join(dir, 'onnx'))).filter((f) => f.includes('_data')).length).toBeGreaterThan(0);
    expect(await transformersJs(folder, 'fp32')).toEqual(await ours(dir));
  });

  it('refuses an onnxruntime-genai folder (no config.json, graph at the top)', async () => {
    const folder = 'pruned-genai-builder';
    await exportPrunedFolder({ modelDir: set.fixtures['genai-builder'].dir, plan: PLAN, outDir: join(set.root, folder) });
    await expect(transformersJs(folder, 'fp32')).rejects.toThrow(/config\.json/);
  });
});
