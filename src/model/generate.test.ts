import { existsSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import * as ort from 'onnxruntime-node';
import { beforeAll, describe, expect, it } from 'vitest';
import type { ModelConfig } from './config';
import { forwardLogits, generate } from './generate';
import { loadTokenizer, type TextTokenizer } from './tokenizer';

const MODEL_DIR = join(import.meta.dirname, '../../public/models/stories260K');
const MODEL_FILE = join(MODEL_DIR, 'onnx/model.onnx');
const STORY_START =
  'Once upon a time, there was a little girl named Lily. She loved to play outside in the park.';

const readJson = (file: string) => JSON.parse(readFileSync(join(MODEL_DIR, file), 'utf8'));

describe('stories260K with onnxruntime-node', () => {
  let session: ort.InferenceSession;
  let config: ModelConfig;
  let tokenizer: TextTokenizer;
  let bos: number[];

  beforeAll(async () => {
    // A missing model is a failed set-up, not a reason to pass: npm test imports it first.
    if (!existsSync(MODEL_FILE)) throw new Error(`${MODEL_FILE} does not exist: run \`npm run prepare-model\` first.`);
    session = await ort.InferenceSession.create(MODEL_FILE);
    config = readJson('config.json');
    tokenizer = loadTokenizer(readJson('tokenizer.json'), readJson('tokenizer_config.json'));
    bos = tokenizer.encode('', { addBos: true });
  });

  it('continues the built-in story greedily from BOS', async () => {
    expect(bos).toEqual([config.bos_token_id]);
    const result = await generate(ort, session, config, bos, { maxNewTokens: 60 });
    expect(result.tokens).toHaveLength(60);
    expect(tokenizer.decode(result.tokens).slice(0, STORY_START.length)).toBe(STORY_START);
  });

  it('gives the same tokens with and without the KV cache', async () => {
    const prompt = tokenizer.encode('Tom had a dog', { addBos: true });
    const cached = await generate(ort, session, config, prompt, { maxNewTokens: 40 });
    const uncached = await generate(ort, session, config, prompt, { maxNewTokens: 40, useCache: false });
    expect(cached.tokens).toEqual(uncached.tokens);
  });

  it('picks the argmax of forwardLogits as the first greedy token', async () => {
    const { data, dims } = await forwardLogits(ort, session, bos, config);
    expect(dims).toEqual([1, config.vocab_size]);
    const first = await generate(ort, session, config, bos, { maxNewTokens: 1 });
    expect(first.tokens[0]).toBe(data.indexOf(Math.max(...data)));
  });

  it('reproduces sampled text with the same seed and varies it across seeds', async () => {
    const sample = (seed: number) =>
      generate(ort, session, config, bos, { maxNewTokens: 40, temperature: 1, topK: 40, seed });
    const a = await sample(7);
    const b = await sample(7);
    const c = await sample(8);
    expect(a.tokens).toEqual(b.tokens);
    expect(a.tokens).not.toEqual(c.tokens);
  });

  it('stops at end of text and when aborted', async () => {
    const full = await generate(ort, session, config, bos, { maxNewTokens: 20 });
    const stopId = full.tokens[10];
    const stopped = await generate(ort, session, config, bos, { maxNewTokens: 20, stopTokenIds: [stopId] });
    expect(stopped).toEqual({ stopReason: 'eos', tokens: full.tokens.slice(0, full.tokens.indexOf(stopId)) });

    const controller = new AbortController();
    const aborted = await generate(ort, session, config, bos, {
      maxNewTokens: 60,
      signal: controller.signal,
      onToken: (_, index) => index === 4 && controller.abort(),
    });
    expect(aborted).toMatchObject({ stopReason: 'aborted', tokens: { length: 5 } });
  });

  it.each(['Once upon a time, Lily.', 'Grüße, 你好 — naïve café 😀!', '  two  spaces\nand a newline'])(
    'round-trips %j through encode, decode and the stream decoder',
    (text) => {
      const ids = tokenizer.encode(text);
      expect(tokenizer.decode(ids)).toBe(text);
      const stream = tokenizer.createStreamDecoder();
      const pieces = ids.map((id) => stream.push(id));
      expect(pieces.join('') + stream.flush()).toBe(text);
      expect(pieces.some((piece) => piece.includes('\uFFFD'))).toBe(false);
    },
  );

  it('keeps the leading space of the first token after a prompt', () => {
    const ids = tokenizer.encode('Tom had a dog', { addBos: true });
    const stream = tokenizer.createStreamDecoder(ids.slice(0, 3));
    const continuation = ids.slice(3).map((id) => stream.push(id)).join('') + stream.flush();
    expect(tokenizer.decode(ids.slice(0, 3)) + continuation).toBe('Tom had a dog');
    expect(continuation).toMatch(/^ /);
  });
});
