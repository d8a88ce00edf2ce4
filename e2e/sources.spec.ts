/**
 * Model sources in the real app: a local stand-in for the Hugging Face hub (e2e/hub-server.ts, another
 * origin, so CORS is real) serves repositories built by the fixture builder, and the studio lists,
 * downloads (with progress, cancel and resume), caches, checks and loads them, then generates.
 */
import { readFile } from 'node:fs/promises';
import { join } from 'node:path';
import { expect, test, type Page } from '@playwright/test';
import { readGguf } from '../src/import/gguf-file';
import { builtinBytesCopy, builtinGgufPath } from '../src/fixtures/builtin';
import { buildHubFixtures } from './hub-fixtures';
import { startHubServer, type HubServer } from './hub-server';

const ROOT = join(import.meta.dirname, '../.cache/fixtures/hub');
const STORY_START = 'Once upon a time, there was a little girl named Lily.';

let hub: HubServer;
/** The built-in model's stored weights (a tied head would be a separate copy in the graph): the card's parameter count. */
let parameters: string;

test.beforeAll(async () => {
  await buildHubFixtures(ROOT);
  hub = await startHubServer(ROOT);
  const gguf = await readGguf(builtinBytesCopy());
  const stored = [...gguf.tensors.values()].reduce((n, t) => n + t.shape.reduce((a, d) => a * d, 1), 0);
  parameters = (stored + (gguf.config.tiedOutput ? gguf.config.vocabSize * gguf.config.dim : 0)).toLocaleString('en-US');
});
test.afterAll(async () => hub?.close());
test.beforeEach(() => {
  hub.clearRules();
  hub.requests.length = 0;
});

const app = (backend: 'webgpu' | 'wasm', extra = '') => `/?hub=${encodeURIComponent(hub.url)}${backend === 'wasm' ? '&backend=wasm' : ''}${extra}`;

async function chooseHubModel(page: Page, repo: string) {
  await page.getByTestId('model-source').selectOption('hub');
  await page.getByTestId('hub-repo').fill(repo);
}

async function loaded(page: Page, label: string) {
  await expect(page.getByTestId('model-status')).toContainText(`loaded ${label}`);
}

/** Greedy continuation from an empty prompt. */
async function generate(page: Page, tokens = 20): Promise<string> {
  await page.getByTestId('max-tokens').fill(String(tokens));
  await page.getByTestId('temperature').fill('0');
  await page.getByTestId('generate').click();
  await expect(page.getByTestId('run-status')).toContainText(/tokens in|ended the text/);
  return (await page.getByTestId('output').textContent()) ?? '';
}

/** GET requests the hub saw for one file of one repository. */
const requested = (repo: string, file: string) =>
  hub.requests.filter((r) => r.method === 'GET' && r.path.startsWith(`/${repo}/resolve/`) && r.path.endsWith(`/${file}`));

test('lists the variants of a hub model, loads fp32 and fp16 on WebGPU, and shows the model card', async ({ page }, testInfo) => {
  await page.goto(app('webgpu'));
  await expect(page.getByTestId('backend')).toContainText('WebGPU');
  await chooseHubModel(page, 'test-org/stories');
  await page.getByTestId('inspect-source').click();
  const variant = page.getByTestId('variant');
  await expect(variant.locator('option')).toHaveText([/^fp32 \(full precision\): 1\.\d MB$/, /^fp16 \(half precision\): \d+ KB$/]);
  await expect(variant).toHaveValue('onnx/model.onnx');
  await expect(page.getByTestId('variant-advice')).toContainText('pruning removes channels exactly');
  await expect(page.getByTestId('memory-summary')).toContainText('Fits comfortably');

  await page.getByTestId('load-model').click();
  await loaded(page, 'test-org/stories');
  const card = (id: string) => page.getByTestId(`card-${id}`);
  await expect(card('layers')).toHaveText('5');
  await expect(card('hidden')).toHaveText('64');
  await expect(card('ffn')).toHaveText('172 in every layer');
  await expect(card('heads')).toHaveText('8 (config) / 4');
  await expect(card('head-dim')).toHaveText('8');
  await expect(card('vocab')).toHaveText('512');
  await expect(card('dtype')).toHaveText('fp32 / fp32');
  await expect(card('parameters')).toHaveText(parameters);
  await expect(card('files')).toContainText('onnx/model.onnx (1.');
  await expect(card('pruning')).toHaveText('FFN found in every layer (silu)');
  await page.screenshot({ path: testInfo.outputPath('hub-fp32.png'), fullPage: true });
  expect((await generate(page)).startsWith(STORY_START)).toBe(true);

  await variant.selectOption('onnx/model_fp16.onnx');
  await expect(page.getByTestId('variant-advice')).toContainText('Half the size of fp32');
  await page.getByTestId('load-model').click();
  await expect(card('dtype')).toHaveText('fp16 / fp16');
  await loaded(page, 'test-org/stories');
  // A GPU without shader-f16 (SwiftShader) cannot run fp16 graphs: the runtime says so and uses WASM.
  await expect(page.getByTestId('backend')).toContainText(/, f16\)|no shader-f16/);
  await expect(card('parameters')).toHaveText(parameters);
  expect((await generate(page, 8)).length).toBeGreaterThan(0);
});

