/**
 * The exported GGUF in real llama.cpp (node-llama-cpp's prebuilt CPU binary) against our pruned ONNX
 * model in onnxruntime-node, on the built-in model: log-probabilities at every position of a fixed
 * text and greedy continuations from BOS, for a uniform plan (arch llama) and an uneven one (arch
 * deci), from the pruned ONNX folder and from the original GGUF with the plan, F32 / F16 / Q8_0.
 */
import { mkdtemp, readFile, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { getLlama, LlamaLogLevel, type Llama, type Token } from 'node-llama-cpp';
import * as ort from 'onnxruntime-node';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { importGguf } from '../import/import-gguf';
import { builtinGgufPath, loadBuiltin } from '../fixtures/builtin';
import { forwardLogits } from '../model/generate';
import { loadTokenizer } from '../model/tokenizer';
import { writeFolderAtomic } from '../node/folder-io';
import { exportPrunedFolder } from '../node/prune-folder';
import type { KeepPlan } from '../core/keep-plan';
import { exportGgufFile } from '../node/gguf-export';
import type { GgufWeightType } from './llama-gguf';

const TEXT = [1, 403, 407, 261, 378, 428, 271, 300, 263, 100, 200, 300, 42, 7, 350, 270, 301, 290, 410, 299];
const GREEDY = 40;
/** Log-probabilities compared where the ONNX model gives the token at least this probability. */
const MIN_PROB = 1e-4;

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
  llama = await getLlama({ gpu: false, build: 'never', logLevel: LlamaLogLevel.error, progressLogs: false, skipDownload: true });
}, 120_000);

afterAll(async () => {
  await llama?.dispose();
  await rm(dir, { recursive: true, force: true });
});

interface Run {
  /** Per position of TEXT, log-probabilities by token id (llama.cpp: the tokens it reports). */
  logProbs: Map<number, number>[];
  greedy: number[];
}

async function onnxRun(folder: string): Promise<Run> {
  const session = await ort.InferenceSession.create(join(folder, 'onnx/model.onnx'));
  try {
    const logSoftmax = (row: Float32Array) => {
      const max = Math.max(...row);
      const lse = max + Math.log(row.reduce((s, v) => s + Math.exp(v - max), 0));
      return new Map(Array.from(row, (v, id) => [id, v - lse] as [number, number]));
    };
    const { data, dims } = await forwardLogits(ort, session, TEXT);
    const logProbs = TEXT.map((_, t) => logSoftmax(data.subarray(t * dims[1], (t + 1) * dims[1])));
    const greedy: number[] = [];
    for (let i = 0; i < GREEDY; i++) {
      const ids = [1, ...greedy];
      const out = await forwardLogits(ort, session, ids);
      const last = out.data.subarray((ids.length - 1) * out.dims[1], ids.length * out.dims[1]);
      greedy.push(last.indexOf(Math.max(...last)));
    }
    return { logProbs, greedy };
  } finally {
    await session.release();
  }
}

async function llamaCppRun(path: string): Promise<Run> {
  const model = await llama.loadModel({ modelPath: path });
  // F32 KV cache (llama.cpp's default is F16) and no flash attention (on CPU it rounds Q to F16), so
  // only the weights' storage type differs from onnxruntime
  const context = await model.createContext({ contextSize: 128, batchSize: 128, threads: 1, flashAttention: false, experimentalKvCacheKeyType: 'F32', experimentalKvCacheValueType: 'F32' });
  try {
    const sequence = context.getSequence();
    const evaluated = await sequence.controlledEvaluate(TEXT.map((t) => [t as Token, { generateNext: { probabilities: true } }] as const));
    const logProbs = evaluated.map((e) => new Map([...(e?.next?.probabilities ?? new Map<number, number>())].map(([id, p]) => [id, Math.log(p)] as [number, number])));
    await sequence.clearHistory();
    const greedy: number[] = [];
    for await (const token of sequence.evaluate([1 as Token], { temperature: 0 })) {
      greedy.push(token);
      if (greedy.length === GREEDY) break;
    }
    return { logProbs, greedy };
  } finally {
    await context.dispose();
    await model.dispose();
  }
}

/**
 * Largest difference of log-odds against the position's top token (logit differences, unaffected by
 * how llama.cpp's sampler renormalizes its list) over tokens the ONNX model gives at least MIN_PROB.
 */
function maxLogitDifference(onnx: Run, cpp: Run): number {
  let max = 0;
  onnx.logProbs.forEach((row, t) => {
    const top = [...row].reduce((a, b) => (b[1] > a[1] ? b : a))[0];
    const other = cpp.logProbs[t]!;
    for (const [id, lp] of row) {
      if (lp < Math.log(MIN_PROB)) continue;
      const mine = lp - row.get(top)!;
      const theirs = (other.get(id) ?? -Infinity) - (other.get(top) ?? NaN);
      max = Math.max(max, Number.isNaN(theirs) ? Infinity : Math.abs(mine - theirs));
    }
  });
  return max;
}

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
    onnx = await onnxRun(join(dir, name));
  }, 60_000);

  it.each(['f32', 'f16', 'q8_0'] as const)('%s from the pruned ONNX folder matches onnxruntime', async (type) => {
    const out = join(dir, `${name}-${type}.gguf`);
    const result = await exportGgufFile({ model: join(dir, name), out, type });
    expect(result.arch).toBe(name === 'uniform' ? 'llama' : 'deci');
    expect(result.ffnDims).toEqual(plans[name].keep.map((k) => k.length));
    expect(result.tiedOutput).toBe(true);
    const cpp = await llamaCppRun(out);
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
    const cpp = await llamaCppRun(out);
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

