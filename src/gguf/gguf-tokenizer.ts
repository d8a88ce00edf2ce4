/**
 * GGUF tokenizer metadata (tokenizer.ggml.*) for an ONNX model folder's tokenizer.json: the
 * SentencePiece-style BPE with byte fallback that Llama-2 / TinyLlama ship and the GGUF importer
 * writes (tokenizer-json.ts), as llama.cpp's 'llama' (SPM) vocabulary. llama.cpp merges the
 * adjacent pair whose result scores highest; giving each merge result the score -(rank of its first
 * merge) reproduces the BPE merge order. Byte-level (GPT-2 style) vocabularies are refused: llama.cpp
 * also needs their pre-tokenizer by name, which a tokenizer.json does not state. Platform neutral.
 */
import { GGUFValueType } from '@huggingface/gguf';
import type { GGUFTypedMetadata } from '@huggingface/gguf';
import type { ModelConfig } from '../model/config';
import { GgufExportError } from './llama-gguf';

/** llama.cpp's llama_token_type. */
const TokenType = { NORMAL: 1, UNKNOWN: 2, CONTROL: 3, USER_DEFINED: 4, UNUSED: 5, BYTE: 6 } as const;

interface TokenizerJsonLike {
  added_tokens?: { id: number; content: string; special?: boolean }[];
  normalizer?: unknown;
  pre_tokenizer?: unknown;
  model?: { type?: string; byte_fallback?: boolean; unk_token?: string | null; vocab?: Record<string, number>; merges?: (string | [string, string])[] };
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

export function ggufTokenizerMetadata(tokenizer: TokenizerJsonLike, tokenizerConfig: Record<string, unknown>, config: ModelConfig, vocabSize: number): GGUFTypedMetadata {
  const model = tokenizer.model;
  if (model?.type !== 'BPE' || !model.byte_fallback || !model.vocab) {
    throw new GgufExportError(
      `GGUF export supports SentencePiece-style tokenizers (BPE with byte_fallback, as Llama-2 ships); this tokenizer.json has model type ${JSON.stringify(model?.type)}${model?.type === 'BPE' ? ' without byte_fallback (byte-level BPE)' : ''}`,
    );
  }
  const tokens: string[] = new Array(vocabSize);
  const types: number[] = new Array(vocabSize).fill(TokenType.NORMAL);
  for (const [piece, id] of Object.entries(model.vocab)) if (id < vocabSize) tokens[id] = piece;
  for (const t of tokenizer.added_tokens ?? []) {
    if (t.id >= vocabSize) continue;
    tokens[t.id] = t.content;
    types[t.id] = t.content === model.unk_token ? TokenType.UNKNOWN : t.special === false ? TokenType.USER_DEFINED : TokenType.CONTROL;
  }
  for (let id = 0; id < vocabSize; id++) {
    if (tokens[id] === undefined) {
      tokens[id] = `<unused${id}>`;
      types[id] = TokenType.UNUSED;
    } else if (types[id] === TokenType.NORMAL && /^<0x[0-9A-F]{2}>$/.test(tokens[id]!)) types[id] = TokenType.BYTE;
  }

  const scores = new Array<number>(vocabSize).fill(0);
  const ids = new Map<string, number>();
  tokens.forEach((t, id) => ids.has(t) || ids.set(t, id));
  const merged = new Set<number>();
  (model.merges ?? []).forEach((m, rank) => {
    const [a, b] = typeof m === 'string' ? (m.split(' ') as [string, string]) : m;
    const id = ids.get(a + b);
    if (id !== undefined && !merged.has(id)) {
      merged.add(id);
      scores[id] = -rank;
    }
  });

  const idOf = (fromConfig: unknown, text: TokenText, what: string): number | undefined => {
    if (typeof fromConfig === 'number') return fromConfig;
    const t = textOf(text);
    if (t === undefined) return undefined;
    const id = ids.get(t);
    if (id === undefined) throw new GgufExportError(`The ${what} token "${t}" is not in the vocabulary`);
    return id;
  };
  const eosFromConfig = Array.isArray(config.eos_token_id) ? config.eos_token_id[0] : config.eos_token_id;
  const special: [string, number | undefined][] = [
    ['bos_token_id', idOf(config.bos_token_id, tokenizerConfig.bos_token as TokenText, 'BOS')],
    ['eos_token_id', idOf(eosFromConfig, tokenizerConfig.eos_token as TokenText, 'EOS')],
    ['unknown_token_id', idOf(undefined, model.unk_token, 'UNK')],
    ['padding_token_id', idOf(undefined, tokenizerConfig.pad_token as TokenText, 'PAD')],
  ];

  const md: Record<string, unknown> = {
    'tokenizer.ggml.model': { value: 'llama', type: GGUFValueType.STRING },
    'tokenizer.ggml.tokens': { value: tokens, type: GGUFValueType.ARRAY, subType: GGUFValueType.STRING },
    'tokenizer.ggml.scores': { value: scores, type: GGUFValueType.ARRAY, subType: GGUFValueType.FLOAT32 },
    'tokenizer.ggml.token_type': { value: types, type: GGUFValueType.ARRAY, subType: GGUFValueType.INT32 },
    ...Object.fromEntries(special.filter(([, id]) => id !== undefined).map(([key, id]) => [`tokenizer.ggml.${key}`, { value: id, type: GGUFValueType.UINT32 }])),
    'tokenizer.ggml.add_bos_token': { value: tokenizerConfig.add_bos_token !== false, type: GGUFValueType.BOOL },
    'tokenizer.ggml.add_eos_token': { value: tokenizerConfig.add_eos_token === true, type: GGUFValueType.BOOL },
    'tokenizer.ggml.add_space_prefix': { value: prependsSpace(tokenizer.normalizer) || prependsSpace(tokenizer.pre_tokenizer), type: GGUFValueType.BOOL },
  };
  if (typeof tokenizerConfig.chat_template === 'string') md['tokenizer.chat_template'] = { value: tokenizerConfig.chat_template, type: GGUFValueType.STRING };
  return md as GGUFTypedMetadata;
}
