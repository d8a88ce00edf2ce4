import { describe, expect, it } from 'vitest';
import { buildByteLevelTokenizer, QWEN2_REGEX } from '../fixtures/byte-level-bpe';
import { llamaCppPreTokenizer } from './gguf-bpe-pre';

const byteLevel = (useRegex: boolean) => ({ type: 'ByteLevel', add_prefix_space: false, trim_offsets: true, use_regex: useRegex });
const split = (regex: string) => ({ type: 'Split', pattern: { Regex: regex }, behavior: 'Isolated', invert: false });
const LLAMA3 = "(?i:'s|'t|'re|'ve|'m|'ll|'d)|[^\\r\\n\\p{L}\\p{N}]?\\p{L}+|\\p{N}{1,3}| ?[^\\s\\p{L}\\p{N}]+[\\r\\n]*|\\s*[\\r\\n]+|\\s+(?!\\S)|\\s+";
const QWEN35 = "(?i:'s|'t|'re|'ve|'m|'ll|'d)|[^\\r\\n\\p{L}\\p{N}]?[\\p{L}\\p{M}]+|\\p{N}| ?[^\\s\\p{L}\\p{M}\\p{N}]+[\\r\\n]*|\\s*[\\r\\n]+|\\s+(?!\\S)|\\s+";

describe('llama.cpp pre-tokenizer names from tokenizer.json', () => {
  it('names the fixture layouts as llama.cpp does for SmolLM2 and Qwen2.5', () => {
    const smol = buildByteLevelTokenizer('smollm2', 8);
    const qwen = buildByteLevelTokenizer('qwen2.5', 8);
    expect(llamaCppPreTokenizer(smol.tokenizerJson, smol.tokenizerConfig)).toBe('smollm');
    expect(llamaCppPreTokenizer(qwen.tokenizerJson, qwen.tokenizerConfig)).toBe('qwen2');
  });

  it('tells apart names whose split is the same by space cleaning and merge handling', () => {
    const seq = (...pretokenizers: object[]) => ({ pre_tokenizer: { type: 'Sequence', pretokenizers } });
    expect(llamaCppPreTokenizer({ pre_tokenizer: byteLevel(true) }, {})).toBe('gpt-2');
    expect(llamaCppPreTokenizer(seq({ type: 'Digits', individual_digits: true }, byteLevel(true)), {})).toBe('starcoder');
    expect(llamaCppPreTokenizer(seq(split(QWEN2_REGEX), byteLevel(false)), { clean_up_tokenization_spaces: true })).toBe('stablelm2');
    expect(llamaCppPreTokenizer(seq(split(QWEN35), byteLevel(false)), { clean_up_tokenization_spaces: false })).toBe('qwen35');
    expect(llamaCppPreTokenizer({ ...seq(split(LLAMA3), byteLevel(false)), model: { ignore_merges: true } }, { clean_up_tokenization_spaces: true })).toBe('llama-bpe');
  });

  it('refuses an unknown structure with what it found and how to go on, unless a name is given', () => {
    const odd = { pre_tokenizer: { type: 'Sequence', pretokenizers: [split('\\p{N}{1,5}'), byteLevel(false)] } };
    expect(() => llamaCppPreTokenizer(odd, {})).toThrow(/not known: pre_tokenizer Split\(\\p\{N\}\{1,5\}\) → ByteLevel, clean_up_tokenization_spaces true, ignore_merges false\. .*--gguf-pre NAME/);
    expect(llamaCppPreTokenizer(odd, {}, 'qwen2')).toBe('qwen2');
    // same steps, other settings: the message lists the near names
    const llama3NoIgnore = { pre_tokenizer: { type: 'Sequence', pretokenizers: [split(LLAMA3), byteLevel(false)] } };
    expect(() => llamaCppPreTokenizer(llama3NoIgnore, {})).toThrow(/the same steps are known as llama-bpe \(clean_up_tokenization_spaces true, ignore_merges true\)/);
    expect(() => llamaCppPreTokenizer({ normalizer: { type: 'Lowercase' }, pre_tokenizer: byteLevel(true) }, {})).toThrow(/normalizes text .*Lowercase/);
  });
});
