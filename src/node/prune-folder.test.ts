import { execFile } from 'node:child_process';
import { mkdir, readdir, readFile, stat, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { promisify } from 'node:util';
import * as ort from 'onnxruntime-node';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { buildFixtureSet, type FixtureName, type FixtureSet } from '../fixtures/fixtures';
import { CHECK_TOKENS, loadReference, logitsDifference, sessionLogits } from '../fixtures/verify';
import { referenceGreedy, referenceLogits } from '../import/llama-reference';
import { generate } from '../model/generate';
import { loadNodeModel } from './model-folder';
import { densePlan, keepMasks, type KeepPlan } from '../core/keep-plan';
import { discoverFfns } from '../onnx/ffn-discovery';
import { readModelFile } from './model-files';
import { tensorBytes } from '../onnx/model-io';
import { exportPrunedFolder } from './prune-folder';

const run = promisify(execFile);
const NAMES: FixtureName[] = ['genai-int4', 'genai-fp32', 'optimum-fp32-chunked', 'optimum-fp32'];
let set: FixtureSet;
let out: string;
beforeAll(async () => {
  set = await buildFixtureSet(NAMES);
  out = join(set.root, 'out');
  await mkdir(out);
});
afterAll(() => set.remove());

const SIZES = [172, 172, 172, 172, 172];
/** Whole 32-channel blocks: layers 0-3 keep blocks 0, 2, 4 (96 channels), layer 4 drops only the partial tail (160). */
const BLOCKS: KeepPlan = { keep: SIZES.map((n, l) => [...Array(n).keys()].filter((c) => (l === 4 ? c < 160 : Math.floor(c / 32) % 2 === 0))) };
const readJson = async (path: string) => JSON.parse(await readFile(path, 'utf8')) as Record<string, unknown>;

describe('exporting a pruned model folder', () => {
  it('genai int4 (all weights in model.onnx.data): a complete folder that generate loads, with untouched weights copied byte for byte', async () => {
    const fx = set.fixtures['genai-int4'];
    const dir = join(out, 'genai-int4');
    const result = await exportPrunedFolder({ modelDir: fx.dir, plan: BLOCKS, outDir: dir, method: 'test-blocks' });
    expect(result.modelFile).toBe('model.onnx');
    expect((await readdir(dir)).sort()).toEqual(
      ['README.md', 'config.json', 'genai_config.json', 'generation_config.json', 'model.onnx', 'model.onnx.data', 'pruning.json', 'tokenizer.json', 'tokenizer_config.json'].sort(),
    );
    const config = await readJson(join(dir, 'config.json'));
    expect([config.intermediate_size, config.intermediate_sizes]).toEqual([160, [96, 96, 96, 96, 160]]);
    expect(config.hidden_size).toBe(64);
    const manifest = await readJson(join(dir, 'pruning.json'));
    expect(manifest).toMatchObject({ keep: BLOCKS.keep, method: 'test-blocks', intermediate_sizes: [96, 96, 96, 96, 160], original_intermediate_sizes: SIZES });
    expect(manifest.sparsity).toBeCloseTo(1 - (4 * 96 + 160) / (5 * 172), 12);
    const params = manifest.parameters as { before: number; after: number };
    expect(params.before - params.after).toBe(3 * 64 * (5 * 172 - 4 * 96 - 160));
    // The model card carries pruning.json's values: method, every layer's widths, the parameter count.
    const card = await readFile(join(dir, 'README.md'), 'utf8');
    expect(card).toContain('- **Method:** test-blocks');
    expect(card).toContain(`${params.after.toLocaleString('en')} weight elements`);
    for (let l = 0; l < 5; l++) expect(card).toContain(`| ${l} | 172 | ${l === 4 ? 160 : 96} | ${l === 4 ? '7.0' : '44.2'}% |`);

    // Greedy generation through the app's own loading and generation code equals the masked reference.
    const loaded = await loadNodeModel(dir, 'model.onnx');
    const { tokens } = await generate(ort, loaded.session, loaded.config, [1], { maxNewTokens: 16, temperature: 0, stopTokenIds: [] });
    const reference = await loadReference(fx.referenceGguf);
    expect(tokens).toEqual(referenceGreedy(reference, [1], 16, { ffnMask: keepMasks(BLOCKS, SIZES) }));

    const before = await readModelFile(join(fx.dir, fx.modelFile));
    const after = await readModelFile(join(dir, 'model.onnx'));
    const ffnTensors = new Set(discoverFfns(before).flatMap((f) => [f.gate, f.up, f.down].flatMap((p) => before.graph!.node![p.nodeIndex]!.input!.slice(1))));
    const afterInit = new Map(after.graph!.initializer!.map((t) => [t.name!, t]));
    let compared = 0;
    for (const t of before.graph!.initializer!) {
      if (ffnTensors.has(t.name!)) continue;
      expect(tensorBytes(afterInit.get(t.name!)!)).toEqual(tensorBytes(t));
      compared++;
    }
    expect(compared).toBeGreaterThan(20);
    expect(after.graph!.node).toEqual(
      before.graph!.node!.map((n) => (n.op_type === 'MatMulNBits' && n.name!.includes('/mlp/') ? after.graph!.node!.find((m) => m.name === n.name) : n)),
    );
  });

  it('int4 cut through blocks requantizes from the float model folder when one is given', async () => {
    const plan = { keep: SIZES.map((n, l) => [...Array(n).keys()].filter((c) => (c + l) % 3 !== 0)) };
    const dir = join(out, 'genai-int4-requant');
    const { report } = await exportPrunedFolder({ modelDir: set.fixtures['genai-int4'].dir, plan, outDir: dir, floatModelDir: set.fixtures['genai-fp32'].dir });
    expect(report.layers.map((l) => [l.down, l.requantizedFrom])).toEqual(SIZES.map(() => ['requantized', 'float-weights']));
    const manifest = await readJson(join(dir, 'pruning.json'));
    expect((manifest.layers as { addedError: { maxAbs: number } }[]).every((l) => l.addedError.maxAbs > 0)).toBe(true);
    const session = await ort.InferenceSession.create(join(dir, 'model.onnx'));
    expect((await sessionLogits(session, CHECK_TOKENS)).every(Number.isFinite)).toBe(true);
  });

  it('external data split over two files comes out as one model.onnx_data, or split again when asked', async () => {
    const fx = set.fixtures['optimum-fp32-chunked'];
    const plan = { keep: SIZES.map((n) => [...Array(n).keys()].filter((c) => c % 2 === 0)) };
    const reference = referenceLogits(await loadReference(fx.referenceGguf), CHECK_TOKENS, { ffnMask: keepMasks(plan, SIZES) });
    for (const maxDataFileBytes of [undefined, 200_000]) {
      const dir = join(out, `chunked-${maxDataFileBytes}`);
      await exportPrunedFolder({ modelDir: fx.dir, plan, outDir: dir, maxDataFileBytes });
      const files = (await readdir(join(dir, 'onnx'))).filter((f) => f !== 'model.onnx').sort();
      if (!maxDataFileBytes) expect(files).toEqual(['model.onnx_data']);
      else {
        expect(files.length).toBeGreaterThan(2);
        expect(files).toEqual(['model.onnx_data', ...files.slice(1).map((_, i) => `model.onnx_data_${i + 1}`)]);
        for (const f of files) expect((await stat(join(dir, 'onnx', f))).size).toBeLessThanOrEqual(maxDataFileBytes);
      }
      const config = await readJson(join(dir, 'config.json'));
      expect([config.intermediate_size, config.intermediate_sizes]).toEqual([86, undefined]);
      const session = await ort.InferenceSession.create(join(dir, 'onnx/model.onnx'));
      expect(logitsDifference(reference, await sessionLogits(session, CHECK_TOKENS)).maxAbs).toBeLessThanOrEqual(1e-4);
    }
  });

  it('keeps an inline model inline, refuses to overwrite, and refuses to write into the model folder', async () => {
    const fx = set.fixtures['optimum-fp32'];
    const dir = join(out, 'inline');
    await exportPrunedFolder({ modelDir: fx.dir, plan: densePlan(SIZES), outDir: dir });
    expect(await readdir(join(dir, 'onnx'))).toEqual(['model.onnx']);
    await expect(exportPrunedFolder({ modelDir: fx.dir, plan: densePlan(SIZES), outDir: dir })).rejects.toThrow(/already exists/);
    await exportPrunedFolder({ modelDir: fx.dir, plan: densePlan(SIZES), outDir: dir, overwrite: true });
    await expect(exportPrunedFolder({ modelDir: fx.dir, plan: densePlan(SIZES), outDir: fx.dir, overwrite: true })).rejects.toThrow(/is the model itself/);
    await expect(exportPrunedFolder({ modelDir: out, plan: densePlan(SIZES), outDir: join(out, 'x') })).rejects.toThrow(/holds no onnx\/model.onnx or model.onnx/);
  });

  it('CLI: `export` writes the folder and prints a JSON summary; a bad plan exits non-zero with the reason', async () => {
    const fx = set.fixtures['optimum-fp32'];
    const good = join(out, 'plan.json');
    const bad = join(out, 'bad-plan.json');
    await writeFile(good, JSON.stringify({ keep: SIZES.map(() => [0, 5, 9]) }));
    await writeFile(bad, JSON.stringify({ keep: SIZES.map((_, l) => (l === 3 ? [5, 2] : [0])) }));
    const cli = (...args: string[]) => run('npx', ['tsx', 'src/cli/main.ts', 'export', '--model', fx.dir, ...args]);
    const { stdout } = await cli('--plan', good, '--out', join(out, 'cli'), '--method', 'manual');
    expect(JSON.parse(stdout)).toMatchObject({ intermediateSizes: [3, 3, 3, 3, 3], downEdits: new Array(5).fill('sliced'), modelFile: 'onnx/model.onnx' });
    expect((await readJson(join(out, 'cli', 'config.json'))).intermediate_size).toBe(3);
    const failure = await cli('--plan', bad, '--out', join(out, 'cli-bad')).then(
      () => undefined,
      (error: { code: number; stderr: string }) => error,
    );
    expect(failure?.code).toBe(1);
    expect(failure?.stderr).toMatch(/error: Layer 3: indices must be sorted ascending \(5 comes before 2\)/);
  });
});
