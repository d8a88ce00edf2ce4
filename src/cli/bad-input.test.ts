/**
 * The CLI's bad-input cases for the safety of user data and inputs (issue 13): outputs compared by real
 * path with the model, --overwrite refusing folders that are not ours, config.json against the graph,
 * token lengths checked before running, sampling ranges. Each case runs the real CLI.
 */
import { execFile } from 'node:child_process';
import { copyFile, mkdir, mkdtemp, readdir, readFile, rm, symlink, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { afterAll, beforeAll, describe, expect, it, vi } from 'vitest';
import type { GgufModel } from '../import/gguf-file';
import { importGguf } from '../import/import-gguf';
import { referenceLogits } from '../import/llama-reference';
import { builtinGgufPath, loadBuiltin } from '../fixtures/builtin';
import { writeFolderAtomic } from '../node/folder-io';
import { readModelFolderMeta } from '../node/model-folder';
import { batchCommand } from './batch';
import { evalCommand } from './eval';
import { exitCodeOf } from './exit-code';
import { exportCommand } from './export';
import { generateCommand } from './generate';
import { importGgufCommand } from './import-gguf';
import { pruneCommand } from './prune';
import { statsCommand } from './stats';

const run = promisify(execFile);
const cli = (...args: string[]) => run('npx', ['tsx', 'src/cli/main.ts', ...args]);

const COMMANDS: Record<string, { run(args: string[]): Promise<void> }> = {
  export: exportCommand,
  prune: pruneCommand,
  batch: batchCommand,
  'import-gguf': importGgufCommand,
  stats: statsCommand,
  eval: evalCommand,
  generate: generateCommand,
};

/**
 * A command run in this process (a new Node process per case costs seconds on a shared machine): its
 * stdout, stderr (with the "error: ..." line main.ts prints) and exit code as main.ts would give them.
 */
async function inProcess(args: string[]): Promise<{ code: number; stdout: string; stderr: string }> {
  let stdout = '';
  let stderr = '';
  const out = vi.spyOn(process.stdout, 'write').mockImplementation((chunk) => ((stdout += String(chunk)), true));
  const err = vi.spyOn(process.stderr, 'write').mockImplementation((chunk) => ((stderr += String(chunk)), true));
  try {
    await COMMANDS[args[0]!]!.run(args.slice(1));
    return { code: 0, stdout, stderr };
  } catch (error) {
    return { code: exitCodeOf(error), stdout, stderr: `${stderr}error: ${(error as Error).message}\n` };
  } finally {
    out.mockRestore();
    err.mockRestore();
  }
}

async function expectFailures(cases: [string[], string][]) {
  for (const [args, message] of cases) {
    const r = await inProcess(args);
    expect(r.stderr, args.join(' ')).toContain(message);
    expect(r.code, args.join(' ')).toBe(2);
  }
}

let dir: string;
let gguf: GgufModel;
const path = (...parts: string[]) => join(dir, ...parts);
/** A long story: well over 2048 tokens of the built-in model. */
const LONG = Array.from({ length: 300 }, (_, i) => `Tom and Lily played with ball number ${i} in the big park.`).join(' ');
const MEDIUM = Array.from({ length: 8 }, () => 'Once upon a time, a little dog ran to the park and saw a big red ball.').join(' ');

beforeAll(async () => {
  dir = await mkdtemp(join(tmpdir(), 'pps-bad-input-'));
  gguf = await loadBuiltin();
  await writeFolderAtomic(path('model'), importGguf(gguf));
  await symlink(path('model'), path('link'));
  // A folder of the user's own files, which --overwrite must never delete.
  await mkdir(path('notes'));
  await writeFile(path('notes', 'thesis.txt'), 'three years of work');
  await mkdir(path('batch', 'notes'), { recursive: true });
  await writeFile(path('batch', 'notes', 'todo.md'), 'buy milk');
  await mkdir(path('gguf'));
  await copyFile(builtinGgufPath, path('gguf', 'model.gguf'));
  // The same model, its config limited to 64 positions (a config may ask for fewer than the graph holds).
  await writeFolderAtomic(path('short'), importGguf(gguf));
  const config = JSON.parse(await readFile(path('short', 'config.json'), 'utf8'));
  await writeFile(path('short', 'config.json'), JSON.stringify({ ...config, max_position_embeddings: 64 }));
  // Wrong numbers the graph can correct, and one it cannot.
  await writeFolderAtomic(path('wrong'), importGguf(gguf));
  await writeFile(path('wrong', 'config.json'), JSON.stringify({ ...config, num_hidden_layers: 99, hidden_size: -64, vocab_size: 500, intermediate_size: 17.5 }));
  await writeFolderAtomic(path('broken'), importGguf(gguf));
  await writeFile(path('broken', 'config.json'), JSON.stringify({ ...config, num_attention_heads: -8 }));
  await writeFile(path('plan.json'), JSON.stringify({ keep: Array.from({ length: 5 }, () => Array.from({ length: 86 }, (_, c) => c * 2)) }));
  await writeFile(path('texts.jsonl'), [JSON.stringify({ text: 'One day.' }), JSON.stringify({ text: LONG })].join('\n') + '\n');
  await writeFile(path('medium.jsonl'), [JSON.stringify({ text: 'One day.' }), JSON.stringify({ text: MEDIUM })].join('\n') + '\n');
  await writeFile(path('long-example.txt'), `Arr!\n${LONG}\n`);
  await writeFile(path('personas.jsonl'), JSON.stringify({ name: 'notes', persona: 'A pirate.' }) + '\n');
  await writeFile(path('stats.json'), '{}');
});
afterAll(() => rm(dir, { recursive: true, force: true }));

describe('outputs never overwrite the model or a user’s folder', () => {
  it('compares real paths, refuses an output inside or around the model, and replaces only our own folders', async () => {
    const prune = (model: string, out: string, ...more: string[]) => ['prune', '--model', model, '--persona', 'A pirate.', '--sparsity', '0.25', '--method', 'magnitude', '--out', out, ...more];
    const exportTo = (model: string, out: string, ...more: string[]) => ['export', '--model', model, '--plan', path('plan.json'), '--out', out, ...more];
    // The case through the real CLI (exit code and message as a user sees them), the rest in process.
    const real = await cli(...exportTo(path('link'), path('model'), '--overwrite')).then(() => ({ code: 0, stderr: '' }), (e: { code: number; stderr: string }) => e);
    expect(real.code).toBe(2);
    expect(real.stderr).toContain(`error: --out ${path('model')} is the model itself, ${path('link')} (really ${path('model')}); choose another folder`);
    await expectFailures([
      [exportTo(path('model'), path('link', 'pruned')), `--out ${path('link', 'pruned')} lies inside the model folder ${path('model')}`],
      [exportTo(path('model'), dir, '--overwrite'), `--out ${dir} contains the model ${path('model')}`],
      [exportTo(path('model'), path('notes'), '--overwrite'), `refusing to replace ${path('notes')}: it is not empty and does not look like a model folder`],
      [prune(path('link'), path('model'), '--overwrite'), 'is the model itself'],
      [prune(path('model'), path('notes'), '--overwrite'), `refusing to replace ${path('notes')}`],
      [prune(path('gguf', 'model.gguf'), path('gguf'), '--overwrite'), `--out ${path('gguf')} contains the model ${path('gguf', 'model.gguf')}`],
      [['batch', '--personas', path('personas.jsonl'), '--model', path('model'), '--sparsity', '0.25', '--method', 'magnitude', '--out', path('link')], `--out ${path('link')} is the model itself`],
      [['batch', '--personas', path('personas.jsonl'), '--model', path('model'), '--sparsity', '0.25', '--method', 'magnitude', '--out', dir, '--overwrite'], `--out ${dir} contains the model ${path('model')}`],
      [['batch', '--personas', path('personas.jsonl'), '--model', path('model'), '--sparsity', '0.25', '--method', 'magnitude', '--out', path('batch'), '--overwrite'], `refusing to replace ${path('batch', 'notes')}`],
      [['import-gguf', path('gguf', 'model.gguf'), path('gguf'), '--overwrite'], `output folder ${path('gguf')} contains the model ${path('gguf', 'model.gguf')}`],
      [['import-gguf', path('gguf', 'model.gguf'), path('notes'), '--overwrite'], `refusing to replace ${path('notes')}`],
      [['stats', '--model', path('link'), '--texts', path('medium.jsonl'), '--out', path('model', 'stats.json')], `--out ${path('model', 'stats.json')} lies inside the model folder ${path('link')}`],
      [['stats', '--model', path('model'), '--texts', path('medium.jsonl'), '--out', path('stats.json')], `${path('stats.json')} already exists; choose another --out or pass --overwrite`],
    ]);
    expect(await readFile(path('notes', 'thesis.txt'), 'utf8')).toBe('three years of work');
    expect(await readFile(path('batch', 'notes', 'todo.md'), 'utf8')).toBe('buy milk');
    expect((await readdir(path('model'))).sort()).toEqual(['config.json', 'generation_config.json', 'onnx', 'tokenizer.json', 'tokenizer_config.json']);
  });

  it('still replaces its own earlier output with --overwrite', async () => {
    expect((await inProcess(['export', '--model', path('model'), '--plan', path('plan.json'), '--out', path('pruned')])).code).toBe(0);
    expect((await inProcess(['export', '--model', path('link'), '--plan', path('plan.json'), '--out', path('pruned'), '--overwrite'])).code).toBe(0);
    expect(JSON.parse(await readFile(path('pruned', 'pruning.json'), 'utf8')).intermediate_sizes).toEqual([86, 86, 86, 86, 86]);
  });
});

describe('config.json is checked against the graph', () => {
  it('warns about each wrong field, runs on the graph’s values and exports them', async () => {
    const { stderr } = await inProcess(['export', '--model', path('wrong'), '--plan', path('plan.json'), '--out', path('from-wrong')]);
    const file = path('wrong', 'config.json');
    expect(stderr).toContain(`warning: ${file}: num_hidden_layers is 99 but the graph has 5; using 5`);
    expect(stderr).toContain(`warning: ${file}: hidden_size is -64 but the graph has 64; using 64`);
    expect(stderr).toContain(`warning: ${file}: vocab_size is 500 but the graph has 512; using 512`);
    expect(stderr).toContain(`warning: ${file}: intermediate_size is 17.5 but the graph has 172; using 172`);
    const exported = JSON.parse(await readFile(path('from-wrong', 'config.json'), 'utf8'));
    expect(exported).toMatchObject({ num_hidden_layers: 5, hidden_size: 64, vocab_size: 512, intermediate_size: 86 });

    // eval on the wrong config gives the same numbers as on the right one.
    const wrong = await inProcess(['eval', '--model', path('wrong'), '--texts', path('medium.jsonl')]);
    const right = await inProcess(['eval', '--model', path('model'), '--texts', path('medium.jsonl')]);
    expect(wrong!.stderr).toContain('num_hidden_layers is 99');
    expect(JSON.parse(wrong!.stdout)).toEqual(JSON.parse(right!.stdout));
  });

  it('refuses a value the graph cannot supply, naming the field', async () => {
    await expectFailures([[['eval', '--model', path('broken'), '--texts', path('medium.jsonl')], `${path('broken', 'config.json')}: num_attention_heads must be a positive integer, got -8`]]);
  });
});

describe('token lengths are checked before running', () => {
  it('names the text, example or prompt that is longer than the model’s positions', async () => {
    const { tokenizer } = await readModelFolderMeta(path('model'));
    const long = tokenizer.encode(LONG, { addBos: true }).length;
    const medium = tokenizer.encode(MEDIUM, { addBos: true }).length;
    const example = tokenizer.encode(LONG, { addBos: tokenizer.addsBos }).length;
    expect(long).toBeGreaterThan(2048);
    expect(medium).toBeGreaterThan(64);
    await expectFailures([
      [['eval', '--model', path('model'), '--texts', path('texts.jsonl')], `${path('texts.jsonl')}:2: the text (with BOS) is ${long} tokens, but the model holds at most 2048 positions; shorten or split it, or pass --window`],
      [['eval', '--model', path('short'), '--texts', path('medium.jsonl')], `${path('medium.jsonl')}:2: the text (with BOS) is ${medium} tokens, but the model holds at most 64 positions`],
      [['stats', '--model', path('short'), '--texts', path('medium.jsonl'), '--out', path('never.json')], `${path('medium.jsonl')}:2: the text is ${medium} tokens, but the model holds at most 64 positions`],
      [['prune', '--model', path('model'), '--persona', 'A pirate.', '--sparsity', '0.25', '--examples', `@${path('long-example.txt')}`, '--out', path('never')], `example 2 ("Tom and Lily played with ball number 0 i…") is ${example} tokens, but the model holds at most 2048 positions`],
      [['prune', '--model', path('short'), '--persona', 'A pirate.', '--sparsity', '0.25', '--out', path('never')], 'but the model holds at most 64 positions; shorten the persona description by about'],
      [['generate', '--model', path('short'), '--prompt', 'Once upon a time', '--max-tokens', '70'], 'plus --max-tokens 70 is'],
    ]);
  });

  it('--window scores a long text in sliding windows, equal to the reference forward pass over the same contexts', async () => {
    const { stdout } = await inProcess(['eval', '--model', path('short'), '--texts', path('medium.jsonl'), '--window']);
    const result = JSON.parse(stdout) as { meanNll: number; tokens: number };
    // By hand: windows of 64 tokens, 32 apart; target j < 64 sees ids[0..j), later ones ids[32k..j) for k = floor((j - 64) / 32) + 1.
    const { tokenizer } = await readModelFolderMeta(path('model'));
    let sum = 0;
    let tokens = 0;
    for (const text of ['One day.', MEDIUM]) {
      const ids = tokenizer.encode(text, { addBos: true });
      const rows = new Map<number, Float32Array[]>();
      for (let j = 1; j < ids.length; j++) {
        const start = j < 64 ? 0 : 32 * (Math.floor((j - 64) / 32) + 1);
        // Causal: row j - 1 - start of a pass over ids[start..start + 64) sees exactly ids[start..j).
        if (!rows.has(start)) rows.set(start, referenceLogits(gguf, ids.slice(start, start + 64)));
        const row = rows.get(start)![j - 1 - start]!;
        const max = Math.max(...row);
        sum += Math.log(row.reduce((acc, v) => acc + Math.exp(v - max), 0)) + max - row[ids[j]!]!;
        tokens++;
      }
    }
    expect(result.tokens).toBe(tokens);
    expect(Math.abs(result.meanNll - sum / tokens)).toBeLessThan(1e-5);
  });
});

describe('sampling options', () => {
  it('state their range', async () => {
    const generate = (...more: string[]) => ['generate', '--model', path('model'), '--prompt', 'Once', ...more];
    await expectFailures([
      [generate('--top-p', '5'), '--top-p must be a number in (0, 1], got "5"'],
      [generate('--top-p', '0'), '--top-p must be a number in (0, 1], got "0"'],
      [generate('--temperature', '-1'), '--temperature must be a number >= 0, got "-1"'],
      [generate('--top-k', '0'), '--top-k must be an integer >= 1, got "0"'],
      [generate('--top-k', '-3'), '--top-k must be an integer >= 1, got "-3"'],
      [generate('--max-tokens', '0'), '--max-tokens must be an integer >= 1, got "0"'],
      [generate('--max-tokens', '-5'), '--max-tokens must be an integer >= 1, got "-5"'],
      [generate('--temperature', 'hot'), '--temperature must be a number >= 0, got "hot"'],
    ]);
  });
});
