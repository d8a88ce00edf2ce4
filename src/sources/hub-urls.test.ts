import { describe, expect, it } from 'vitest';
import { folderFileUrl, hubApiUrl, hubFileUrl, parseRepoRef } from './hub-urls';

describe('hub URLs', () => {
  it('builds resolve URLs with the revision as one encoded segment', () => {
    expect(hubFileUrl('https://huggingface.co', 'onnx-community/Qwen2.5-0.5B-Instruct', 'main', 'onnx/model_q4f16.onnx')).toBe(
      'https://huggingface.co/onnx-community/Qwen2.5-0.5B-Instruct/resolve/main/onnx/model_q4f16.onnx',
    );
    expect(hubFileUrl('http://127.0.0.1:9000/', 'a/b', 'refs/pr/1', 'dir with space/x#1.json')).toBe(
      'http://127.0.0.1:9000/a/b/resolve/refs%2Fpr%2F1/dir%20with%20space/x%231.json',
    );
  });

  it('builds the listing API URL with sizes requested', () => {
    expect(hubApiUrl('https://huggingface.co', 'HuggingFaceTB/SmolLM2-135M-Instruct', 'main')).toBe(
      'https://huggingface.co/api/models/HuggingFaceTB/SmolLM2-135M-Instruct/revision/main?blobs=true',
    );
  });

  it('resolves folder files against an absolute base, with or without the trailing slash', () => {
    expect(folderFileUrl('https://example.org/models/tiny', 'onnx/model.onnx')).toBe('https://example.org/models/tiny/onnx/model.onnx');
    expect(folderFileUrl('https://example.org/models/tiny/', 'config.json')).toBe('https://example.org/models/tiny/config.json');
  });

  it('reads a model id or a hub page URL, and rejects anything else with an example', () => {
    expect(parseRepoRef('  HuggingFaceTB/SmolLM2-135M-Instruct ')).toEqual({ repo: 'HuggingFaceTB/SmolLM2-135M-Instruct' });
    expect(parseRepoRef('https://huggingface.co/onnx-community/Llama-3.2-1B-Instruct/tree/refs%2Fpr%2F3/onnx')).toEqual({
      repo: 'onnx-community/Llama-3.2-1B-Instruct',
      revision: 'refs/pr/3',
    });
    expect(parseRepoRef('https://huggingface.co/Qwen/Qwen2.5-0.5B-Instruct')).toEqual({ repo: 'Qwen/Qwen2.5-0.5B-Instruct' });
    for (const bad of ['SmolLM2', 'a/b/c d', '../x/y', '']) expect(() => parseRepoRef(bad)).toThrow('organisation/name');
  });
});
