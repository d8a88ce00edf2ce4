import { describe, expect, it } from 'vitest';
import { BUILTIN_MODEL_URL } from '../model/builtin';
import { BUILTIN_LABEL, specFor, specKey } from './sources';

const inputs = { kind: 'hub' as const, hubRepo: '', hubRevision: 'main', hubUrl: 'http://127.0.0.1:9', url: '', folder: null, ggufFile: null };

describe('specFor', () => {
  it('describes the built-in model as an uncached folder of this site', () => {
    expect(specFor({ ...inputs, kind: 'builtin' })).toEqual({ kind: 'url', baseUrl: BUILTIN_MODEL_URL, label: BUILTIN_LABEL, cache: false });
  });

  it('reads a hub id or page URL, the typed revision winning over the URL’s', () => {
    expect(specFor({ ...inputs, hubRepo: 'a/b' })).toEqual({ kind: 'hub', hubUrl: 'http://127.0.0.1:9', repo: 'a/b', revision: 'main' });
    expect(specFor({ ...inputs, hubRepo: 'https://huggingface.co/a/b/tree/v2', hubRevision: '' })).toMatchObject({ repo: 'a/b', revision: 'v2' });
    expect(specFor({ ...inputs, hubRepo: 'https://huggingface.co/a/b/tree/v2', hubRevision: 'v3' })).toMatchObject({ revision: 'v3' });
  });

  it('says what is missing instead of a source', () => {
    expect(specFor(inputs)).toBe('Enter a model id, e.g. HuggingFaceTB/SmolLM2-135M-Instruct.');
    expect(specFor({ ...inputs, hubRepo: 'just-a-name' })).toContain('organisation/name');
    expect(specFor({ ...inputs, kind: 'url', url: 'ftp://x' })).toContain('Enter the address of a model folder');
    expect(specFor({ ...inputs, kind: 'folder' })).toBe('Choose or drop a model folder first.');
    expect(specFor({ ...inputs, kind: 'gguf' })).toBe('Choose or drop a .gguf file first.');
  });
});

describe('specKey', () => {
  it('tells sources apart by everything that picks their files', () => {
    const hub = (revision: string) => specKey({ kind: 'hub', hubUrl: 'h', repo: 'a/b', revision });
    expect(hub('main')).not.toBe(hub('v2'));
    const file = (size: number) => new File([new Uint8Array(size)], 'm.gguf', { lastModified: 1 });
    expect(specKey({ kind: 'gguf', file: file(1) })).not.toBe(specKey({ kind: 'gguf', file: file(2) }));
    expect(specKey({ kind: 'folder', name: 'x', files: [{ path: 'a', file: file(3) }] })).toBe('folder:x:1:3');
  });
});