test('loads external data split over two files (by hub id and by URL) and the onnxruntime-genai int4 layout', async ({ page }) => {
  await page.goto(app('wasm'));
  await chooseHubModel(page, 'test-org/stories-chunked');
  await page.getByTestId('load-model').click();
  await loaded(page, 'test-org/stories-chunked');
  await expect(page.getByTestId('card-files')).toContainText('onnx/model.onnx_data (');
  await expect(page.getByTestId('card-files')).toContainText('onnx/model.onnx_data_1 (');
  expect(requested('test-org/stories-chunked', 'model.onnx_data')).toHaveLength(1);
  expect(requested('test-org/stories-chunked', 'model.onnx_data_1')).toHaveLength(1);
  expect((await generate(page)).startsWith(STORY_START)).toBe(true);

  // Any server with the same layout: no listing there, so the files are probed and the data files read from the graph.
  const folderUrl = `${hub.url}/test-org/stories-chunked/resolve/main/`;
  await page.getByTestId('model-source').selectOption('url');
  await page.getByTestId('model-url').fill(folderUrl);
  await page.getByTestId('load-model').click();
  await loaded(page, folderUrl);
  await expect(page.getByTestId('card-files')).toContainText('onnx/model.onnx_data_1 (');
  expect(hub.requests.some((r) => r.method === 'HEAD' && r.path.endsWith('/onnx/model_fp16.onnx') && r.status === 404)).toBe(true);

  await chooseHubModel(page, 'test-org/stories-genai-int4');
  await page.getByTestId('inspect-source').click();
  await expect(page.getByTestId('variant')).toHaveValue('model.onnx');
  await expect(page.getByTestId('variant-advice')).toContainText('does not say the precision');
  await page.getByTestId('load-model').click();
  await loaded(page, 'test-org/stories-genai-int4');
  await expect(page.getByTestId('card-dtype')).toHaveText('int4 (MatMulNBits, block 32, fp32 scales) / fp32');
  await expect(page.getByTestId('card-heads')).toHaveText('8 / 4');
  await expect(page.getByTestId('card-ffn')).toHaveText('172 in every layer');
  expect((await generate(page)).length).toBeGreaterThan(0);
});

test('a cancelled download resumes with a Range request after a reload, and a cached model opens with no request', async ({ page }, testInfo) => {
  const seen: string[] = [];
  page.on('request', (r) => {
    if (r.url().startsWith(hub.url)) seen.push(r.url());
  });
  hub.addRule({ file: 'model.onnx_data_1', bytesPerSecond: 100_000 });
  await page.goto(app('wasm'));
  await chooseHubModel(page, 'test-org/stories-chunked');
  await page.getByTestId('load-model').click();
  const progress = page.getByTestId('download-progress');
  await expect(progress).toContainText(/onnx\/model\.onnx_data_1: .* of 1\.\d MB · \d+ KB\/s · \d+ s left/);
  await page.screenshot({ path: testInfo.outputPath('downloading.png'), fullPage: true });
  await page.getByTestId('cancel-load').click();
  await expect(page.getByTestId('source-message')).toContainText('Cancelled. The bytes downloaded so far are kept');
  await expect(page.getByTestId('cache-entry')).toContainText('partly downloaded');
  expect(seen.length).toBeGreaterThan(0); // interception sees the worker's requests

  hub.clearRules();
  await page.reload();
  await expect(page.getByTestId('hub-repo')).toHaveValue('test-org/stories-chunked');
  await page.getByTestId('load-model').click();
  await loaded(page, 'test-org/stories-chunked');
  const [first, resumed] = requested('test-org/stories-chunked', 'model.onnx_data_1');
  expect(first!.range).toBeUndefined();
  expect(resumed).toMatchObject({ status: 206, range: expect.stringMatching(/^bytes=[1-9]\d*-$/) });
  expect((await generate(page)).startsWith(STORY_START)).toBe(true);

  await page.reload();
  const before = hub.requests.length;
  seen.length = 0;
  await page.getByTestId('load-model').click();
  await loaded(page, 'test-org/stories-chunked');
  expect(seen).toEqual([]);
  expect(hub.requests.length).toBe(before);
  await expect(page.getByTestId('variant').locator('option')).toHaveText([/, cached$/]);

  await page.getByTestId('cache-delete').click();
  await expect(page.getByTestId('cache-entry')).toHaveCount(0);
});

