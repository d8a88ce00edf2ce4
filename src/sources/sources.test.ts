/**
 * The whole path a browser takes, run in Node against the local hub (e2e/hub-server.ts) serving the
 * fixture repositories: list, inspect, pick a variant, download (cached), check, and generate with
 * onnxruntime-node from exactly the files the browser would hand to onnxruntime-web.
 */
import { readFile, readdir, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join, relative } from 'node:path';
import * as ort from 'onnxruntime-node';
import { afterAll, beforeAll, beforeEach, describe, expect, it } from 'vitest';
import { buildHubFixtures, HUGE_TENSOR_ELEMENTS } from '../../e2e/hub-fixtures';
import { commitOf, startHubServer, type HubServer } from '../../e2e/hub-server';
import { generate } from '../model/generate';
import { BROWSER_LIMITS } from '../model/memory-estimate';
import { loadTokenizer } from '../model/tokenizer';
import { readBundleFiles } from './bundle-files';
import { builtinBytesCopy } from '../fixtures/builtin';
import { MemoryFileStore } from './file-store';
import { NotALanguageModelError } from './graph-checks';
import { ggufAccess } from './gguf-source';
import { inspectSource } from './inspect';
import { SourceNotFoundError } from './listing';
import { MemoryLimitError, openVariant, UnusableModelError, type OpenedModel } from './open-variant';
import { hubAccess, localAccess, urlAccess, type SourceAccess } from './source-access';

const unexpected = (): never => {
  throw new Error('expected a failure');
};

const STORY_START = 'Once upon a time, there was a little girl named Lily.';
const root = join(tmpdir(), `pps-hub-${process.pid}`);
let hub: HubServer;

beforeAll(async () => {
  await buildHubFixtures(root);
  hub = await startHubServer(root);
});
afterAll(async () => {
  await hub.close();
  await rm(root, { recursive: true, force: true });
});
beforeEach(() => {
  hub.requests.length = 0;
});

const memory = { limits: BROWSER_LIMITS, batchTokens: 512 };
const fromHub = (repo: string, store = new MemoryFileStore()) => hubAccess(hub.url, `test-org/${repo}`, 'main', { store, fetch });

async function open(access: SourceAccess, variantId?: string): Promise<OpenedModel> {
  const inspection = await inspectSource(access);
  return openVariant(access, inspection, variantId ?? inspection.variants[0]!.id, { memory });
}

/** Greedy continuation from BOS with onnxruntime-node, from the Blobs a browser would get. */
async function story(opened: OpenedModel, tokens = 20): Promise<string> {
  const bundle = await readBundleFiles(opened.files);
  const session = await ort.InferenceSession.create(bundle.modelBytes, { externalData: bundle.externalData });
  const tokenizer = loadTokenizer(bundle.tokenizerJson, bundle.tokenizerConfig);
  const result = await generate(ort, session, bundle.config, tokenizer.encode('', { addBos: true }), { maxNewTokens: tokens });
  await session.release();
  return tokenizer.decode(result.tokens);
}

const resolved = () => hub.requests.filter((r) => r.path.includes('/resolve/')).map((r) => r.path.split('/resolve/')[1]!.split('/').slice(1).join('/'));

