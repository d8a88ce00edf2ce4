/**
 * GGUF export of models with byte-level BPE tokenizers (GPT-2 style), in real llama.cpp: for each fixture
 * layout (SmolLM2's and Qwen2.5's, src/fixtures/byte-level-bpe.ts) on a tiny random-weight llama,
 * (a) llama.cpp tokenizes a varied text set exactly as our tokenizer (@huggingface/tokenizers) does and
 * reads the right pre-tokenizer, special tokens and chat template; (b) a uniform (arch llama) and an
 * uneven (arch deci) pruned model give the logits and greedy tokens of our ONNX pruned model; the
 * studio's in-memory conversion writes the same file as the CLI.
 */
import { mkdtemp, readdir, readFile, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join, relative, sep } from 'node:path';
import type { Llama } from 'node-llama-cpp';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { BYTE_LEVEL_LAYOUTS, buildByteLevelTokenizer, type ByteLevelLayout, type ByteLevelTokenizer } from '../fixtures/byte-level-bpe';
import { buildSyntheticModel } from '../fixtures/synthetic';
import { loadTokenizer, type TextTokenizer } from '../model/tokenizer';
import { exportPrunedFolder } from '../node/prune-folder';
import type { KeepPlan } from '../core/keep-plan';
import { exportGgufFile } from '../node/gguf-export';
import { ggufFromFolderFiles } from './gguf-from-folder';
import { llamaCppRun, loadLlama, maxLogitDifference, onnxRun } from './llama-cpp-compare';

const SHAPE = { layers: 3, hidden: 64, ffn: 96, heads: 4, kvHeads: 2, maxPositions: 256 };
const PLANS: Record<'uniform' | 'uneven', KeepPlan> = {
  uniform: { keep: [0, 1, 2].map((l) => [...Array(96).keys()].filter((c) => (c + l) % 3 !== 0)) },
  uneven: { keep: [80, 40, 96].map((n, l) => [...Array(96).keys()].filter((c) => (c * 7 + l) % 96 < n)) },
};
/** The converter's own test string (convert_hf_to_gguf.py's chktxt) and texts around it. */
const CHKTXT =
  '\n \n\n \n\n\n \t \t\t \t\n  \n   \n    \n     \n🚀 (normal) 😶\u200d🌫️ (multiple emojis concatenated) ✅ 🦙🦙 3 33 333 3333 33333 333333 3333333 33333333 3.3 3..3 3...3 កាន់តែពិសេសអាច😁 ?我想在apple工作1314151天～ ------======= нещо на Български \'\'\'\'\'\'```````""""......!!!!!!?????? I\'ve been \'told he\'s there, \'RE you sure? \'M not sure I\'ll make it, \'D you like some tea? We\'Ve a\'lL';
const TEXTS = [
  CHKTXT,
  "Hello world! It's 2026, isn't it? I'll say: they're here, we've won, you'd see.",
  '  two leading spaces\n\nblank line\ttab and\r\nwindows line   trailing   ',
  'digits 1234567890 3.14159 1,000,000 and x2y3',
  'naïve café — Über straße, 東京 🙂🦙 👨‍👩‍👧 ½ ﬁ',
  '<|im_start|>system\nYou are Captain Bob, an old pirate.<|im_end|>\n<|im_start|>user\nWhat do you eat?<|im_end|>\n<|im_start|>assistant\n',
  'before<|im_end|>after <|endoftext|> and <tool_call>{"name": "map"}',
  "WHAT'S THE PLAN? YOU'RE-ON-DECK, and-so-on,Mr.Smith's (e.g.x) end.\n\nNext:\n",
];
const PRE: Record<ByteLevelLayout, string> = { smollm2: 'smollm', 'qwen2.5': 'qwen2' };

let dir: string;
let llama: Llama;
const fixtures = {} as Record<ByteLevelLayout, { tokenizer: ByteLevelTokenizer; ours: TextTokenizer }>;

beforeAll(async () => {
  dir = await mkdtemp(join(tmpdir(), 'pps-gguf-bpe-'));
  for (const layout of BYTE_LEVEL_LAYOUTS) {
    const tokenizer = buildByteLevelTokenizer(layout);
    const model = join(dir, `${layout}-model`);
    await buildSyntheticModel(model, { ...SHAPE, vocab: tokenizer.vocabSize }, { seed: 7 });
    const config = JSON.parse(await readFile(join(model, 'config.json'), 'utf8')) as Record<string, unknown>;
    await writeFile(join(model, 'config.json'), JSON.stringify({ ...config, bos_token_id: tokenizer.bosTokenId, eos_token_id: tokenizer.eosTokenId }));
    await writeFile(join(model, 'tokenizer.json'), JSON.stringify(tokenizer.tokenizerJson));
    await writeFile(join(model, 'tokenizer_config.json'), JSON.stringify(tokenizer.tokenizerConfig));
    for (const [name, plan] of Object.entries(PLANS)) await exportPrunedFolder({ modelDir: model, plan, outDir: join(dir, `${layout}-${name}`) });
    fixtures[layout] = { tokenizer, ours: loadTokenizer(tokenizer.tokenizerJson, tokenizer.tokenizerConfig) };
  }
  llama = await loadLlama();
}, 120_000);

