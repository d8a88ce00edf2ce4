import { execFile } from 'node:child_process';
import { existsSync, readFileSync } from 'node:fs';
import { mkdtemp, mkdir, readFile, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { promisify } from 'node:util';
import { expect, test, type Page, type TestInfo } from '@playwright/test';
import { unzipSync } from 'fflate';
import { getLlama, LlamaLogLevel, type Token } from 'node-llama-cpp';
import * as ort from 'onnxruntime-node';
import { referenceLogits } from '../src/import/llama-reference';
import { loadBuiltin } from '../src/fixtures/builtin';
import { discoverFfns } from '../src/onnx/ffn-discovery';
import { decodeModel } from '../src/onnx/model-io';
import { countParameters } from '../src/onnx/prune-export';
import { readFfnWeights } from '../src/pruning/ffn-weights';

async function shot(page: Page, info: TestInfo, name: string) {
  await page.screenshot({ path: info.outputPath(`${name}.png`), fullPage: true });
}

async function flow(page: Page, info: TestInfo, backend: 'auto' | 'wasm') {
  const offsite: string[] = [];
  page.on('request', (r) => {
    if (new URL(r.url()).hostname !== '127.0.0.1' && !r.url().startsWith('data:') && !r.url().startsWith('blob:')) offsite.push(r.url());
  });
  const query = backend === 'wasm' ? '/?backend=wasm' : '/';
  await page.goto(query);
  await page.evaluate(() => new Promise((resolve) => { const r = indexedDB.deleteDatabase('pps-studio'); r.onsuccess = r.onerror = r.onblocked = resolve; }));
  await page.reload();

  await expect(page.getByTestId('model-status')).toContainText(/^loaded /, { timeout: 60_000 });
  await expect(page.getByTestId('backend')).toContainText(backend === 'wasm' ? 'WASM' : 'WebGPU');
  await shot(page, info, `${backend}-1-model`);
  await page.getByTestId('to-character').click();
  await page.getByTestId('persona-name').fill('Captain Brine');
  await page.getByTestId('persona-description').fill('A gruff old sea captain who tells tall tales about storms, sea monsters and lost treasure.');
  await page.getByTestId('persona-examples').fill('Arr, the sea took my ship but not my spirit.');
  await shot(page, info, `${backend}-2-character`);
  await page.getByTestId('to-settings').click();
  // Activation scores only mask channels, so the export must equal the reference forward pass with those channels masked.
  await page.getByTestId('setting-method').selectOption('activation');
  await shot(page, info, `${backend}-3-settings`);
  await page.getByTestId('run-calibration').click();
  await expect(page.getByTestId('calibration-progress')).toBeVisible();
  await expect(page.getByTestId('answer-preview')).toBeVisible({ timeout: 180_000 }); // filtering first: slow on a busy machine
  await shot(page, info, `${backend}-4-calibrating`);
  await expect(page.getByTestId('layer-chart')).toBeVisible({ timeout: 240_000 });
  await shot(page, info, `${backend}-5-plan`);
  await expect(page.getByTestId('layer-kept-0')).toHaveValue('103'); // round(172 × 0.6)
  await expect(page.getByTestId('plan-kind')).toHaveAttribute('data-kind', 'refined');

  // Reload in the middle of the flow: the refined plan comes back from IndexedDB, without recalibrating.
  await page.reload();
  await expect(page.getByTestId('layer-chart')).toBeVisible();
  await expect(page.getByTestId('plan-sparsity')).toHaveText('40');
  await expect(page.getByTestId('layer-kept-0')).toHaveValue('103');
  await expect(page.getByTestId('plan-kind')).toHaveAttribute('data-kind', 'refined');

  // Preview at 50% from the saved statistics; then override one layer by typing.
  const before = await page.getByTestId('params-after').textContent();
  await page.getByTestId('plan-slider').fill('0.5');
  await expect(page.getByTestId('plan-sparsity')).toHaveText('50');
  await expect(page.getByTestId('layer-kept-0')).toHaveValue('86');
  await expect(page.getByTestId('plan-kind')).toHaveAttribute('data-kind', 'preview');
  await expect(page.getByTestId('params-after')).not.toHaveText(before!);
  await page.getByTestId('layer-kept-2').fill('100');
  await expect(page.getByTestId('layer-kept-2')).toHaveValue('100');
  await expect(page.getByTestId('plan-kind')).toHaveAttribute('data-kind', 'preview');
  await shot(page, info, `${backend}-6-replanned`);

  await page.getByTestId('to-compare').click();
  await page.getByTestId('compare-level-0').check();
  await page.getByTestId('run-compare').click();
  await expect(page.getByTestId('compare-row')).toHaveCount(3, { timeout: 300_000 });
  const params = (await page.getByTestId('compare-params').allTextContents()).map((t) => Number(t.replaceAll(',', '')));
  expect(params[0]).toBeGreaterThan(params[1]!);
  expect(params[1]).toBeGreaterThan(params[2]!);
  // The dense row (0%) is measured on held-out persona texts and on separate held-out plain texts: two different numbers.
  const personaPpl = (await page.getByTestId('compare-persona-ppl').allTextContents()).map(Number);
  const generalPpl = (await page.getByTestId('compare-general-ppl').allTextContents()).map(Number);
  expect(personaPpl[0]).toBeGreaterThan(1);
  expect(generalPpl[0]).toBeGreaterThan(1);
  expect(personaPpl[0]).not.toBe(generalPpl[0]);
  test.info().annotations.push({ type: `${backend}: dense perplexity, persona / plain`, description: `${personaPpl[0]} / ${generalPpl[0]}` });
  await shot(page, info, `${backend}-7-compare`);

  await page.getByTestId('to-chat').click();
  await page.getByTestId('chat-send').click();
  await expect(page.getByTestId('chat-dense')).not.toBeEmpty({ timeout: 60_000 });
  await expect(page.getByTestId('chat-pruned')).not.toBeEmpty({ timeout: 60_000 });
  await expect(page.getByTestId('chat-send')).toBeEnabled({ timeout: 60_000 });
  await shot(page, info, `${backend}-8-chat`);

  await page.getByTestId('to-export').click();
  // A preview does not download: refine it first, right here.
  await expect(page.getByTestId('run-export')).toBeDisabled();
  await page.getByTestId('refine-plan').click();
  await expect(page.getByTestId('plan-kind')).toHaveAttribute('data-kind', 'refined', { timeout: 120_000 });
  await page.getByTestId('run-export').click();
  await expect(page.getByTestId('export-result')).toBeVisible({ timeout: 120_000 });
  const maxError = Number(await page.getByTestId('export-max-error').textContent());
  expect(maxError).toBeLessThan(1e-4);
  const shownAfter = Number((await page.getByTestId('export-params-after').textContent())!.replaceAll(',', ''));
  const shownSizes = (await page.getByTestId('export-sizes').textContent())!.split(', ').map(Number);
  // The always-visible totals bar shows the same count as the export (and so as the downloaded model).
  expect(Number((await page.getByTestId('params-after').textContent())!.replaceAll(',', ''))).toBe(shownAfter);
  await shot(page, info, `${backend}-9-export`);
  const [download] = await Promise.all([page.waitForEvent('download'), page.getByTestId('download-zip').click()]);
  const zip = unzipSync(new Uint8Array(await readFile((await download.path())!)));

  // The same model as a GGUF for llama.cpp; layer 2 was overridden, so the widths differ: arch deci.
  await page.getByTestId('gguf-type').selectOption('f32');
  await page.getByTestId('run-gguf').click();
  await expect(page.getByTestId('gguf-arch')).toHaveText('deci', { timeout: 60_000 });
  await shot(page, info, `${backend}-10-gguf`);
  const [ggufDownload] = await Promise.all([page.waitForEvent('download'), page.getByTestId('download-gguf').click()]);
  const gguf = (await ggufDownload.path())!;
  expect(offsite).toEqual([]);
  return { zip, gguf, shownAfter, shownSizes };
}

async function checkDownload(result: Awaited<ReturnType<typeof flow>>) {
  const { zip, shownAfter, shownSizes } = result;
  const root = Object.keys(zip)[0]!.split('/')[0]!;
  const file = (p: string) => zip[`${root}/${p}`];
  for (const p of ['onnx/model.onnx', 'onnx/model.onnx_data', 'config.json', 'tokenizer.json', 'tokenizer_config.json', 'generation_config.json', 'pruning.json']) expect(file(p), p).toBeDefined();
  const manifest = JSON.parse(new TextDecoder().decode(file('pruning.json'))) as { keep: number[][]; parameters: { after: number }; requested_sparsity: number; layer_overrides: (number | null)[] };
  // The refined plan of what was shown last: 50% with layer 3 overridden.
  expect(manifest).toMatchObject({ requested_sparsity: 0.5, layer_overrides: [null, null, 100] });
  expect(shownSizes).toEqual([86, 86, 100, 86, 86]);
  const config = JSON.parse(new TextDecoder().decode(file('config.json'))) as { intermediate_sizes?: number[]; intermediate_size: number };
  expect(manifest.keep.map((k) => k.length)).toEqual(shownSizes);
  expect(config.intermediate_sizes ?? shownSizes.map(() => config.intermediate_size)).toEqual(shownSizes);
  // The parameter count shown is the exported model's own.
  const model = decodeModel(file('onnx/model.onnx')!, (loc) => file(`onnx/${loc}`));
  expect(countParameters(model)).toBe(shownAfter);

  // onnxruntime-node loads the downloaded folder; its logits equal the reference forward pass with the removed channels masked.
  const dir = await mkdtemp(join(tmpdir(), 'studio-download-'));
  for (const [path, data] of Object.entries(zip)) {
    if (path.endsWith('/')) continue;
    await mkdir(dirname(join(dir, path)), { recursive: true });
    await writeFile(join(dir, path), data);
  }
  const session = await ort.InferenceSession.create(join(dir, root, 'onnx/model.onnx'));
  const gguf = await loadBuiltin();
  const tokens = [1, 403, 407, 261, 378, 429, 280];
  const n = tokens.length;
  const feeds: Record<string, ort.Tensor> = {
    input_ids: new ort.Tensor('int64', BigInt64Array.from(tokens.map(BigInt)), [1, n]),
    attention_mask: new ort.Tensor('int64', new BigInt64Array(n).fill(1n), [1, n]),
    position_ids: new ort.Tensor('int64', BigInt64Array.from(tokens.map((_, i) => BigInt(i))), [1, n]),
  };
  for (const name of session.inputNames.filter((x) => x.startsWith('past_key_values'))) feeds[name] = new ort.Tensor('float32', new Float32Array(0), [1, 4, 0, 8]);
  const logits = (await session.run(feeds)).logits!.data as Float32Array;
  const ffnMask = manifest.keep.map((k) => {
    const mask = new Uint8Array(172);
    for (const c of k) mask[c] = 1;
    return mask;
  });
  const reference = referenceLogits(gguf, tokens, { ffnMask });
  let worst = 0;
  reference.forEach((row, t) => row.forEach((v, i) => (worst = Math.max(worst, Math.abs(v - logits[t * row.length + i]!)))));
  test.info().annotations.push({ type: 'download vs masked reference, max |logit diff|', description: worst.toExponential(2) });
  expect(worst).toBeLessThan(1e-3);
  await session.release();

  // llama.cpp runs the downloaded GGUF like onnxruntime runs the downloaded folder: same logits (F32 weights, F32 KV
  // cache, no flash attention, which on CPU rounds Q to F16).
  const llama = await getLlama({ gpu: false, build: 'never', logLevel: LlamaLogLevel.error, progressLogs: false, skipDownload: true });
  const cppModel = await llama.loadModel({ modelPath: result.gguf });
  const context = await cppModel.createContext({ contextSize: 64, threads: 1, flashAttention: false, experimentalKvCacheKeyType: 'F32', experimentalKvCacheValueType: 'F32' });
  try {
    const evaluated = await context.getSequence().controlledEvaluate(tokens.map((t) => [t as Token, { generateNext: { probabilities: true } }] as const));
    let worstCpp = 0;
    evaluated.forEach((e, t) => {
      const row = logits.subarray(t * 512, (t + 1) * 512);
      const top = row.indexOf(Math.max(...row));
      const probs = e!.next!.probabilities!;
      // logit differences to the top token: independent of how the probabilities were normalized
      for (const [id, p] of probs) if (p > 1e-4) worstCpp = Math.max(worstCpp, Math.abs(Math.log(p / probs.get(top as Token)!) - (row[id]! - row[top]!)));
    });
    test.info().annotations.push({ type: 'GGUF in llama.cpp vs downloaded folder, max |logit diff|', description: worstCpp.toExponential(2) });
    expect(worstCpp).toBeLessThan(1e-3);
  } finally {
    await context.dispose();
    await cppModel.dispose();
    await llama.dispose();
  }
}

/** The plan level of the session the studio saved in IndexedDB. */
function savedSparsity(page: Page): Promise<number | undefined> {
  return page.evaluate(
    () =>
      new Promise<number | undefined>((resolve) => {
        const open = indexedDB.open('pps-studio');
        open.onerror = () => resolve(undefined);
        open.onsuccess = () => {
          const get = open.result.transaction('session').objectStore('session').get('current');
          get.onsuccess = () => {
            open.result.close();
            resolve((get.result as { planParams?: { sparsity: number } } | undefined)?.planParams?.sparsity);
          };
          get.onerror = () => resolve(undefined);
        };
      }),
  );
}

/** Opens the studio on a fresh session and fills in a character, up to the settings step. */
async function freshCharacter(page: Page, query: string) {
  await page.goto(query);
  await page.evaluate(() => new Promise((resolve) => { const r = indexedDB.deleteDatabase('pps-studio'); r.onsuccess = r.onerror = r.onblocked = resolve; }));
  await page.reload();
  await expect(page.getByTestId('model-status')).toContainText(/^loaded /, { timeout: 60_000 });
  await page.getByTestId('to-character').click();
  await page.getByTestId('persona-description').fill('A gruff old sea captain who tells tall tales about storms, sea monsters and lost treasure.');
  await page.getByTestId('to-settings').click();
}

test.describe('studio', () => {
  test.describe.configure({ timeout: 600_000 });
  test('full flow on WebGPU: persona → calibrate → re-plan → compare → chat → export → download, reload restores', async ({ page }, info) => {
    await checkDownload(await flow(page, info, 'auto'));
  });
  test('the same flow with WebGPU disabled (WASM)', async ({ page }, info) => {
    await checkDownload(await flow(page, info, 'wasm'));
  });
  test('default settings (the persona method: sequential reconstruction): refine with cancel, reload, and the download equals the CLI\'s plan for the same request', async ({ page }, info) => {
    await freshCharacter(page, '/?backend=wasm');
    // The CLI's answer length (96 tokens), so that the studio's request is the CLI's `--samples 12 --sparsity 0.4`.
    await page.getByTestId('setting-answer-tokens').fill('96');
    await page.getByTestId('run-calibration').click();
    await expect(page.getByTestId('layer-chart')).toBeVisible({ timeout: 420_000 });
    await expect(page.getByTestId('layer-kept-0')).toHaveValue('103');
    await expect(page.getByTestId('plan-kind')).toHaveAttribute('data-kind', 'refined');
    await shot(page, info, 'default-1-plan');

    // Another level previews at once; a refine of it shows progress and, cancelled, loses nothing.
    await page.getByTestId('plan-slider').fill('0.6');
    await expect(page.getByTestId('plan-kind')).toHaveAttribute('data-kind', 'preview');
    await expect(page.getByTestId('layer-kept-0')).toHaveValue('69');
    await page.getByTestId('refine-plan').click();
    await expect(page.getByTestId('refine-progress')).toBeVisible();
    await page.getByTestId('cancel-refine').click();
    await expect(page.getByTestId('refine-stopped')).toBeVisible({ timeout: 60_000 });
    await expect(page.getByTestId('plan-kind')).toHaveAttribute('data-kind', 'preview');
    await expect(page.getByTestId('layer-kept-0')).toHaveValue('69');
    await shot(page, info, 'default-2-refine-cancelled');
    await page.getByTestId('plan-slider').fill('0.4');
    await expect(page.getByTestId('plan-kind')).toHaveAttribute('data-kind', 'refined');

    // A reload restores the refined plan, and it is what downloads (once the session holds the 40% level).
    await expect.poll(() => savedSparsity(page)).toBe(0.4);
    await page.reload();
    await expect(page.getByTestId('plan-kind')).toHaveAttribute('data-kind', 'refined', { timeout: 240_000 });
    await page.getByTestId('nav-export').click();
    await page.getByTestId('run-export').click();
    await expect(page.getByTestId('export-result')).toBeVisible({ timeout: 120_000 });
    // The reloaded export against the dense model with the plan applied in memory (masked channels + refit down_proj).
    expect(Number(await page.getByTestId('export-max-error').textContent())).toBeLessThan(1e-4);
    const [download] = await Promise.all([page.waitForEvent('download'), page.getByTestId('download-zip').click()]);
    const zip = unzipSync(new Uint8Array(await readFile((await download.path())!)));
    const root = Object.keys(zip)[0]!.split('/')[0]!;
    const manifest = JSON.parse(new TextDecoder().decode(zip[`${root}/pruning.json`]!)) as { method: string; keep: number[][]; sequential: boolean; parameters: { after: number } };
    expect(manifest).toMatchObject({ method: 'reconstruct', sequential: true });
    const model = decodeModel(zip[`${root}/onnx/model.onnx`]!, (loc) => zip[`${root}/onnx/${loc}`]);
    expect(countParameters(model)).toBe(Number((await page.getByTestId('params-after').textContent())!.replaceAll(',', '')));
    expect(new TextDecoder().decode(zip[`${root}/README.md`]!)).toContain(`${manifest.parameters.after.toLocaleString('en')} weight elements`);
    await shot(page, info, 'default-3-export');

    // Save to a folder: the picker stubbed with a folder of the page's private file system.
    const listing = () =>
      page.evaluate(async (name) => {
        const parent = await (await navigator.storage.getDirectory()).getDirectoryHandle('saved', { create: true });
        const dir = await parent.getDirectoryHandle(name).catch(() => undefined);
        const names: string[] = [];
        if (dir) for await (const key of (dir as unknown as { keys(): AsyncIterable<string> }).keys()) names.push(key);
        (window as unknown as { showDirectoryPicker(): Promise<FileSystemDirectoryHandle> }).showDirectoryPicker = () => Promise.resolve(parent);
        return names.sort();
      }, root);
    expect(await listing()).toEqual([]);
    const message = page.getByTestId('save-folder-message');
    await page.getByTestId('save-folder').click();
    await expect(message).toHaveText(`Saved "${root}" in "saved".`);
    expect(await listing()).toEqual(['README.md', 'config.json', 'generation_config.json', 'onnx', 'pruning.json', 'tokenizer.json', 'tokenizer_config.json']);
    // An earlier export is replaced only when the user agrees.
    page.once('dialog', (dialog) => void dialog.dismiss());
    await page.getByTestId('save-folder').click();
    await expect(message).toHaveText(`Nothing saved: "${root}" in "saved" was kept.`);
    page.once('dialog', (dialog) => void dialog.accept());
    await page.getByTestId('save-folder').click();
    await expect(message).toHaveText(`Saved "${root}" in "saved".`);
    // A folder of the user's own files under that name is never replaced (and nobody is asked).
    await page.evaluate(async (name) => {
      const parent = await (await navigator.storage.getDirectory()).getDirectoryHandle('saved');
      await parent.removeEntry(name, { recursive: true });
      const writable = await (await (await parent.getDirectoryHandle(name, { create: true })).getFileHandle('notes.md', { create: true })).createWritable();
      await writable.write('my notes');
      await writable.close();
    }, root);
    await page.getByTestId('save-folder').click();
    await expect(message).toContainText(`Not replacing "${root}" in the chosen folder: it is not empty and does not look like a model folder`);
    expect(await listing()).toEqual(['notes.md']);

    // The CLI (onnxruntime-node) on the same model with the same request and seed.
    const dir = await mkdtemp(join(tmpdir(), 'studio-vs-cli-'));
    try {
      const persona = 'A gruff old sea captain who tells tall tales about storms, sea monsters and lost treasure.';
      const modelDir = 'public/models/stories260K';
      expect(existsSync(join(modelDir, 'onnx/model.onnx'))).toBe(true);
      await promisify(execFile)('npx', ['tsx', 'src/cli/main.ts', 'prune', '--model', modelDir, '--persona', persona, '--sparsity', '0.4', '--samples', '12', '--seed', '0', '--out', join(dir, 'cli')], { timeout: 240_000 });
      const cliManifest = JSON.parse(await readFile(join(dir, 'cli/pruning.json'), 'utf8')) as { keep: number[][]; sequential: boolean };
      const cliModel = decodeModel(new Uint8Array(await readFile(join(dir, 'cli/onnx/model.onnx'))), (loc) => new Uint8Array(readFileSync(join(dir, 'cli/onnx', loc))));
      const down = (m: ReturnType<typeof decodeModel>) => readFfnWeights(m, discoverFfns(m), { gateUp: false }).map((w) => w.down);
      const studioDown = down(model);
      const cliDown = down(cliModel);
      let worst = 0;
      studioDown.forEach((d, l) => d.forEach((v, i) => (worst = Math.max(worst, Math.abs(v - cliDown[l]![i]!)))));
      const differing = manifest.keep.filter((k, l) => JSON.stringify(k) !== JSON.stringify(cliManifest.keep[l])).length;
      test.info().annotations.push({ type: 'studio (WASM) vs CLI (onnxruntime-node)', description: `layers with other keep indices: ${differing}; max |down_proj diff| ${worst.toExponential(2)}` });
      expect(cliManifest.sequential).toBe(true);
      expect(manifest.keep).toEqual(cliManifest.keep);
      expect(worst).toBeLessThanOrEqual(1e-6);
    } finally {
      await rm(dir, { recursive: true, force: true });
    }

    // The same plan with int4 weights: sizes and held-out perplexity before/after are shown and match pruning.json.
    await page.getByTestId('export-int4').check();
    await page.getByTestId('run-export').click();
    await expect(page.getByTestId('export-quantization')).toBeVisible({ timeout: 180_000 });
    expect(Number(await page.getByTestId('export-max-error').textContent())).toBeLessThan(1e-4);
    const [int4Download] = await Promise.all([page.waitForEvent('download'), page.getByTestId('download-zip').click()]);
    const int4Zip = unzipSync(new Uint8Array(await readFile((await int4Download.path())!)));
    const int4Root = Object.keys(int4Zip)[0]!.split('/')[0]!;
    expect(int4Root).toMatch(/-int4$/);
    const q = (JSON.parse(new TextDecoder().decode(int4Zip[`${int4Root}/pruning.json`]!)) as { quantization: { bytes: { before: number; after: number }; held_out_nll: { before: number; after: number } } }).quantization;
    expect(await page.getByTestId('export-size-after').textContent()).toBe(`${(q.bytes.after / 1e6).toFixed(2)} MB`);
    expect(q.bytes.after).toBeLessThan(q.bytes.before / 2);
    expect(Number(await page.getByTestId('export-ppl-before').textContent())).toBeCloseTo(Math.exp(q.held_out_nll.before), 2);
    expect(Number(await page.getByTestId('export-ppl-after').textContent())).toBeCloseTo(Math.exp(q.held_out_nll.after), 2);
    expect(q.held_out_nll.after - q.held_out_nll.before).toBeLessThan(0.35);
    const int4Model = decodeModel(int4Zip[`${int4Root}/onnx/model.onnx`]!, (loc) => int4Zip[`${int4Root}/onnx/${loc}`]);
    expect(int4Model.graph!.node!.filter((n) => n.op_type === 'MatMulNBits')).toHaveLength(36);
    await shot(page, info, 'default-4-export-int4');
  });
  test('a reload during the analysis offers Resume, which continues from the saved progress', async ({ page }, info) => {
    await freshCharacter(page, '/');
    // Enough samples for several checkpoints (one every 2 batches of 4: 8 samples), short answers so synthesis
    // stays quick. On SwiftShader WebGPU the analysis of 33 samples takes ~15 s, a wide window for the reload.
    await page.getByTestId('setting-method').selectOption('activation');
    await page.getByTestId('setting-filter').uncheck();
    await page.getByTestId('setting-samples').fill('32');
    await page.getByTestId('setting-answer-tokens').fill('16');
    await page.getByTestId('run-calibration').click();
    await expect(page.getByTestId('checkpoint-saved')).toBeVisible({ timeout: 180_000 });
    await shot(page, info, 'resume-1-saved');
    await page.reload();

    await expect(page.getByTestId('calibration-stopped')).toContainText('resume where it stopped', { timeout: 60_000 });
    const saved = /\((\d+) of (\d+) samples were analysed\)/.exec((await page.getByTestId('calibration-stopped').textContent())!)!;
    expect(Number(saved[1])).toBeGreaterThan(0);
    expect(Number(saved[1])).toBeLessThan(Number(saved[2]));
    await shot(page, info, 'resume-2-offered');
    await expect(page.getByTestId('resume-calibration')).toHaveText('Resume');
    await expect(page.getByTestId('resume-calibration')).toBeEnabled({ timeout: 60_000 });
    await page.getByTestId('resume-calibration').click();
    await expect(page.getByTestId('layer-chart')).toBeVisible({ timeout: 120_000 });
    await expect(page.getByTestId('layer-kept-0')).toHaveValue('103');
    // It continued from the checkpoint (the same samples, re-synthesised with the same seeds), not from the start.
    await page.getByTestId('nav-calibrate').click();
    await expect(page.getByTestId('calibration-resumed')).toContainText(`(${saved[1]} of ${saved[2]} samples were already analysed)`);
    await shot(page, info, 'resume-3-done');
  });
});