describe('hub sources', () => {
  it('lists both variants of a repository with sizes, fp32 first, and opens each', async () => {
    const access = fromHub('stories');
    const inspection = await inspectSource(access);
    expect(inspection.problems).toEqual([]);
    expect(inspection.listing).toMatchObject({ via: 'hub-api', commit: commitOf('test-org/stories') });
    expect(inspection.variants.map((v) => [v.id, v.format, v.available])).toEqual([
      ['onnx/model.onnx', 'fp32', false],
      ['onnx/model_fp16.onnx', 'fp16', false],
    ]);
    const size = (await readFile(join(root, 'test-org/stories/onnx/model.onnx'))).byteLength;
    expect(inspection.variants[0]!.bytes).toBe(size);

    const fp32 = await openVariant(access, inspection, 'onnx/model.onnx', { memory });
    expect(fp32.files.externalData).toEqual([]);
    expect(fp32.card).toMatchObject({ weightFormat: 'fp32', files: [{ path: 'onnx/model.onnx', bytes: size }] });
    expect(fp32.verdict?.fits).toBe(true);
    // Downloads are pinned to the commit the listing reported.
    expect(hub.requests.filter((r) => r.path.includes('/resolve/')).every((r) => r.path.includes(`/resolve/${commitOf('test-org/stories')}/`))).toBe(true);
    expect((await story(fp32)).startsWith(STORY_START)).toBe(true);

    const fp16 = await openVariant(access, inspection, 'onnx/model_fp16.onnx', { memory });
    expect(fp16.card).toMatchObject({ weightFormat: 'fp16', computeType: 'fp16' });
    expect((await story(fp16)).length).toBeGreaterThan(0);
  });

  it('fetches exactly the external-data files the graph names, and opens again from the cache with no request', async () => {
    const store = new MemoryFileStore();
    const progress: number[] = [];
    const access = fromHub('stories-chunked', store);
    const inspection = await inspectSource(access);
    const opened = await openVariant(access, inspection, 'onnx/model.onnx', { memory, onProgress: (p) => progress.push(p.loaded) });
    expect(opened.files.externalData.map((d) => d.path)).toEqual(['model.onnx_data', 'model.onnx_data_1']);
    expect(resolved().slice(-3)).toEqual(['onnx/model.onnx', 'onnx/model.onnx_data', 'onnx/model.onnx_data_1']);
    const total = inspection.listing.files.filter((f) => !f.path.startsWith('.') && f.path !== 'README.md').reduce((n, f) => n + f.size!, 0);
    expect(progress.at(-1)).toBe(total);
    expect(opened.card.files.map((f) => f.path)).toEqual(['onnx/model.onnx', 'onnx/model.onnx_data', 'onnx/model.onnx_data_1']);
    expect((await story(opened)).startsWith(STORY_START)).toBe(true);

    hub.requests.length = 0;
    const again = fromHub('stories-chunked', store);
    const cached = await open(again);
    expect(hub.requests).toEqual([]);
    expect((await inspectSource(again)).variants[0]!.available).toBe(true);
    expect((await story(cached)).startsWith(STORY_START)).toBe(true);
  });

  it('opens the onnxruntime-genai int4 layout and shows what the graph holds', async () => {
    const opened = await open(fromHub('stories-genai-int4'));
    expect(opened.files.externalData.map((d) => d.path)).toEqual(['model.onnx.data']);
    expect(opened.card.weightFormat).toBe('int4 (MatMulNBits, block 32, fp32 scales)');
    expect(opened.card.ffnSizes?.value).toEqual([172, 172, 172, 172, 172]);
    expect((await story(opened)).length).toBeGreaterThan(0);
  });

  it.each(['hub', 'url', 'folder'] as const)('opens an onnxruntime-genai folder without config.json (%s): shape from genai_config.json and the graph', async (kind) => {
    const dir = join(root, 'test-org/stories-genai-builder');
    const paths = (await readdir(dir)).sort();
    const access =
      kind === 'hub'
        ? fromHub('stories-genai-builder')
        : kind === 'url'
          ? urlAccess(`${hub.url}/test-org/stories-genai-builder/resolve/main/`, 'genai by URL', { store: new MemoryFileStore(), fetch })
          : localAccess('stories-genai-builder', new Map(await Promise.all(paths.map(async (p) => [p, new Blob([await readFile(join(dir, p))])] as const))));
    const inspection = await inspectSource(access);
    expect(inspection.problems).toEqual([]);
    expect(inspection.config).toBeNull();
    const opened = await openVariant(access, inspection, inspection.variants[0]!.id, { memory });
    const bundle = await readBundleFiles(opened.files);
    expect(bundle.config).toMatchObject({ model_type: 'llama', hidden_size: 64, intermediate_size: 172, num_hidden_layers: 5, num_key_value_heads: 4, head_dim: 16, vocab_size: 512, eos_token_id: 2 });
    expect(opened.card.ffnSizes?.value).toEqual([172, 172, 172, 172, 172]);
    expect((await story(opened)).startsWith(STORY_START)).toBe(true);
  });

  it('says what is missing from a repository without a tokenizer, downloads no graph and keeps nothing', async () => {
    const store = new MemoryFileStore();
    const access = fromHub('no-tokenizer', store);
    const inspection = await inspectSource(access);
    expect(inspection.problems).toEqual(['test-org/no-tokenizer has no tokenizer.json: the studio needs the tokenizer files beside config.json.']);
    await expect(openVariant(access, inspection, 'onnx/model.onnx')).rejects.toBeInstanceOf(UnusableModelError);
    expect(resolved()).not.toContain('onnx/model.onnx');
    // Nothing cached, so once the repository is fixed the next look lists it afresh.
    expect(await store.list()).toEqual([]);
    await inspectSource(access);
    expect(hub.requests.filter((r) => r.path.startsWith('/api/'))).toHaveLength(2);
  });

  it('recognizes an image model by its config', async () => {
    const inspection = await inspectSource(fromHub('image-model'));
    expect(inspection.problems[0]).toContain('config.json describes a "resnet", "ResNetForImageClassification" model');
    expect(inspection.problems[0]).toContain('not a text-generation (decoder) language model');
  });

  it('reads the graph before trusting config.json: an image model under an LM config is refused, and nothing kept', async () => {
    const store = new MemoryFileStore();
    const failure = await open(fromHub('mislabelled', store)).then(unexpected, (e: Error) => e);
    expect(failure).toBeInstanceOf(NotALanguageModelError);
    expect(failure.message).toBe(
      'onnx/model.onnx is not a language model: it takes pixel_values [batch_size, 3, 8, 8] and returns logits_image [batch_size, 4, 8, 8], where a chat model takes input_ids and returns logits.',
    );
    expect(await store.list()).toEqual([]);
  });

  it('refuses a truncated data file and keeps no copy of it', async () => {
    const store = new MemoryFileStore();
    const failure = await open(fromHub('truncated', store)).then(unexpected, (e: Error) => e);
    expect(failure).toBeInstanceOf(UnusableModelError);
    expect(failure.message).toMatch(/needs bytes \d+\.\.\d+ of "model.onnx_data_1", which has only \d+ bytes \(the file is truncated\)/);
    expect((await store.list()).filter((f) => f.path.includes('onnx_data'))).toEqual([]);
  });

  it('refuses a model whose header claims more than a browser can hold, before fetching its weights', async () => {
    const failure = await open(fromHub('huge')).then(unexpected, (e: Error) => e);
    expect(failure).toBeInstanceOf(MemoryLimitError);
    const verdict = (failure as MemoryLimitError).verdict;
    expect(verdict.need.largestTensor?.bytes).toBe(HUGE_TENSOR_ELEMENTS * 4);
    expect(failure.message).toContain('needs 5.00 GB, the limit is 2.00 GB');
    expect(resolved().some((p) => p.includes('onnx_data'))).toBe(false);
  });

  it('reports an unknown repository as not found', async () => {
    await expect(inspectSource(fromHub('missing'))).rejects.toBeInstanceOf(SourceNotFoundError);
  });
});

