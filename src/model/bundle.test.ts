import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import * as ort from 'onnxruntime-node';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startHubServer, type HubServer } from '../../e2e/hub-server';
import { buildFixture } from '../fixtures/fixtures';
import { readModelFolderMeta } from '../node/model-folder';
import { fetchModelBundle, ModelFileMissingError } from './bundle';
import { generate } from './generate';
import { loadTokenizer } from './tokenizer';

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
    // neither config.json nor genai_config.json: the Hugging Face file is the one named
    const { 'config.json': __, ...withoutConfig } = folder;
    await expect(fetchModelBundle(BASE, { fetch: fakeFetch(withoutConfig) })).rejects.toThrow(`"config.json" was not found at ${BASE}config.json`);
  });
});

describe('fetchModelBundle over HTTP, onnxruntime-genai folder without config.json', () => {
  let root: string;
  let hub: HubServer;
  beforeAll(async () => {
    root = await mkdtemp(join(tmpdir(), 'pps-bundle-'));
    await buildFixture('genai-builder', join(root, 'test-org/genai-builder'));
    hub = await startHubServer(root);
  }, 60_000);
  afterAll(async () => {
    await hub?.close();
    await rm(root, { recursive: true, force: true });
  });

  it('makes the config from genai_config.json and the graph, as the CLI does from disk, and the model generates', async () => {
    const bundle = await fetchModelBundle(`${hub.url}/test-org/genai-builder/resolve/main/`);
    const fromDisk = await readModelFolderMeta(join(root, 'test-org/genai-builder'));
    expect(bundle.config).toEqual(fromDisk.config);
    expect(bundle.config).toMatchObject({ hidden_size: 64, intermediate_size: 172, num_hidden_layers: 5, vocab_size: 512 });
    expect(bundle.generationConfig).toEqual(fromDisk.generationConfig);
    expect(bundle.externalData.map((d) => d.path)).toEqual(['model.onnx.data']);
    const requested = hub.requests.filter((r) => r.method === 'GET').map((r) => r.path.split('/resolve/main/')[1]);
    expect(requested).toContain('genai_config.json');
    expect(requested).toContain('model.onnx');

    const session = await ort.InferenceSession.create(bundle.modelBytes, { externalData: bundle.externalData });
    try {
      const tokenizer = loadTokenizer(bundle.tokenizerJson, bundle.tokenizerConfig);
      const { tokens } = await generate(ort, session, bundle.config, tokenizer.encode('', { addBos: true }), { maxNewTokens: 12, temperature: 0 });
      expect(tokenizer.decode(tokens)).toMatch(/^Once upon a time, there was a little/);
    } finally {
      await session.release();
    }
  });
});
