import { beforeAll, describe, expect, test } from 'vitest';
import { GGUFValueType } from '@huggingface/gguf';
import { Tokenizer } from '@huggingface/tokenizers';
import { GgufError, readGguf } from './gguf-file';
import type { GgufModel } from './gguf-file';
import { referenceGreedy } from './llama-reference';
import { buildTokenizerFiles } from './tokenizer-json';
import type { TokenizerFiles } from './tokenizer-json';
import { loadBuiltin, rewriteGguf } from '../fixtures/builtin';

/**
 * llama2.c's encode() (run.c), independent of the HF files: dummy-prefix space, one piece per
 * code point with byte fallback at id byte+3, then repeatedly merge the adjacent pair whose
 * concatenation is in the vocabulary with the highest score (leftmost on ties).
 */
function llama2cEncode(text: string, tokens: string[], scores: number[], bos: number): number[] {
  const lookup = new Map<string, number>();
  tokens.forEach((t, i) => lookup.has(t) || lookup.set(t, i));
  const ids: number[] = [];
  if (text !== '') ids.push(lookup.get('▁')!);
  for (const ch of text) {
    const id = lookup.get(ch === ' ' ? '▁' : ch);
    if (id !== undefined) ids.push(id);
    else for (const byte of new TextEncoder().encode(ch)) ids.push(byte + 3);
  }
  for (;;) {
    let bestScore = -1e10;
    let bestId = -1;
    let bestIdx = -1;
    for (let i = 0; i + 1 < ids.length; i++) {
      const id = lookup.get(tokens[ids[i]] + tokens[ids[i + 1]]);
      if (id !== undefined && scores[id] > bestScore) {
        bestScore = scores[id];
        bestId = id;
        bestIdx = i;
      }
    }
    if (bestIdx === -1) break;
    ids.splice(bestIdx, 2, bestId);
  }
  return [bos, ...ids];
}

const TEXTS = [
  'Hello, world!',
  'Numbers: 0123456789, 3.14159 and 1,000,000 (42%) $5 + 7 * 2 = 19.',
  'Line one\nLine two\n\nTabs\tand\ttabs\r\nCRLF',
  '\nstarts with a newline',
  '\tstarts with a tab',
  'Emoji 🙂👍🏽 and the family 👨‍👩‍👧!',
  'Café naïve résumé Ærøskøbing ñandú Straße',
  '中文字符 and 日本語のテキスト and 한국어',
  '  two leading spaces',
  'trailing spaces   ',
  'multiple    spaces  inside',
  ' ',
  '   ',
  'x',
  'Quotes “curly” ‘single’ — dashes – and… ellipsis',
  'no\u00a0break and hair\u200aspace',
  'symbols <>&|~[]{}#@^`\\/',
  "It's a dog's life, isn't it? \"Yes!\" said Tim.",
];

const STORY_SENTENCES = [
  'Once upon a time, there was a little girl named Lily.',
  'She loved to play outside in the park.',
  'One day, she saw a big, red ball.',
  'Timmy and his mom went to the store to buy some food.',
  '"Can I play with you?" asked the little dog. The sun was shining and the birds were singing.',
  'The end.',
];

/** Deterministic strings over vocabulary characters, spaces and a few out-of-vocabulary ones. */
function randomTexts(count: number, seed: number): string[] {
  const alphabet = [...'abcdefghilmnoprstuwyTLOS .,!"\'eeetthhaa', '\u00a0', '\u200a', 'é', 'ß', '中', '🙂', '\n'];
  let x = seed;
  const next = () => {
    x ^= x << 13;
    x ^= x >>> 17;
    x ^= x << 5;
    return (x >>> 0) / 2 ** 32;
  };
  return Array.from({ length: count }, () =>
    Array.from({ length: 1 + Math.floor(next() * 40) }, () => alphabet[Math.floor(next() * alphabet.length)]).join(''),
  );
}

let model: GgufModel;
let files: TokenizerFiles;
let tokenizer: Tokenizer;
let encodeRef: (text: string) => number[];

