import { beforeAll, describe, expect, test } from 'vitest';
import { GGMLQuantizationType, GGUFValueType } from '@huggingface/gguf';
import { Tokenizer } from '@huggingface/tokenizers';
import { readGguf } from './gguf-file';
import type { GgufModel } from './gguf-file';
import { encodeF16, encodeF32 } from '../onnx/float16';
import { argmax } from '../model/sampling';
import { ReferenceDecoder, referenceGreedy, referenceLogits } from './llama-reference';
import { buildTokenizerFiles } from './tokenizer-json';
import { loadBuiltin, rewriteGguf } from '../fixtures/builtin';

let model: GgufModel;
let tokenizer: Tokenizer;

beforeAll(async () => {
  model = await loadBuiltin();
  const { tokenizerJson, tokenizerConfig } = buildTokenizerFiles(model);
  tokenizer = new Tokenizer(tokenizerJson, tokenizerConfig);
});

function maxAbsDiff(a: Float32Array[], b: Float32Array[]): number {
  expect(a.length).toBe(b.length);
  let worst = 0;
  a.forEach((row, t) => row.forEach((v, i) => (worst = Math.max(worst, Math.abs(v - b[t][i])))));
  return worst;
}

/** Every other channel of layers 0 and 3 masked, other layers dense. */
function sampleMask(): (Uint8Array | null)[] {
  const mask = (offset: number) => Uint8Array.from({ length: 172 }, (_, c) => (c + offset) % 2);
  return [mask(0), null, null, mask(1), null];
}

const prompt = () => tokenizer.encode('Once upon a time, there was a little girl named Lily. She loved').ids;

test('greedy generation from BOS tells the known story', () => {
  const ids = referenceGreedy(model, [model.config.bosTokenId], 100);
  expect(ids).toHaveLength(100);
  expect(tokenizer.decode(ids.slice(0, 60), { skip_special_tokens: true })).toMatch(
    /^Once upon a time, there was a little girl named Lily\. She loved to play outside in the park\./,
  );
  expect(tokenizer.decode(ids, { skip_special_tokens: true })).toMatch(
    /^Once upon a time, there was a little girl named Lily\. She loved to play outside in the park\. One day, she saw a big, red ball\. She wanted to play with it, but it was too high\./,
  );
});

describe('full-sequence and cached incremental passes agree', () => {
  for (const [label, ffnMask] of [
    ['dense', undefined],
    ['masked', sampleMask()],
  ] as const) {
    test(label, () => {
      const tokens = prompt();
      const full = referenceLogits(model, tokens, { ffnMask });
      const decoder = new ReferenceDecoder(model, { ffnMask });
      const incremental = tokens.map((tok) => decoder.step(tok));
      expect(decoder.position).toBe(tokens.length);
      expect(maxAbsDiff(full, incremental)).toBeLessThanOrEqual(1e-5);
      // and greedy continues the prompt the way the full pass predicts
      expect(referenceGreedy(model, tokens, 1, { ffnMask })).toEqual([argmax(full[full.length - 1])]);
    });
  }
});

describe('FFN channel mask', () => {
  test('an all-ones or all-null mask is the dense model', () => {
    const tokens = prompt();
    const dense = referenceLogits(model, tokens);
    expect(referenceLogits(model, tokens, { ffnMask: [null, null, null, null, null] })).toEqual(dense);
    expect(referenceLogits(model, tokens, { ffnMask: [new Uint8Array(172).fill(1)] })).toEqual(dense);
    expect(maxAbsDiff(referenceLogits(model, tokens, { ffnMask: sampleMask() }), dense)).toBeGreaterThan(0.1);
  });

  test('masked dense model equals a GGUF with those channels removed (per-layer FFN widths)', async () => {
    const mask = sampleMask();
    const kept = (l: number) => Array.from({ length: 172 }, (_, c) => c).filter((c) => !mask[l] || mask[l]![c] === 1);
    const pruned = await readGguf(
      rewriteGguf(model, {
        metadata: {
          'llama.feed_forward_length': {
            value: mask.map((_, l) => kept(l).length),
            type: GGUFValueType.ARRAY,
            subType: GGUFValueType.UINT32,
          },
        },
        encode: (name, values, shape) => {
          const m = /^blk\.(\d+)\.ffn_(gate|up|down)\.weight$/.exec(name);
          if (!m || !mask[Number(m[1])]) return { type: GGMLQuantizationType.F32, data: encodeF32(values) };
          const channels = kept(Number(m[1]));
          const out: number[] = [];
          if (m[2] === 'down') {
            // [ffn, dim]: dim rows of ffn values, keep the columns
            for (let row = 0; row < shape[1]; row++) for (const c of channels) out.push(values[row * shape[0] + c]);
            return { type: GGMLQuantizationType.F32, data: encodeF32(Float32Array.from(out)), shape: [channels.length, shape[1]] };
          }
          // [dim, ffn]: one row of dim values per channel, keep the rows
          for (const c of channels) out.push(...values.subarray(c * shape[0], (c + 1) * shape[0]));
          return { type: GGMLQuantizationType.F32, data: encodeF32(Float32Array.from(out)), shape: [shape[0], channels.length] };
        },
      }),
    );
    expect(pruned.config.ffnDims).toEqual([86, 172, 172, 86, 172]);
    expect(pruned.config.ffnDim).toBe(172);
    const tokens = prompt();
    expect(maxAbsDiff(referenceLogits(pruned, tokens), referenceLogits(model, tokens, { ffnMask: mask }))).toBeLessThanOrEqual(1e-5);
  });

  test('mask shapes are checked', () => {
    expect(() => referenceLogits(model, [1], { ffnMask: [new Uint8Array(10)] })).toThrow(/ffnMask\[0\] has 10 entries/);
    expect(() => new ReferenceDecoder(model, { ffnMask: new Array(6).fill(null) })).toThrow(/6 entries for 5 layers/);
  });
});

test('tied output (no output.weight) uses token_embd, identical here', async () => {
  const tied = await readGguf(rewriteGguf(model, { drop: ['output.weight'] }));
  const tokens = prompt();
  expect(referenceLogits(tied, tokens)).toEqual(referenceLogits(model, tokens));
});

test('an F16 copy gives nearly the same logits and the same story', async () => {
  const f16 = await readGguf(
    rewriteGguf(model, { encode: (_, v) => ({ type: GGMLQuantizationType.F16, data: encodeF16(v) }) }),
  );
  const tokens = prompt();
  expect(maxAbsDiff(referenceLogits(f16, tokens), referenceLogits(model, tokens))).toBeLessThan(0.05); // measured 0.017 on logits spanning about ±15
  const story = tokenizer.decode(referenceGreedy(f16, [1], 40), { skip_special_tokens: true });
  expect(story).toMatch(/^Once upon a time, there was a little girl named Lily\./);
});

test('out-of-vocabulary tokens are rejected', () => {
  expect(() => referenceLogits(model, [1, 512])).toThrow(RangeError);
  expect(() => new ReferenceDecoder(model).step(-1)).toThrow(RangeError);
  expect(() => referenceGreedy(model, [], 5)).toThrow(RangeError);
});
