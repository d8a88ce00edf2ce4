/**
 * An onnxruntime-genai folder exactly as Microsoft's model builder writes it (genai_config.json, model.onnx +
 * model.onnx.data, tokenizer files, no config.json) through the CLI: generate, prune, export, export with
 * int4 quantization. Every model is judged against the independent reference forward pass.
 */
import { execFile } from 'node:child_process';
import { readdir, readFile, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { promisify } from 'node:util';
import * as ort from 'onnxruntime-node';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { buildFixtureSet, type Fixture, type FixtureSet } from '../fixtures/fixtures';
import { compareWithReference, loadReference } from '../fixtures/verify';
import { referenceGreedy } from '../import/llama-reference';
import { generate } from '../model/generate';
import { loadNodeModel } from '../node/model-folder';
import { keepMasks } from '../core/keep-plan';

const run = promisify(execFile);
const cli = (...args: string[]) => run('npx', ['tsx', 'src/cli/main.ts', ...args]);
const readJson = async (path: string) => JSON.parse(await readFile(path, 'utf8'));

let set: FixtureSet;
let fx: Fixture;
beforeAll(async () => {
  set = await buildFixtureSet(['genai-builder']);
  fx = set.fixtures['genai-builder'];
});
afterAll(() => set.remove());

const SIZES = [172, 172, 172, 172, 172];
/** Uneven widths, so the folder cannot lean on one intermediate_size. */
const PLAN = { keep: SIZES.map((n, l) => [...Array(n).keys()].filter((c) => c % (l + 2) !== 0)) };

describe('onnxruntime-genai folders (no config.json)', () => {
  it('generate: the CLI reads the shape from genai_config.json and the graph, and its greedy text is the reference', async () => {
    const { stdout } = await cli('generate', '--model', fx.dir, '--max-tokens', '12');
    const model = await loadNodeModel(fx.dir);
    expect(model.config).toMatchObject({ model_type: 'llama', hidden_size: 64, intermediate_size: 172, num_hidden_layers: 5, num_attention_heads: 8, num_key_value_heads: 4, head_dim: 16, vocab_size: 512 });
    const expected = referenceGreedy(await loadReference(fx.referenceGguf), [1], 12);
    expect(stdout.trimEnd()).toBe(model.tokenizer.decode(expected).trimEnd());
    await model.session.release();
  });

  it('prune: writes a genai folder (updated genai_config.json, no config.json) whose logits are the masked reference', async () => {
    const out = join(set.root, 'pruned');
    const { stdout } = await cli('prune', '--model', fx.dir, '--persona', 'A pirate.', '--sparsity', '0.3', '--method', 'magnitude', '--out', out);
    expect(JSON.parse(stdout).intermediateSizes).toEqual([120, 120, 120, 120, 120]);
    const files = await readdir(out);
    expect(files).toContain('genai_config.json');
    expect(files).not.toContain('config.json');
    expect(files).toEqual(expect.arrayContaining(['model.onnx', 'model.onnx.data', 'tokenizer.json', 'tokenizer_config.json', 'special_tokens_map.json', 'pruning.json', 'README.md']));
    const genai = await readJson(join(out, 'genai_config.json'));
    expect(genai).toEqual({ ...(await readJson(join(fx.dir, 'genai_config.json'))), model: { ...genai.model, decoder: { ...genai.model.decoder, filename: 'model.onnx' } } });
    const manifest = await readJson(join(out, 'pruning.json'));
    const difference = await compareWithReference({ ...fx, dir: out }, undefined, { ffnMask: keepMasks(manifest, SIZES) });
    expect(difference.maxAbs).toBeLessThan(1e-4);
  });

  it('export: a plan with uneven widths, and the same plan quantized to int4, both load through genai_config.json', async () => {
    await writeFile(join(set.root, 'plan.json'), JSON.stringify(PLAN));
    const texts = join(set.root, 'texts.jsonl');
    await writeFile(texts, ['Once upon a time, there was a little dog.', 'The girl saw a big red ball in the park.'].map((text) => JSON.stringify({ text })).join('\n'));
    const plain = join(set.root, 'exported');
    await cli('export', '--model', fx.dir, '--plan', join(set.root, 'plan.json'), '--out', plain);
    const difference = await compareWithReference({ ...fx, dir: plain }, undefined, { ffnMask: keepMasks(PLAN, SIZES) });
    expect(difference.maxAbs).toBeLessThan(1e-4);
    const loaded = await loadNodeModel(plain);
    const widths = PLAN.keep.map((k) => k.length);
    expect(loaded.config).toMatchObject({ intermediate_size: Math.max(...widths), intermediate_sizes: widths });
    await loaded.session.release();

    const quantized = join(set.root, 'exported-int4');
    const { stdout } = await cli('export', '--model', fx.dir, '--plan', join(set.root, 'plan.json'), '--out', quantized, '--quantize', 'int4', '--texts', texts);
    const summary = JSON.parse(stdout);
    expect(summary.quantization).toMatchObject({ type: 'int4', block_size: 32, zero_points: false, matmuls: 26 });
    expect(summary.quantization.held_out_nll.sequences).toBe(2);
    expect((await readdir(quantized)).includes('config.json')).toBe(false);
    const model = await loadNodeModel(quantized);
    const { tokens } = await generate(ort, model.session, model.config, [1], { maxNewTokens: 8, temperature: 0, stopTokenIds: [] });
    expect(tokens).toHaveLength(8);
    await model.session.release();
  });

  it('a genai_config.json that does not describe a decoder is refused with the missing fields named', async () => {
    const broken = join(set.root, 'broken');
    await cli('export', '--model', fx.dir, '--plan', join(set.root, 'plan.json'), '--out', broken).catch(() => undefined);
    await writeFile(join(broken, 'genai_config.json'), JSON.stringify({ model: { type: 'llama', decoder: {} } }));
    await expect(loadNodeModel(broken)).rejects.toThrow(/genai_config\.json lacks model\.vocab_size, model\.decoder\.hidden_size, model\.decoder\.num_attention_heads, model\.decoder\.num_hidden_layers/);
  });
});
