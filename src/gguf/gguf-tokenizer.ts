/**
 * GGUF tokenizer metadata (tokenizer.ggml.*) for an ONNX model folder's tokenizer.json, in the two
 * vocabulary kinds llama.cpp reads:
 * - SentencePiece-style BPE with byte fallback (Llama-2 / TinyLlama, and what the GGUF importer writes,
 *   tokenizer-json.ts) as llama.cpp's 'llama' (SPM) vocabulary. llama.cpp merges the adjacent pair whose
 *   result scores highest; giving each merge result the score -(rank of its first merge) reproduces the
 *   BPE merge order.
 * - Byte-level BPE (GPT-2 style: SmolLM2, Qwen2.5, Llama-3) as llama.cpp's 'gpt2' vocabulary: the
 *   byte-level strings as tokens, the merges as "a b" strings, and the pre-tokenizer by the name
 *   llama.cpp knows it by (gguf-bpe-pre.ts).
 * Token types, special ids and add_bos/add_eos follow llama.cpp's convert_hf_to_gguf.py (SpecialVocab):
 * tokenizer_config.json's tokens first, then config.json's ids; add_bos/add_eos as tokenizer_config.json
 * says, else as the post-processor adds them. Platform neutral.
 */
import { GGUFValueType } from '@huggingface/gguf';
import type { GGUFTypedMetadata } from '@huggingface/gguf';
import type { ModelConfig } from '../model/config';
import { llamaCppPreTokenizer, type BpeTokenizerJson } from './gguf-bpe-pre';
import { GgufExportError } from './llama-gguf';

/** llama.cpp's llama_token_type. */
const TokenType = { NORMAL: 1, UNKNOWN: 2, CONTROL: 3, USER_DEFINED: 4, UNUSED: 5, BYTE: 6 } as const;

interface TokenizerJsonLike extends BpeTokenizerJson {
  added_tokens?: { id: number; content: string; special?: boolean }[];
  decoder?: Record<string, unknown> | null;
  post_processor?: Record<string, unknown> | null;
  model?: BpeTokenizerJson['model'] & { type?: string; byte_fallback?: boolean; unk_token?: string | null; vocab?: Record<string, number>; merges?: (string | [string, string])[] };
}

export interface GgufTokenizerOptions {
  /** tokenizer.ggml.pre for a byte-level vocabulary, instead of the one read from tokenizer.json. */
  pre?: string;
}

type TokenText = string | { content?: string } | null | undefined;
const textOf = (t: TokenText) => (typeof t === 'string' ? t : (t?.content ?? undefined));

/** True when the JSON (normalizer or pre-tokenizer) prepends '▁' to the text, as SentencePiece's add_dummy_prefix does. */
function prependsSpace(node: unknown): boolean {
  if (!node || typeof node !== 'object') return false;
  const n = node as Record<string, unknown>;
  if (n.type === 'Prepend' && n.prepend === '▁') return true;
  if (n.type === 'Metaspace') return n.prepend_scheme !== 'never' && n.add_prefix_space !== false;
  return [n.normalizers, n.pretokenizers].some((list) => Array.isArray(list) && list.some(prependsSpace));
}

/** Whether a step of the tokenizer (a pre-tokenizer or decoder, possibly a Sequence) is ByteLevel. */
function hasByteLevel(node: unknown): boolean {
  if (!node || typeof node !== 'object') return false;
  const n = node as Record<string, unknown>;
  return n.type === 'ByteLevel' || [n.pretokenizers, n.decoders].some((list) => Array.isArray(list) && list.some(hasByteLevel));
}

/** As convert_hf_to_gguf.py's does_token_look_special: added tokens some models forget to mark special. */
const looksSpecial = (t: string) => ['<pad>', '<mask>'].includes(t) || (t.startsWith('<|') && t.endsWith('|>')) || (t.startsWith('<｜') && t.endsWith('｜>'));

/** Whether the post-processor's single-sequence template starts (`first`) or ends with `token`. */
function templateAdds(processor: unknown, token: string | undefined, first: boolean): boolean | undefined {
  const p = processor as { type?: string; processors?: unknown[]; single?: { SpecialToken?: { id?: string } }[] } | null | undefined;
  if (!p || token === undefined) return undefined;
  if (p.type === 'Sequence') return p.processors?.map((q) => templateAdds(q, token, first)).find((v) => v !== undefined);
  if (p.type !== 'TemplateProcessing' || !p.single || p.single.length < 2) return undefined;
  return (first ? p.single[0] : p.single.at(-1))?.SpecialToken?.id === token;
}

