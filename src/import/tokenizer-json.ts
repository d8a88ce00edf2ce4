/**
 * Hugging Face tokenizer.json / tokenizer_config.json for a GGUF SentencePiece ('llama') vocabulary,
 * laid out like the files HF ships for Llama-2 / TinyLlama.
 */
import { GgufError } from './gguf-file';
import type { GgufModel } from './gguf-file';

/** llama.cpp's llama_token_type values stored in tokenizer.ggml.token_type. */
const TokenType = { NORMAL: 1, UNKNOWN: 2, CONTROL: 3, USER_DEFINED: 4, UNUSED: 5, BYTE: 6 } as const;

interface AddedTokenJson {
  id: number;
  content: string;
  single_word: boolean;
  lstrip: boolean;
  rstrip: boolean;
  normalized: boolean;
  special: boolean;
}

type TemplateItem =
  | { SpecialToken: { id: string; type_id: number } }
  | { Sequence: { id: 'A' | 'B'; type_id: number } };

export interface TokenizerJson {
  version: '1.0';
  truncation: null;
  padding: null;
  added_tokens: AddedTokenJson[];
  normalizer: object;
  pre_tokenizer: null;
  post_processor: {
    type: 'TemplateProcessing';
    single: TemplateItem[];
    pair: TemplateItem[];
    special_tokens: Record<string, { id: string; ids: number[]; tokens: string[] }>;
  };
  decoder: object;
  model: {
    type: 'BPE';
    dropout: null;
    unk_token: string;
    continuing_subword_prefix: null;
    end_of_word_suffix: null;
    fuse_unk: true;
    byte_fallback: true;
    ignore_merges: false;
    vocab: Record<string, number>;
    merges: [string, string][];
  };
}

export interface TokenizerConfigJson {
  add_bos_token: boolean;
  add_eos_token: boolean;
  added_tokens_decoder: Record<string, Omit<AddedTokenJson, 'id'>>;
  bos_token: string;
  eos_token: string;
  unk_token: string;
  pad_token: string | null;
  clean_up_tokenization_spaces: false;
  legacy: false;
  model_max_length: number;
  tokenizer_class: 'LlamaTokenizer';
  chat_template?: string;
}

export interface TokenizerFiles {
  tokenizerJson: TokenizerJson;
  tokenizerConfig: TokenizerConfigJson;
}

