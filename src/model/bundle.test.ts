import { describe, expect, it } from 'vitest';
import { fetchModelBundle, ModelFileMissingError } from './bundle';

const BASE = 'http://127.0.0.1/models/tiny/';
const json = (value: unknown) => JSON.stringify(value);

/** A static server over `files`; like Vite, it answers unknown paths with index.html when `spaFallback`. */
function fakeFetch(files: Record<string, string | Uint8Array>, spaFallback = false): typeof fetch {
  return (async (input: string | URL | Request) => {
    const path = String(input).slice(BASE.length);
    if (path in files) return new Response(files[path] as BodyInit, { headers: { 'content-type': 'application/octet-stream' } });
    if (spaFallback) return new Response('<!doctype html>', { headers: { 'content-type': 'text/html' } });
    return new Response('not found', { status: 404 });
  }) as typeof fetch;
}

const folder = {
  'config.json': json({ model_type: 'llama' }),
  'tokenizer.json': json({ model: { type: 'BPE' } }),
  'tokenizer_config.json': json({ add_bos_token: true }),
  'onnx/model.onnx': new Uint8Array([1, 2, 3]),
};

describe('fetchModelBundle', () => {
  it('loads a folder without the optional files, also behind an SPA fallback', async () => {
    for (const spaFallback of [false, true]) {
      const bundle = await fetchModelBundle(BASE, { fetch: fakeFetch(folder, spaFallback) });
      expect(bundle.config.model_type).toBe('llama');
      expect(bundle.generationConfig).toBeNull();
      expect([...bundle.modelBytes]).toEqual([1, 2, 3]);
      expect(bundle.externalData).toEqual([]);
    }
  });

  it('finds <model>.onnx_data next to the graph, or takes the names it is given', async () => {
    const files = { ...folder, 'onnx/model.onnx_data': new Uint8Array([9]), 'onnx/w.bin': new Uint8Array([8]) };
    const found = await fetchModelBundle(BASE, { fetch: fakeFetch(files) });
    expect(found.externalData).toEqual([{ path: 'model.onnx_data', data: new Uint8Array([9]) }]);
    const named = await fetchModelBundle(BASE, { fetch: fakeFetch(files), externalDataFiles: ['w.bin'] });
    expect(named.externalData).toEqual([{ path: 'w.bin', data: new Uint8Array([8]) }]);
  });

  it('names the missing file', async () => {
    const { 'onnx/model.onnx': _, ...withoutGraph } = folder;
    const failure = fetchModelBundle(BASE, { fetch: fakeFetch(withoutGraph, true) });
    await expect(failure).rejects.toBeInstanceOf(ModelFileMissingError);
    await expect(failure).rejects.toThrow(`"onnx/model.onnx" was not found at ${BASE}onnx/model.onnx`);
  });
});
