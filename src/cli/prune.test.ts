import { execFile } from 'node:child_process';
import { mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { promisify } from 'node:util';
import * as ort from 'onnxruntime-node';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { importGguf } from '../import/import-gguf';
import { referenceLogits } from '../import/llama-reference';
import { builtinGgufPath, loadBuiltin } from '../fixtures/builtin';
import { forwardLogits, generate } from '../model/generate';
import { writeFolderAtomic } from '../node/folder-io';
import { loadNodeModel } from '../node/model-folder';
import { keepMasks } from '../core/keep-plan';

const run = promisify(execFile);
const cli = (...args: string[]) => run('npx', ['tsx', 'src/cli/main.ts', ...args]);
/** The exit code and stderr of a run expected to fail. */
const failure = (...args: string[]) =>
  cli(...args).then(
    () => ({ code: 0, stderr: '' }),
    (error: { code: number; stderr: string }) => ({ code: error.code, stderr: error.stderr }),
  );

let dir: string;
beforeAll(async () => {
  dir = await mkdtemp(join(tmpdir(), 'pps-prune-cli-'));
  await writeFolderAtomic(join(dir, 'model'), importGguf(await loadBuiltin()));
  await writeFile(join(dir, 'persona.txt'), 'Captain Bob is an old pirate who loves his green parrot.\n');
  await writeFile(join(dir, 'examples.txt'), 'Arr, the sea is my home!\n\nPolly wants gold, says my parrot.\n');
});
afterAll(() => rm(dir, { recursive: true, force: true }));

describe('npm run cli -- prune', () => {
  it('prunes a .gguf for a persona into a model folder that onnxruntime-node loads and generates with', async () => {
    const out = join(dir, 'pirate');
    const { stdout, stderr } = await cli('prune', '--model', builtinGgufPath, '--persona', `@${join(dir, 'persona.txt')}`, '--sparsity', '0.25', '--samples', '4', '--seed', '2', '--no-filter', '--examples', `@${join(dir, 'examples.txt')}`, '--out', out);
    for (const phase of ['synthesis (generic)', 'calibration (persona)', 'scoring', 'search', 'export']) expect(stderr).toContain(`${phase}...`);
    const summary = JSON.parse(stdout);
    expect(summary).toMatchObject({ out, method: 'persona', scoringMethod: 'reconstruct', allocation: 'uniform' });
    // The plan search may move channels between layers, never the total (25% of 5 × 172, rounded per layer).
    const sizes: number[] = summary.intermediateSizes;
    expect(sizes.reduce((a, b) => a + b)).toBe(645);
    // 4 answers plus the 2 example lines (the 8 held-out answers are not calibration samples).
    expect(summary.calibration.persona.samples).toBe(6);
    expect(summary.parameters.after).toBeLessThan(summary.parameters.before);

    const manifest = JSON.parse(await readFile(join(out, 'pruning.json'), 'utf8'));
    expect(manifest).toMatchObject({ method: 'reconstruct', requested_method: 'persona', persona: 'Captain Bob is an old pirate who loves his green parrot.', intermediate_sizes: sizes, refit_down_proj: true, sequential: true, seed: 2 });
    expect(manifest.keep.map((k: number[]) => k.length)).toEqual(sizes);
    expect(manifest.scores).toHaveLength(5);
    expect(manifest.calibration.persona.prompts.filter((p: { kind: string }) => p.kind === 'user-example')).toHaveLength(2);
    expect(manifest.selection).toMatchObject({ chosen: summary.selection.chosen, heldOutKl: summary.selection.heldOutKl, heldOut: { samples: 8 } });
    expect(manifest.selection.candidates).toHaveLength(summary.selection.candidates);

    const model = await loadNodeModel(out);
    const prompt = model.tokenizer.encode('Once upon a time', { addBos: true });
    const { tokens } = await generate(ort, model.session, model.config, prompt, { maxNewTokens: 12 });
    expect(tokens).toHaveLength(12);
    expect(model.tokenizer.decode(tokens).trim().length).toBeGreaterThan(0);
    await model.session.release();
  });

  it('writes a baseline plan whose model equals the reference forward pass with its channels masked', async () => {
    const out = join(dir, 'magnitude');
    const { stdout } = await cli('prune', '--model', join(dir, 'model'), '--persona', 'A pirate.', '--sparsity', '0.5', '--method', 'magnitude', '--allocation', 'global', '--out', out);
    const summary = JSON.parse(stdout);
    expect(summary.calibration).toEqual({ persona: null, generic: null });
    const manifest = JSON.parse(await readFile(join(out, 'pruning.json'), 'utf8'));
    expect(manifest.method).toBe('magnitude');
    expect(manifest.keep.reduce((n: number, k: number[]) => n + k.length, 0)).toBe(430);

    const gguf = await loadBuiltin();
    const model = await loadNodeModel(out);
    const ids = model.tokenizer.encode('The dog ran to the park.', { addBos: true });
    const { data } = await forwardLogits(ort, model.session, ids, model.config);
    const expected = referenceLogits(gguf, ids, { ffnMask: keepMasks(manifest, Array(5).fill(172)) });
    expected.forEach((row, t) => row.forEach((v, k) => expect(Math.abs(data[t * 512 + k]! - v)).toBeLessThan(1e-4)));
    await model.session.release();
  });

  it('--quantize int4: writes MatMulNBits weights, and measures NLL before/after on held-out answers of the dense model', async () => {
    const out = join(dir, 'quantized');
    const { stdout } = await cli('prune', '--model', join(dir, 'model'), '--persona', 'A pirate with a parrot.', '--sparsity', '0.25', '--method', 'magnitude', '--quantize', 'int4', '--out', out);
    const summary = JSON.parse(stdout);
    const manifest = JSON.parse(await readFile(join(out, 'pruning.json'), 'utf8'));
    expect(summary.quantization).toEqual(manifest.quantization);
    const nll = manifest.quantization.held_out_nll;
    // 6 persona-voiced and 6 plain answers to prompts calibration did not use.
    expect(nll).toMatchObject({ sequences: 12, source: expect.stringContaining('prompts calibration did not use') });
    expect(nll.after - nll.before).toBeLessThan(0.35);
    expect(manifest.quantization.bytes.after).toBeLessThan(manifest.quantization.bytes.before / 2);
    const card = await readFile(join(out, 'README.md'), 'utf8');
    expect(card).toContain('- **Persona:** A pirate with a parrot.');
    expect(card).toContain(`${nll.after.toFixed(4)} after`);
    const model = await loadNodeModel(out);
    const { tokens } = await generate(ort, model.session, model.config, [1], { maxNewTokens: 8, stopTokenIds: [] });
    expect(tokens).toHaveLength(8);
    await model.session.release();
  });

  it('rejects bad input with a clear message and a non-zero exit code', async () => {
    const model = join(dir, 'model');
    const base = ['prune', '--model', model, '--out', join(dir, 'never')];
    const cases: [string[], number, string][] = [
      [[...base, '--sparsity', '0.25'], 2, '--persona is required'],
      [[...base, '--persona', 'A pirate.', '--sparsity', '1.5'], 2, '--sparsity must be between 0.05 and 0.9 (5% to 90% of the FFN channels removed), got 1.5'],
      [[...base, '--persona', 'A pirate.', '--sparsity', '0.25', '--method', 'obs'], 2, 'unknown --method "obs"'],
      [[...base, '--persona', `@${join(dir, 'missing.txt')}`, '--sparsity', '0.25'], 2, `--persona: file not found: ${join(dir, 'missing.txt')}`],
      [['prune', '--model', join(dir, 'nowhere'), '--out', join(dir, 'never'), '--persona', 'A pirate.', '--sparsity', '0.25'], 2, `--model: ${join(dir, 'nowhere')} does not exist`],
      [['prune', '--model', model, '--out', model, '--persona', 'A pirate.', '--sparsity', '0.25'], 2, `--out ${model} is the model itself`],
      [[...base, '--persona', 'A pirate.', '--sparsity', '0.25', '--samples', '500'], 2, 'only 120 prompts'],
      [[...base, '--persona', 'A pirate.', '--sparsity', '0.25', '--sequential', '--no-sequential'], 2, 'contradict'],
      [[...base, '--persona', 'A pirate.', '--sparsity', '0.25', '--method', 'flap', '--sequential'], 2, 'option of the reconstruct method'],
    ];
    const results = await Promise.all(cases.map(([args]) => failure(...args)));
    results.forEach((r, i) => {
      expect(r.code, cases[i]![0].join(' ')).toBe(cases[i]![1]);
      expect(r.stderr).toContain(cases[i]![2]);
    });
  });
});
