/**
 * llama.cpp's name for a byte-level BPE tokenizer's pre-tokenizer (tokenizer.ggml.pre). llama.cpp's
 * converter recognises it by hashing a test tokenization, which needs Python's tokenizers; here it is
 * read from tokenizer.json's pre_tokenizer structure instead, matched against the steps each name
 * stands for in llama.cpp's llama-vocab.cpp (its regexes, whether it cleans spaces when decoding,
 * whether it ignores merges). An unknown structure is an error naming what was found, never a guess.
 * Platform neutral.
 */
import { GgufExportError } from './llama-gguf';

/** The Split regexes of known tokenizer.json files, as they are written there. */
const SPLIT = {
  llama3: "(?i:'s|'t|'re|'ve|'m|'ll|'d)|[^\\r\\n\\p{L}\\p{N}]?\\p{L}+|\\p{N}{1,3}| ?[^\\s\\p{L}\\p{N}]+[\\r\\n]*|\\s*[\\r\\n]+|\\s+(?!\\S)|\\s+",
  qwen2: "(?i:'s|'t|'re|'ve|'m|'ll|'d)|[^\\r\\n\\p{L}\\p{N}]?\\p{L}+|\\p{N}| ?[^\\s\\p{L}\\p{N}]+[\\r\\n]*|\\s*[\\r\\n]+|\\s+(?!\\S)|\\s+",
  qwen35: "(?i:'s|'t|'re|'ve|'m|'ll|'d)|[^\\r\\n\\p{L}\\p{N}]?[\\p{L}\\p{M}]+|\\p{N}| ?[^\\s\\p{L}\\p{M}\\p{N}]+[\\r\\n]*|\\s*[\\r\\n]+|\\s+(?!\\S)|\\s+",
};

/** ByteLevel with use_regex: GPT-2's word split; without: bytes only (a Split before it cuts the words). */
const GPT2_WORDS = 'ByteLevel(regex)';
const BYTES = 'ByteLevel';

interface KnownPre {
  name: string;
  steps: string[];
  /** llama.cpp's clean_spaces for the name: tokenizer_config.json's clean_up_tokenization_spaces. */
  cleanSpaces: boolean;
  /** llama.cpp's ignore_merges for the name: the BPE model's ignore_merges. */
  ignoreMerges: boolean;
}

/** Names llama.cpp knows, with the tokenizer.json they describe (first match wins). */
const KNOWN: KnownPre[] = [
  { name: 'gpt-2', steps: [GPT2_WORDS], cleanSpaces: true, ignoreMerges: false },
  { name: 'smollm', steps: ['Digits(individual)', GPT2_WORDS], cleanSpaces: false, ignoreMerges: false },
  { name: 'starcoder', steps: ['Digits(individual)', GPT2_WORDS], cleanSpaces: true, ignoreMerges: false },
  { name: 'qwen2', steps: [`Split(${SPLIT.qwen2})`, BYTES], cleanSpaces: false, ignoreMerges: false },
  { name: 'stablelm2', steps: [`Split(${SPLIT.qwen2})`, BYTES], cleanSpaces: true, ignoreMerges: false },
  { name: 'qwen35', steps: [`Split(${SPLIT.qwen35})`, BYTES], cleanSpaces: false, ignoreMerges: false },
  { name: 'llama-bpe', steps: [`Split(${SPLIT.llama3})`, BYTES], cleanSpaces: true, ignoreMerges: true },
];

type Json = Record<string, unknown> | null | undefined;

/** The pre-tokenizer as a list of steps in words; undefined parts are reported as they are. */
function stepsOf(node: Json): string[] {
  if (!node) return [];
  switch (node.type) {
    case 'Sequence':
      return ((node.pretokenizers as Json[] | undefined) ?? []).flatMap(stepsOf);
    case 'ByteLevel':
      if (node.add_prefix_space === true) return ['ByteLevel(add_prefix_space)'];
      return [node.use_regex === false ? BYTES : GPT2_WORDS];
    case 'Digits':
      return [node.individual_digits ? 'Digits(individual)' : 'Digits'];
    case 'Split': {
      const pattern = node.pattern as { Regex?: string; String?: string } | undefined;
      const isolated = node.behavior === 'Isolated' && node.invert !== true;
      return [pattern?.Regex !== undefined && isolated ? `Split(${pattern.Regex})` : `Split${JSON.stringify({ pattern, behavior: node.behavior, invert: node.invert })}`];
    }
    default:
      return [JSON.stringify(node)];
  }
}

export interface BpeTokenizerJson {
  normalizer?: Json;
  pre_tokenizer?: Json;
  model?: { ignore_merges?: boolean };
}

/**
 * tokenizer.ggml.pre for a byte-level BPE tokenizer.json: `override` when given (a name llama.cpp
 * knows; it is the user's word), else the known name whose steps, space cleaning and merge handling
 * all match. llama.cpp does not normalize, so only NFC (which real text already is) or no normalizer passes.
 */
export function llamaCppPreTokenizer(tokenizer: BpeTokenizerJson, tokenizerConfig: Record<string, unknown>, override?: string): string {
  if (override) return override;
  const how = 'Pass the name llama.cpp uses for this tokenizer (see tokenizer.ggml.pre in a GGUF of the original model, or llama-vocab.cpp) with --gguf-pre NAME.';
  const normalizer = tokenizer.normalizer;
  if (normalizer && normalizer.type !== 'NFC') {
    throw new GgufExportError(`This tokenizer.json normalizes text (${JSON.stringify(normalizer)}), which llama.cpp's byte-level BPE does not do. ${how}`);
  }
  const steps = stepsOf(tokenizer.pre_tokenizer);
  const cleanSpaces = tokenizerConfig.clean_up_tokenization_spaces !== false;
  const ignoreMerges = tokenizer.model?.ignore_merges === true;
  const same = (a: string[]) => a.length === steps.length && a.every((s, i) => s === steps[i]);
  const found = KNOWN.find((k) => same(k.steps) && k.cleanSpaces === cleanSpaces && k.ignoreMerges === ignoreMerges);
  if (found) return found.name;
  const near = KNOWN.filter((k) => same(k.steps)).map((k) => `${k.name} (clean_up_tokenization_spaces ${k.cleanSpaces}, ignore_merges ${k.ignoreMerges})`);
  throw new GgufExportError(
    `llama.cpp needs this byte-level tokenizer's pre-tokenizer by name, and this one is not known: pre_tokenizer ${steps.length ? steps.join(' → ') : 'none'}, ` +
      `clean_up_tokenization_spaces ${cleanSpaces}, ignore_merges ${ignoreMerges}` +
      (near.length ? `; the same steps are known as ${near.join(', ')}` : '') +
      `. ${how}`,
  );
}
