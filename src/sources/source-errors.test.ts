import { describe, expect, it } from 'vitest';
import { ModelFileMissingError } from '../model/bundle';
import { BROWSER_LIMITS, memoryVerdict } from '../model/memory-estimate';
import { DownloadIncompleteError } from './download';
import { MemoryLimitError } from './open-variant';
import { describeSourceError } from './source-errors';

describe('describeSourceError', () => {
  it('gives each failure its code, and the verdict with a refusal', () => {
    expect(describeSourceError(new DOMException('x', 'AbortError'))).toEqual({
      code: 'cancelled',
      message: 'Cancelled. The bytes downloaded so far are kept: Load continues from there.',
    });
    expect(describeSourceError(new DOMException('x', 'QuotaExceededError')).code).toBe('storage-full');
    expect(describeSourceError(new ModelFileMissingError('onnx/model.onnx', 'http://h/onnx/model.onnx', 404))).toEqual({
      code: 'missing-file',
      message: 'The model file "onnx/model.onnx" was not found at http://h/onnx/model.onnx (HTTP 404).',
    });
    expect(describeSourceError(new DownloadIncompleteError('a.bin', 10, 20)).code).toBe('incomplete');
    const verdict = memoryVerdict({ files: [{ path: 'm', bytes: 3 * 2 ** 30 }], layers: 1, intermediateSize: 1, vocabSize: 1, batchTokens: 1 }, BROWSER_LIMITS);
    expect(describeSourceError(new MemoryLimitError(verdict))).toEqual({ code: 'too-big', message: verdict.summary, verdict });
    expect(describeSourceError(new Error('Not a valid ONNX model: this is an HTML page (wrong URL?)')).code).toBe('unusable');
    expect(describeSourceError('boom')).toEqual({ code: 'failed', message: 'boom' });
  });
});