describe('URL and local sources', () => {
  it('probes a plain URL folder and learns the data files from the graph', async () => {
    const access = urlAccess(`${hub.url}/test-org/stories-chunked/resolve/main/`, 'chunked by URL', { store: new MemoryFileStore(), fetch });
    const inspection = await inspectSource(access);
    expect(inspection.listing.via).toBe('probe');
    expect(inspection.variants.map((v) => [v.id, v.dataFiles.length])).toEqual([['onnx/model.onnx', 0]]);
    const opened = await openVariant(access, inspection, 'onnx/model.onnx', { memory });
    expect(opened.files.externalData.map((d) => d.path)).toEqual(['model.onnx_data', 'model.onnx_data_1']);
    expect((await story(opened)).startsWith(STORY_START)).toBe(true);
  });

  it('imports a GGUF file into the same folder layout and opens it', async () => {
    const opened = await open(await ggufAccess(new Blob([builtinBytesCopy()]), 'stories260K.gguf'));
    expect(opened.card).toMatchObject({ weightFormat: 'fp32', layers: { value: 5, from: 'graph' } });
    expect((await story(opened)).startsWith(STORY_START)).toBe(true);
  });

  it('opens a folder of files without any request', async () => {
    const dir = join(root, 'test-org/stories-chunked');
    const paths = (await readdir(dir, { recursive: true, withFileTypes: true })).filter((e) => e.isFile()).map((e) => relative(dir, join(e.parentPath, e.name)));
    const files = new Map(await Promise.all(paths.map(async (p) => [p, new Blob([await readFile(join(dir, p))])] as const)));
    const opened = await open(localAccess('stories-chunked', files));
    expect(hub.requests).toEqual([]);
    expect((await story(opened)).startsWith(STORY_START)).toBe(true);
  });
});