afterAll(async () => {
  await llama?.dispose();
  await rm(dir, { recursive: true, force: true });
});

describe.each(BYTE_LEVEL_LAYOUTS)('byte-level BPE, %s layout, in llama.cpp', (layout) => {
  it('tokenizes every text as our tokenizer does, with the right pre-tokenizer, special tokens and chat template', async () => {
    const out = join(dir, `${layout}-tokenizer.gguf`);
    await exportGgufFile({ model: join(dir, `${layout}-uniform`), out, type: 'f32' });
    const { tokenizer, ours } = fixtures[layout];
    const model = await llama.loadModel({ modelPath: out, vocabOnly: true });
    try {
      const metadata = model.fileInfo.metadata.tokenizer;
      expect(metadata.ggml.model).toBe('gpt2');
      expect(metadata.ggml.pre).toBe(PRE[layout]);
      expect(metadata.chat_template).toBe(tokenizer.tokenizerConfig.chat_template);
      expect(model.tokens.bos).toBe(tokenizer.bosTokenId);
      expect(model.tokens.eos).toBe(tokenizer.eosTokenId);
      expect(model.tokens.shouldPrependBosToken).toBe(false);
      for (const text of TEXTS) {
        const ids = ours.encode(text);
        expect(Array.from(model.tokenize(text, true)), JSON.stringify(text)).toEqual(ids);
        expect(model.detokenize(model.tokenize(text, true), true)).toBe(ours.decode(ids, { skipSpecialTokens: false }));
      }
    } finally {
      await model.dispose();
    }
  }, 60_000);

  it('tokenizes the texts otherwise under any other pre-tokenizer name (--gguf-pre), so the texts tell them apart', async () => {
    const { ours } = fixtures[layout];
    // (qwen35 differs from qwen2 only on combining marks, which the fixtures' training text lacks)
    for (const pre of ['gpt-2', 'smollm', 'qwen2', 'llama-bpe', 'default'].filter((p) => p !== PRE[layout])) {
      const out = join(dir, `${layout}-pre-${pre}.gguf`);
      await exportGgufFile({ model: join(dir, `${layout}-uniform`), out, type: 'f32', pre });
      const model = await llama.loadModel({ modelPath: out, vocabOnly: true });
      try {
        expect(model.fileInfo.metadata.tokenizer.ggml.pre).toBe(pre);
        const differing = TEXTS.filter((text) => JSON.stringify(Array.from(model.tokenize(text, true))) !== JSON.stringify(ours.encode(text)));
        expect(differing.length, pre).toBeGreaterThan(0);
      } finally {
        await model.dispose();
      }
    }
  }, 60_000);

  it.each(['uniform', 'uneven'] as const)('the %s pruned model gives our ONNX model’s logits and greedy tokens', async (plan) => {
    const folder = join(dir, `${layout}-${plan}`);
    const out = join(dir, `${layout}-${plan}.gguf`);
    const result = await exportGgufFile({ model: folder, out, type: 'f32' });
    expect(result.arch).toBe(plan === 'uniform' ? 'llama' : 'deci');
    expect(result.ffnDims).toEqual(PLANS[plan].keep.map((k) => k.length));
    const { ours } = fixtures[layout];
    const text = ours.encode(TEXTS[5]!).slice(0, 48);
    const prompt = text.slice(0, 12);
    const onnx = await onnxRun(join(folder, 'onnx/model.onnx'), text, prompt, 24);
    const cpp = await llamaCppRun(llama, out, text, prompt, 24);
    const diff = maxLogitDifference(onnx, cpp);
    console.log(`${layout} ${plan}: max |Δ logit| ${diff.toExponential(2)}`);
    // F32 in both: the same arithmetic up to summation order (measured 2026-12-02: see the log line)
    expect(diff).toBeLessThan(2e-4);
    expect(cpp.greedy).toEqual(onnx.greedy);
  }, 60_000);

  it('the studio’s in-memory conversion writes the same bytes as the CLI', async () => {
    const folder = join(dir, `${layout}-uneven`);
    const entries = (await readdir(folder, { recursive: true, withFileTypes: true })).filter((e) => e.isFile());
    const files = await Promise.all(entries.map(async (e) => ({ path: relative(folder, join(e.parentPath, e.name)).split(sep).join('/'), data: new Uint8Array(await readFile(join(e.parentPath, e.name))) })));
    const out = join(dir, `${layout}-cli-f16.gguf`);
    await exportGgufFile({ model: folder, out, type: 'f16' });
    const inMemory = await ggufFromFolderFiles(files, 'f16');
    expect(inMemory.arch).toBe('deci');
    expect(Buffer.from(inMemory.bytes).equals(await readFile(out))).toBe(true);
  }, 60_000);
});
