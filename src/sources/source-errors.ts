/** Turns whatever went wrong while opening a source into a code and a message a writer can act on. */
import { GgufError } from '../import/gguf-file';
import { ModelFileMissingError } from '../model/bundle';
import { DownloadIncompleteError } from './download';
import { NotALanguageModelError } from './graph-checks';
import { SourceNotFoundError } from './listing';
import { MemoryLimitError, UnusableModelError } from './open-variant';
import type { SourceError } from './protocol';

export function describeSourceError(error: unknown): SourceError {
  const message = error instanceof Error ? error.message : String(error);
  if (error instanceof DOMException && error.name === 'AbortError') {
    return { code: 'cancelled', message: 'Cancelled. The bytes downloaded so far are kept: Load continues from there.' };
  }
  if (error instanceof DOMException && error.name === 'QuotaExceededError') {
    return { code: 'storage-full', message: "The browser's storage for this site is full: delete cached models below, or free disk space, then load again." };
  }
  if (error instanceof MemoryLimitError) return { code: 'too-big', message, verdict: error.verdict };
  if (error instanceof SourceNotFoundError) return { code: 'not-found', message };
  if (error instanceof ModelFileMissingError) return { code: 'missing-file', message };
  if (error instanceof DownloadIncompleteError) return { code: 'incomplete', message };
  if (error instanceof UnusableModelError || error instanceof NotALanguageModelError || error instanceof GgufError) return { code: 'unusable', message };
  if (/Not a valid ONNX model/.test(message)) return { code: 'unusable', message };
  return { code: 'failed', message };
}