test('the Cache API fallback keeps a cut download, resumes it and serves the cached model', async ({ page }) => {
  // Paced, so the page has read bytes before the connection drops.
  hub.addRule({ file: 'model.onnx_data', bytesPerSecond: 400_000, cutAfterBytes: 200_000, times: 1 });
  await page.goto(app('wasm', '&cache=cache-api'));
  await chooseHubModel(page, 'test-org/stories-chunked');
  await page.getByTestId('load-model').click();
  await expect(page.getByTestId('source-message')).toContainText(/The download of onnx\/model\.onnx_data stopped after [1-9]\d* of \d+ bytes/);
  await expect(page.getByTestId('source-message')).toContainText('load again to resume');
  await expect(page.getByTestId('cache-view')).toContainText('Cache Storage');
  await page.getByTestId('load-model').click();
  await loaded(page, 'test-org/stories-chunked');
  expect(requested('test-org/stories-chunked', 'model.onnx_data').at(-1)).toMatchObject({ status: 206, range: expect.stringMatching(/^bytes=[1-9]\d*-$/) });
  expect((await generate(page)).startsWith(STORY_START)).toBe(true);

  await page.reload();
  const before = hub.requests.length;
  await page.getByTestId('load-model').click();
  await loaded(page, 'test-org/stories-chunked');
  expect(hub.requests.length).toBe(before);
  await page.getByTestId('cache-delete').click();
  await expect(page.getByTestId('cache-entry')).toHaveCount(0);
});

test('broken sources get a clear message, no crash and no broken cache entry', async ({ page }, testInfo) => {
  await page.goto(app('wasm'));
  const message = page.getByTestId('source-message');
  const tryLoad = async (repo: string) => {
    await chooseHubModel(page, repo);
    await page.getByTestId('load-model').click();
  };

  await tryLoad('test-org/missing');
  await expect(message).toContainText('test-org/missing at revision "main" was not found on 127.0.0.1');

  await chooseHubModel(page, 'test-org/stories');
  await page.getByTestId('hub-revision').fill('v9');
  await page.getByTestId('load-model').click();
  await expect(message).toContainText('test-org/stories at revision "v9" was not found on 127.0.0.1');
  await expect(message).toContainText('HTTP 404: Invalid rev id: v9');
  await page.getByTestId('hub-revision').fill('main');

  await page.getByTestId('model-source').selectOption('url');
  await page.getByTestId('model-url').fill(`${hub.url}/test-org/stories/resolve/main/nowhere/`);
  await page.getByTestId('load-model').click();
  await expect(message).toHaveText(`No model files were found at ${hub.url}/test-org/stories/resolve/main/nowhere/.`);

  await tryLoad('test-org/no-tokenizer');
  await expect(message).toHaveText('test-org/no-tokenizer has no tokenizer.json: the studio needs the tokenizer files beside config.json.');

  await tryLoad('test-org/image-model');
  await expect(message).toContainText('config.json describes a "resnet", "ResNetForImageClassification" model');
  await expect(message).toContainText('not a text-generation (decoder) language model');

  await tryLoad('test-org/mislabelled');
  await expect(message).toContainText('onnx/model.onnx is not a language model: it takes pixel_values [batch_size, 3, 8, 8]');

  // Sources that cannot be used keep nothing in the cache (a fixed upload must not hide behind it).
  await expect(page.getByTestId('cache-entry')).toHaveCount(0);

  await tryLoad('test-org/truncated');
  await expect(message).toContainText('needs bytes');
  await expect(message).toContainText('of "model.onnx_data_1", which has only');
  await expect(message).toContainText('(the file is truncated)');
  const truncated = page.getByTestId('cache-entry').filter({ hasText: 'test-org/truncated' });
  await expect(truncated.getByTestId('cache-files')).toContainText('onnx/model.onnx:');
  await expect(truncated.getByTestId('cache-files')).not.toContainText('onnx_data');

  await tryLoad('test-org/huge');
  await expect(message).toContainText('Too large for this browser: the largest file (onnx/model.onnx_data) in one ArrayBuffer needs 5.00 GB, the limit is 2.00 GB.');
  await expect(page.getByTestId('memory-summary')).toContainText('Too large for this browser');
  expect(requested('test-org/huge', 'model.onnx_data')).toEqual([]);
  await page.screenshot({ path: testInfo.outputPath('too-large.png'), fullPage: true });

  // Still working: the built-in model loads and generates.
  await page.getByTestId('model-source').selectOption('builtin');
  await page.getByTestId('load-model').click();
  await loaded(page, 'Built-in: TinyStories 260K');
  expect((await generate(page)).startsWith(STORY_START)).toBe(true);
  await expect(page.getByTestId('error-model')).toHaveCount(0);
});

