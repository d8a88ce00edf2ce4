import { Tokenizer } from '@huggingface/tokenizers';

export interface EncodeOptions {
  /** Prepend the BOS token (a plain prompt needs it; a chat template usually writes it itself). */
  addBos?: boolean;
}

/** Turns a growing list of generated ids into the text to append, one push at a time. */
export interface StreamDecoder {
  /** Adds ids and returns the newly complete text (empty while a multi-byte character is still incomplete). */
  push(ids: number | readonly number[]): string;
  /** Returns whatever is still held back (an incomplete character at the very end decodes as U+FFFD). */
  flush(): string;
}

export interface TextTokenizer {
  readonly bosTokenId: number | undefined;
  /** tokenizer_config.json `add_bos_token`: whether a plain prompt should start with BOS. */
  readonly addsBos: boolean;
  encode(text: string, options?: EncodeOptions): number[];
  decode(ids: readonly number[], options?: { skipSpecialTokens?: boolean }): string;
  /** `contextIds` (usually the prompt) are decoded as context only, so the first new token keeps its leading space. */
  createStreamDecoder(contextIds?: readonly number[]): StreamDecoder;
}

type TokenSpec = string | { content: string } | null | undefined;

function tokenContent(spec: TokenSpec): string | undefined {
  return typeof spec === 'string' ? spec : (spec?.content ?? undefined);
}

/** Loads a tokenizer from the parsed `tokenizer.json` and `tokenizer_config.json`. */
export function loadTokenizer(tokenizerJson: object, tokenizerConfig: Record<string, unknown>): TextTokenizer {
  const tokenizer = new Tokenizer(tokenizerJson, tokenizerConfig);
  const bosToken = tokenContent(tokenizerConfig.bos_token as TokenSpec);
  const bosTokenId = bosToken === undefined ? undefined : tokenizer.token_to_id(bosToken);

  const decode = (ids: readonly number[], { skipSpecialTokens = true } = {}): string =>
    // The library throws on an empty list; an empty list is simply empty text.
    ids.length === 0 ? '' : tokenizer.decode([...ids], { skip_special_tokens: skipSpecialTokens });

  return {
    bosTokenId,
    addsBos: tokenizerConfig.add_bos_token === true,
    encode(text, { addBos = false } = {}) {
      // Special tokens are added here, not by the post-processor, so `addBos` means the same for every model.
      const ids = text === '' ? [] : tokenizer.encode(text, { add_special_tokens: false }).ids;
      if (!addBos) return ids;
      if (bosTokenId === undefined) throw new Error('This tokenizer has no BOS token (tokenizer_config.json bos_token).');
      return [bosTokenId, ...ids];
    },
    decode,
    createStreamDecoder: (contextIds = []) => createStreamDecoder(decode, contextIds),
  };
}

/**
 * Decodes a window that starts at a token already emitted, so decoders that strip the first token's leading
 * space (SentencePiece) treat both decodes alike, and holds text back while it ends in U+FFFD, i.e. while
 * byte-fallback tokens have not yet completed a UTF-8 character (the approach of HF's TextStreamer/TGI).
 */
function createStreamDecoder(decode: (ids: readonly number[]) => string, contextIds: readonly number[]): StreamDecoder {
  const ids = [...contextIds];
  let prefixOffset = 0;
  let readOffset = ids.length;

  const pending = () => {
    const prefixText = decode(ids.slice(prefixOffset, readOffset));
    const fullText = decode(ids.slice(prefixOffset));
    return fullText.length > prefixText.length ? fullText.slice(prefixText.length) : '';
  };

  return {
    push(next) {
      ids.push(...(typeof next === 'number' ? [next] : next));
      const text = pending();
      if (text === '' || text.endsWith('\uFFFD')) return '';
      prefixOffset = readOffset;
      readOffset = ids.length;
      return text;
    },
    flush() {
      const text = pending();
      prefixOffset = readOffset = ids.length;
      return text;
    },
  };
}