beforeAll(async () => {
  model = await loadBuiltin();
  files = buildTokenizerFiles(model);
  // load what would be written to disk
  const { tokenizerJson, tokenizerConfig } = JSON.parse(JSON.stringify(files)) as TokenizerFiles;
  tokenizer = new Tokenizer(tokenizerJson, tokenizerConfig);
  const tokens = model.metadata['tokenizer.ggml.tokens'] as string[];
  const scores = model.metadata['tokenizer.ggml.scores'] as number[];
  encodeRef = (text) => llama2cEncode(text, tokens, scores, model.config.bosTokenId);
});

describe('tokenizer files', () => {
  test('HF Llama layout', () => {
    const { tokenizerJson: tj, tokenizerConfig: tc } = files;
    expect(Object.keys(tj.model.vocab)).toHaveLength(512);
    expect(tj.model.vocab['<0x41>']).toBe(3 + 0x41);
    expect(tj.model).toMatchObject({ type: 'BPE', byte_fallback: true, fuse_unk: true, unk_token: '<unk>' });
    expect(tj.model.merges[0]).toEqual(['▁', 't']); // '▁t' has the highest score
    expect(tj.added_tokens.map((t) => [t.id, t.content, t.special])).toEqual([
      [0, '<unk>', true],
      [1, '<s>', true],
      [2, '</s>', true],
    ]);
    expect(tj.post_processor.single).toEqual([
      { SpecialToken: { id: '<s>', type_id: 0 } },
      { Sequence: { id: 'A', type_id: 0 } },
    ]);
    expect(tc).toMatchObject({
      bos_token: '<s>',
      eos_token: '</s>',
      unk_token: '<unk>',
      pad_token: null,
      add_bos_token: true,
      add_eos_token: false,
      model_max_length: 2048,
      tokenizer_class: 'LlamaTokenizer',
      clean_up_tokenization_spaces: false,
    });
    expect(tc).not.toHaveProperty('chat_template');
  });

  test('encode → decode is the identity (byte fallback, whitespace, unicode)', () => {
    for (const text of [...TEXTS, ...STORY_SENTENCES]) {
      const { ids } = tokenizer.encode(text);
      expect(ids[0]).toBe(1);
      expect(tokenizer.decode(ids, { skip_special_tokens: true })).toBe(text);
    }
    // CJK and emoji really went through byte tokens
    expect(tokenizer.encode('中').ids).toEqual([1, 410, 3 + 0xe4, 3 + 0xb8, 3 + 0xad]);
  });

  test('token ids equal the llama2.c encoder', () => {
    const texts = ['', ...TEXTS, ...STORY_SENTENCES, STORY_SENTENCES.join(' '), ...randomTexts(300, 7)];
    for (const text of texts) expect([text, tokenizer.encode(text).ids]).toEqual([text, encodeRef(text)]);
  });

  test('token ids equal the llama2.c encoder on generated stories', () => {
    const story = tokenizer.decode(referenceGreedy(model, [1], 200), { skip_special_tokens: true });
    for (const text of [story, ...story.split(/(?<=[.!?])\s+/)]) {
      expect(tokenizer.encode(text).ids).toEqual(encodeRef(text));
    }
  });

  test('decoding the ids of the first story sentence gives it back', () => {
    const text = 'Once upon a time, there was a little girl named Lily.';
    const ids = encodeRef(text);
    expect(ids).toEqual([1, 403, 407, 261, 378, 432, 383, 286, 261, 376, 298, 315, 421, 395, 317, 426]);
    expect(tokenizer.decode(ids, { skip_special_tokens: true })).toBe(text);
    // as in HF Llama, a kept <s> stops Strip from removing the dummy-prefix space
    expect(tokenizer.decode(ids)).toBe(`<s> ${text}`);
  });

  test('a non-SentencePiece vocabulary is rejected', async () => {
    const gpt2Vocab = await readGguf(
      rewriteGguf(model, { metadata: { 'tokenizer.ggml.model': { value: 'gpt2', type: GGUFValueType.STRING } } }),
    );
    expect(() => buildTokenizerFiles(gpt2Vocab)).toThrow(GgufError);
    expect(() => buildTokenizerFiles(gpt2Vocab)).toThrow(/unsupported tokenizer: tokenizer.ggml.model is "gpt2"/);
  });
});
