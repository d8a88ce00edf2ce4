/**
 * The exported GGUF in real llama.cpp (node-llama-cpp's prebuilt CPU binary) against our pruned ONNX
 * model in onnxruntime-node, on the built-in model: log-probabilities at every position of a fixed
 * text and greedy continuations from BOS, for a uniform plan (arch llama) and an uneven one (arch
 * deci), from the pruned ONNX folder and from the original GGUF with the plan, F32 / F16 / Q8_0.
 */
import { mkdtemp, readFile, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { Llama } from 'node-llama-cpp';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { importGguf } from '../import/import-gguf';
import { builtinGgufPath, loadBuiltin } from '../fixtures/builtin';
import { loadTokenizer } from '../model/tokenizer';
import { writeFolderAtomic } from '../node/folder-io';
import { exportPrunedFolder } from '../node/prune-folder';
import type { KeepPlan } from '../core/keep-plan';
import { exportGgufFile } from '../node/gguf-export';
import type { GgufWeightType } from './llama-gguf';
import { llamaCppRun, loadLlama, maxLogitDifference, onnxRun, type Run } from './llama-cpp-compare';

const TEXT = [1, 403, 407, 261, 378, 428, 271, 300, 263, 100, 200, 300, 42, 7, 350, 270, 301, 290, 410, 299];
const GREEDY = 40;

let dir: string;
let llama: Llama;
const ffn = 172;

/** A deterministic channel choice (a multiplicative hash ranks the channels differently in every layer). */
function keepFirst(count: number, layer: number): number[] {
  const ranked = Array.from({ length: ffn }, (_, c) => c).sort((a, b) => ((a * 2654435761 + layer * 40503) % 4093) - ((b * 2654435761 + layer * 40503) % 4093));
  return ranked.slice(0, count).sort((a, b) => a - b);
}
const plans: Record<'uniform' | 'uneven', KeepPlan> = {
  uniform: { keep: [0, 1, 2, 3, 4].map((l) => keepFirst(128, l)) },
  uneven: { keep: [150, 96, 128, 64, 171].map((n, l) => keepFirst(n, l)) },
};

beforeAll(async () => {
  dir = await mkdtemp(join(tmpdir(), 'pps-gguf-'));
  await writeFolderAtomic(join(dir, 'model'), importGguf(await loadBuiltin()));
  for (const [name, plan] of Object.entries(plans)) await exportPrunedFolder({ modelDir: join(dir, 'model'), plan, outDir: join(dir, name) });
  llama = await loadLlama();
}, 120_000);

afterAll(async () => {
  await llama?.dispose();
  await rm(dir, { recursive: true, force: true });
});

const onnxRunOf = (folder: string) => onnxRun(join(folder, 'onnx/model.onnx'), TEXT, [1], GREEDY);
const llamaCppRunOf = (path: string) => llamaCppRun(llama, path, TEXT, [1], GREEDY);

/**
 * Tolerances on logits (measured on 2026-12-02: F32 2e-5, F16 0.02-0.04, Q8_0 0.57-0.65). F32 is the
 * same arithmetic up to summation order. F16 rounds the weights. With Q8_0 weights llama.cpp's CPU
 * matmul also quantizes the activations to 8 bits, so logits of this 64-wide model move by up to ~0.7.
 * Greedy tokens: all GREEDY equal for F32 and F16, the first GREEDY_Q8 for Q8_0.
 */
const TOLERANCE: Record<GgufWeightType, number> = { f32: 2e-4, f16: 0.1, q8_0: 1 };
const GREEDY_Q8 = 16;

describe.each(['uniform', 'uneven'] as const)('GGUF of the %s plan in llama.cpp', (name) => {
  let onnx: Run;
  beforeAll(async () => {
    onnx = await onnxRunOf(join(dir, name));
  }, 60_000);

  it.each(['f32', 'f16', 'q8_0'] as const)('%s from the pruned ONNX folder matches onnxruntime', async (type) => {
    const out = join(dir, `${name}-${type}.gguf`);
    const result = await exportGgufFile({ model: join(dir, name), out, type });
    expect(result.arch).toBe(name === 'uniform' ? 'llama' : 'deci');
    expect(result.ffnDims).toEqual(plans[name].keep.map((k) => k.length));
    expect(result.tiedOutput).toBe(true);
    const cpp = await llamaCppRunOf(out);
    const diff = maxLogitDifference(onnx, cpp);
    console.log(`${name} ${type}: max |Δ logit| ${diff.toExponential(2)}, greedy ${cpp.greedy.filter((t, i) => t === onnx.greedy[i]).length}/${GREEDY}`);
    expect(diff).toBeLessThan(TOLERANCE[type]);
    const compared = type === 'q8_0' ? GREEDY_Q8 : GREEDY;
    expect(cpp.greedy.slice(0, compared)).toEqual(onnx.greedy.slice(0, compared));
  }, 60_000);

  it('f32 from the original GGUF with the plan equals the export from ONNX', async () => {
    const out = join(dir, `${name}-from-gguf.gguf`);
    const result = await exportGgufFile({ model: builtinGgufPath, plan: plans[name], out, type: 'f32' });
    expect(result.arch).toBe(name === 'uniform' ? 'llama' : 'deci');
    const cpp = await llamaCppRunOf(out);
    expect(maxLogitDifference(onnx, cpp)).toBeLessThan(TOLERANCE.f32);
    expect(cpp.greedy).toEqual(onnx.greedy);
  }, 60_000);
});

describe('tokenizer metadata in llama.cpp', () => {
  const texts = ['Once upon a time, there was a little girl named Lily.', 'The pirate Bob said: "Arr!" and jumped  into the sea.', 'naïve café 🙂 12345', ' leading space'];

  it('rebuilt from tokenizer.json, tokenizes like our tokenizer and like the original GGUF', async () => {
    const out = join(dir, 'tokenizer-check.gguf');
    await exportGgufFile({ model: join(dir, 'uniform'), out, type: 'f32' });
    const ours = loadTokenizer(JSON.parse(await readFile(join(dir, 'model/tokenizer.json'), 'utf8')), JSON.parse(await readFile(join(dir, 'model/tokenizer_config.json'), 'utf8')));
    const exported = await llama.loadModel({ modelPath: out });
    const original = await llama.loadModel({ modelPath: builtinGgufPath });
    try {
      for (const text of texts) {
        const ids = ours.encode(text);
        expect(Array.from(exported.tokenize(text))).toEqual(ids);
        expect(Array.from(original.tokenize(text))).toEqual(ids);
        expect(exported.detokenize(exported.tokenize(text))).toBe(original.detokenize(original.tokenize(text)));
      }
      expect(exported.tokens.bos).toBe(original.tokens.bos);
      expect(exported.tokens.eos).toBe(original.tokens.eos);
    } finally {
      await exported.dispose();
      await original.dispose();
    }
  }, 60_000);
});