test('opens a local folder (folder input, and the folder picker) and a GGUF file', async ({ page }) => {
  // The folder picker first: stubbed with a folder of the page's own private file system.
  await page.goto(app('wasm'));
  await page.evaluate(async (base) => {
    const root = await navigator.storage.getDirectory();
    const folder = await root.getDirectoryHandle('picked-model', { create: true });
    for (const path of ['config.json', 'generation_config.json', 'tokenizer.json', 'tokenizer_config.json', 'onnx/model.onnx']) {
      const bytes = await (await fetch(`${base}/${path}`)).arrayBuffer();
      const [dir, name] = path.includes('/') ? path.split('/') : [undefined, path];
      const parent = dir ? await folder.getDirectoryHandle(dir, { create: true }) : folder;
      const writable = await (await parent.getFileHandle(name!, { create: true })).createWritable();
      await writable.write(bytes);
      await writable.close();
    }
    (window as unknown as { showDirectoryPicker(): Promise<FileSystemDirectoryHandle> }).showDirectoryPicker = () => Promise.resolve(folder);
  }, `${hub.url}/test-org/stories/resolve/main`);
  await page.getByTestId('model-source').selectOption('folder');
  await page.getByTestId('pick-folder').click();
  await expect(page.getByTestId('folder-chosen')).toHaveText('picked-model (5 files)');
  await page.getByTestId('load-model').click();
  await loaded(page, 'picked-model');
  expect((await generate(page)).startsWith(STORY_START)).toBe(true);

  // Without File System Access: <input webkitdirectory>.
  await page.addInitScript(() => delete (window as { showDirectoryPicker?: unknown }).showDirectoryPicker);
  await page.reload();
  await page.getByTestId('model-source').selectOption('folder');
  await expect(page.getByTestId('pick-folder')).toHaveCount(0);
  const before = hub.requests.length;
  await page.getByTestId('folder-input').setInputFiles(join(ROOT, 'test-org/stories-chunked'));
  await expect(page.getByTestId('folder-chosen')).toContainText('stories-chunked (');
  await page.getByTestId('load-model').click();
  await loaded(page, 'stories-chunked');
  await expect(page.getByTestId('card-files')).toContainText('onnx/model.onnx_data_1');
  expect(hub.requests.length).toBe(before);
  expect((await generate(page)).startsWith(STORY_START)).toBe(true);

  await page.getByTestId('model-source').selectOption('gguf');
  await page.getByTestId('gguf-input').setInputFiles(builtinGgufPath);
  await page.getByTestId('load-model').click();
  await loaded(page, 'stories260K.gguf');
  await expect(page.getByTestId('card-parameters')).toHaveText(parameters);
  expect((await generate(page)).startsWith(STORY_START)).toBe(true);

  // A .gguf dropped on the folder source's drop zone switches to the GGUF source.
  await page.getByTestId('model-source').selectOption('folder');
  const bytes = [...(await readFile(builtinGgufPath))];
  const drop = await page.evaluateHandle((data) => {
    const transfer = new DataTransfer();
    transfer.items.add(new File([new Uint8Array(data)], 'dropped.gguf'));
    return transfer;
  }, bytes);
  await page.getByTestId('drop-zone').dispatchEvent('drop', { dataTransfer: drop });
  await expect(page.getByTestId('model-source')).toHaveValue('gguf');
  await page.getByTestId('load-model').click();
  await loaded(page, 'dropped.gguf');
  await expect(page.getByTestId('card-layers')).toHaveText('5');
});
