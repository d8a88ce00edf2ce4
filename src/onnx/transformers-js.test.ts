/**
 * The exported pruned folders in transformers.js (@huggingface/transformers in Node, local files only): fp32,
 * fp16 and int4-quantized exports load, and transformers.js's greedy generation equals ours (the project's
 * generation loop on onnxruntime-node) token for token. transformers.js picks the graph by dtype
 * (onnx/model.onnx, onnx/model_fp16.onnx, onnx/model_q4.onnx), so the test names the copies that way.
 */
import { copyFile } from 'node:fs/promises';
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
  set = await buildFixtureSet(['optimum-fp32', 'optimum-fp16']);
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

async function transformersJs(folder: string, dtype: 'fp32' | 'fp16' | 'q4'): Promise<number[]> {
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
  ] as [FixtureName, 'fp32' | 'fp16' | 'q4', boolean][])('%s as %s: greedy tokens equal ours', async (name, dtype, quantize) => {
    const folder = `pruned-${name}-${dtype}`;
    const dir = join(set.root, folder);
    await exportPrunedFolder({ modelDir: set.fixtures[name].dir, plan: PLAN, outDir: dir, ...(quantize && { quantize: { type: 'int4' } }) });
    if (dtype !== 'fp32') await copyFile(join(dir, 'onnx/model.onnx'), join(dir, `onnx/model_${dtype}.onnx`));
    const expected = await ours(dir);
    expect(expected).toHaveLength(NEW_TOKENS);
    expect(await transformersJs(folder, dtype)).toEqual(expected);
  });
});