export function ggufTokenizerMetadata(
  tokenizer: TokenizerJsonLike,
  tokenizerConfig: Record<string, unknown>,
  config: ModelConfig,
  vocabSize: number,
  options: GgufTokenizerOptions = {},
): GGUFTypedMetadata {
  const model = tokenizer.model;
  const byteLevel = model?.type === 'BPE' && !model.byte_fallback && !!model.vocab && (hasByteLevel(tokenizer.pre_tokenizer) || hasByteLevel(tokenizer.decoder));
  if (model?.type !== 'BPE' || !model.vocab || (!model.byte_fallback && !byteLevel)) {
    throw new GgufExportError(
      `GGUF export supports BPE tokenizers with byte fallback (SentencePiece style, as Llama-2 ships) or byte-level BPE (GPT-2 style, as SmolLM2 and Qwen ship); this tokenizer.json has model type ${JSON.stringify(model?.type)}${model?.type === 'BPE' ? ' without byte_fallback and without a ByteLevel pre-tokenizer' : ''}`,
    );
  }
  const tokens: string[] = new Array(vocabSize);
  const types: number[] = new Array(vocabSize).fill(TokenType.NORMAL);
  for (const [piece, id] of Object.entries(model.vocab)) if (id < vocabSize) tokens[id] = piece;
  for (const t of tokenizer.added_tokens ?? []) {
    if (t.id >= vocabSize) continue;
    tokens[t.id] = t.content;
    types[t.id] = t.content === model.unk_token && !byteLevel ? TokenType.UNKNOWN : t.special !== false || looksSpecial(t.content) ? TokenType.CONTROL : TokenType.USER_DEFINED;
  }
  for (let id = 0; id < vocabSize; id++) {
    if (tokens[id] === undefined) {
      tokens[id] = byteLevel ? `[PAD${id}]` : `<unused${id}>`;
      types[id] = TokenType.UNUSED;
    } else if (!byteLevel && types[id] === TokenType.NORMAL && /^<0x[0-9A-F]{2}>$/.test(tokens[id]!)) types[id] = TokenType.BYTE;
  }

  const ids = new Map<string, number>();
  for (const t of tokenizer.added_tokens ?? []) if (t.id < vocabSize && !ids.has(t.content)) ids.set(t.content, t.id);
  tokens.forEach((t, id) => ids.has(t) || ids.set(t, id));
  const merges = (model.merges ?? []).map((m) => (typeof m === 'string' ? (m.split(' ') as [string, string]) : m));

  // tokenizer_config.json's token first, then config.json's id (SpecialVocab's order)
  const special = (text: TokenText, fromConfig: unknown, what: string): number | undefined => {
    const t = textOf(text);
    if (t !== undefined) {
      const id = ids.get(t);
      if (id === undefined) throw new GgufExportError(`The ${what} token "${t}" is not in the vocabulary`);
      return id;
    }
    return typeof fromConfig === 'number' ? fromConfig : undefined;
  };
  const eosFromConfig = Array.isArray(config.eos_token_id) ? config.eos_token_id[0] : config.eos_token_id;
  const bos = textOf(tokenizerConfig.bos_token as TokenText);
  const eos = textOf(tokenizerConfig.eos_token as TokenText);
  const specialIds: [string, number | undefined][] = [
    ['bos_token_id', special(bos, config.bos_token_id, 'BOS')],
    ['eos_token_id', special(eos, eosFromConfig, 'EOS')],
    ['unknown_token_id', special((tokenizerConfig.unk_token as TokenText) ?? model.unk_token, undefined, 'UNK')],
    ['padding_token_id', special(tokenizerConfig.pad_token as TokenText, config.pad_token_id, 'PAD')],
  ];
  const adds = (key: string, token: string | undefined, first: boolean, otherwise: boolean) =>
    typeof tokenizerConfig[key] === 'boolean' ? (tokenizerConfig[key] as boolean) : (templateAdds(tokenizer.post_processor, token, first) ?? otherwise);

  const md: Record<string, unknown> = {
    'tokenizer.ggml.model': { value: byteLevel ? 'gpt2' : 'llama', type: GGUFValueType.STRING },
    ...(byteLevel && { 'tokenizer.ggml.pre': { value: llamaCppPreTokenizer(tokenizer, tokenizerConfig, options.pre), type: GGUFValueType.STRING } }),
    'tokenizer.ggml.tokens': { value: tokens, type: GGUFValueType.ARRAY, subType: GGUFValueType.STRING },
    ...(!byteLevel && { 'tokenizer.ggml.scores': { value: mergeScores(merges, ids, vocabSize), type: GGUFValueType.ARRAY, subType: GGUFValueType.FLOAT32 } }),
    'tokenizer.ggml.token_type': { value: types, type: GGUFValueType.ARRAY, subType: GGUFValueType.INT32 },
    // byte-level tokens hold no spaces ('Ġ' stands for one); a space inside a part is written as 'Ġ' too, as the converter does
    ...(byteLevel && { 'tokenizer.ggml.merges': { value: merges.map((pair) => pair.map((s) => s.replaceAll(' ', '\u0120')).join(' ')), type: GGUFValueType.ARRAY, subType: GGUFValueType.STRING } }),
    ...Object.fromEntries(specialIds.filter(([, id]) => id !== undefined).map(([key, id]) => [`tokenizer.ggml.${key}`, { value: id, type: GGUFValueType.UINT32 }])),
    // SentencePiece adds BOS unless told otherwise; byte-level tokenizers add what their post-processor adds
    'tokenizer.ggml.add_bos_token': { value: adds('add_bos_token', bos, true, !byteLevel), type: GGUFValueType.BOOL },
    'tokenizer.ggml.add_eos_token': { value: adds('add_eos_token', eos, false, false), type: GGUFValueType.BOOL },
    ...(!byteLevel && {
      'tokenizer.ggml.add_space_prefix': { value: prependsSpace(tokenizer.normalizer) || prependsSpace(tokenizer.pre_tokenizer), type: GGUFValueType.BOOL },
    }),
  };
  if (typeof tokenizerConfig.chat_template === 'string') md['tokenizer.chat_template'] = { value: tokenizerConfig.chat_template, type: GGUFValueType.STRING };
  return md as GGUFTypedMetadata;
}

/** SentencePiece scores: each merge result scores -(rank of its first merge), so llama.cpp merges in BPE order. */
function mergeScores(merges: [string, string][], ids: Map<string, number>, vocabSize: number): number[] {
  const scores = new Array<number>(vocabSize).fill(0);
  const merged = new Set<number>();
  merges.forEach(([a, b], rank) => {
    const id = ids.get(a + b);
    if (id !== undefined && !merged.has(id)) {
      merged.add(id);
      scores[id] = -rank;
    }
  });
  return scores;
}