export function buildTokenizerFiles(model: GgufModel): TokenizerFiles {
  const md = model.metadata;
  const cfg = model.config;
  if (md['tokenizer.ggml.model'] !== 'llama') {
    throw new GgufError(
      `unsupported tokenizer: tokenizer.ggml.model is ${JSON.stringify(md['tokenizer.ggml.model'])} (only SentencePiece 'llama' vocabularies are supported)`,
    );
  }
  const list = <T>(key: string, isItem: (v: unknown) => v is T): T[] => {
    const v = md[key];
    if (!Array.isArray(v) || v.length !== cfg.vocabSize || !v.every(isItem)) {
      throw new GgufError(`tokenizer metadata ${key} is missing or does not have ${cfg.vocabSize} entries`);
    }
    return v as T[];
  };
  const tokens = list('tokenizer.ggml.tokens', (v): v is string => typeof v === 'string');
  const scores = list('tokenizer.ggml.scores', (v): v is number => typeof v === 'number');
  const types = list('tokenizer.ggml.token_type', (v): v is number => typeof v === 'number');
  const tokenAt = (id: number, what: string): string => {
    if (!(id >= 0 && id < tokens.length)) throw new GgufError(`tokenizer ${what} token id ${id} is not in the vocabulary`);
    return tokens[id];
  };
  const bos = tokenAt(cfg.bosTokenId, 'BOS');
  const eos = tokenAt(cfg.eosTokenId, 'EOS');
  const unk = tokenAt(cfg.unkTokenId, 'UNK');
  const padId = md['tokenizer.ggml.padding_token_id'];
  const pad = typeof padId === 'number' && padId < tokens.length ? tokens[padId] : null;
  const addBos = md['tokenizer.ggml.add_bos_token'] !== false;
  const addEos = md['tokenizer.ggml.add_eos_token'] === true;

  // A duplicated piece keeps its first id, as SentencePiece's piece lookup does.
  const ids = new Map<string, number>();
  tokens.forEach((piece, id) => ids.has(piece) || ids.set(piece, id));

  // Control/unknown pieces are special; user-defined pieces match verbatim like SentencePiece's.
  const added_tokens: AddedTokenJson[] = [];
  types.forEach((type, id) => {
    if (type === TokenType.CONTROL || type === TokenType.UNKNOWN || type === TokenType.USER_DEFINED) {
      added_tokens.push({
        id,
        content: tokens[id],
        single_word: false,
        lstrip: false,
        rstrip: false,
        normalized: false,
        special: type !== TokenType.USER_DEFINED,
      });
    }
  });

  const template = (typeId: number, seq: 'A' | 'B'): TemplateItem[] => [
    ...(addBos ? [{ SpecialToken: { id: bos, type_id: typeId } }] : []),
    { Sequence: { id: seq, type_id: typeId } },
    ...(addEos ? [{ SpecialToken: { id: eos, type_id: typeId } }] : []),
  ];
  const special_tokens: TokenizerJson['post_processor']['special_tokens'] = {};
  if (addBos) special_tokens[bos] = { id: bos, ids: [cfg.bosTokenId], tokens: [bos] };
  if (addEos) special_tokens[eos] = { id: eos, ids: [cfg.eosTokenId], tokens: [eos] };

  const tokenizerJson: TokenizerJson = {
    version: '1.0',
    truncation: null,
    padding: null,
    added_tokens,
    normalizer: {
      type: 'Sequence',
      normalizers: [
        { type: 'Prepend', prepend: '▁' },
        { type: 'Replace', pattern: { String: ' ' }, content: '▁' },
      ],
    },
    pre_tokenizer: null,
    post_processor: {
      type: 'TemplateProcessing',
      single: template(0, 'A'),
      pair: [...template(0, 'A'), ...template(1, 'B')],
      special_tokens,
    },
    decoder: {
      type: 'Sequence',
      decoders: [
        { type: 'Replace', pattern: { String: '▁' }, content: ' ' },
        { type: 'ByteFallback' },
        { type: 'Fuse' },
        { type: 'Strip', content: ' ', start: 1, stop: 0 },
      ],
    },
    model: {
      type: 'BPE',
      dropout: null,
      unk_token: unk,
      continuing_subword_prefix: null,
      end_of_word_suffix: null,
      fuse_unk: true,
      byte_fallback: true,
      ignore_merges: false,
      // fromEntries keeps a piece like "__proto__" an ordinary key
      vocab: Object.fromEntries(ids),
      merges: spmMerges(tokens, scores, types, ids),
    },
  };

  const tokenizerConfig: TokenizerConfigJson = {
    add_bos_token: addBos,
    add_eos_token: addEos,
    added_tokens_decoder: Object.fromEntries(added_tokens.map(({ id, ...rest }) => [String(id), rest])),
    bos_token: bos,
    eos_token: eos,
    unk_token: unk,
    pad_token: pad,
    clean_up_tokenization_spaces: false,
    legacy: false,
    model_max_length: cfg.contextLength,
    tokenizer_class: 'LlamaTokenizer',
  };
  const chatTemplate = md['tokenizer.chat_template'];
  if (typeof chatTemplate === 'string') tokenizerConfig.chat_template = chatTemplate;
  return { tokenizerJson, tokenizerConfig };
}

/**
 * SentencePiece BPE as merges: every split of a normal piece into two normal pieces, ranked by the
 * merged piece's score (highest first). BPE then merges, at each step, the adjacent pair whose result
 * scores highest (leftmost on ties), which is exactly SentencePiece's / llama2.c's encode loop.
 */
function spmMerges(tokens: string[], scores: number[], types: number[], ids: Map<string, number>): [string, string][] {
  const isNormal = (id: number | undefined): id is number => id !== undefined && types[id] === TokenType.NORMAL;
  const merges: { left: string; right: string; id: number; leftId: number; rightId: number }[] = [];
  tokens.forEach((piece, id) => {
    if (!isNormal(id) || ids.get(piece) !== id) return;
    const chars = Array.from(piece); // split between code points, never inside a surrogate pair
    for (let i = 1; i < chars.length; i++) {
      const left = chars.slice(0, i).join('');
      const right = chars.slice(i).join('');
      const leftId = ids.get(left);
      const rightId = ids.get(right);
      if (isNormal(leftId) && isNormal(rightId)) merges.push({ left, right, id, leftId, rightId });
    }
  });
  merges.sort((a, b) => scores[b.id] - scores[a.id] || a.id - b.id || a.leftId - b.leftId || a.rightId - b.rightId);
  return merges.map((m) => [m.left, m.right]);
}
