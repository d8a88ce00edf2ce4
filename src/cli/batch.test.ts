import { execFile } from 'node:child_process';
import { mkdtemp, readdir, readFile, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { importGguf } from '../import/import-gguf';
import { loadBuiltin } from '../fixtures/builtin';
import { writeFolderAtomic } from '../node/folder-io';
import { personaFolder } from './batch';

const run = promisify(execFile);
const cli = (...args: string[]) => run('npx', ['tsx', 'src/cli/main.ts', 'batch', ...args]);

const PERSONAS = [
  { name: 'Captain Bob', persona: 'Captain Bob is an old pirate who loves his green parrot.' },
  { name: 'Captain Bob', persona: 'Captain Bob is a bus driver who sings to his passengers.' },
  { persona: 'Rosie is a tiny fairy who helps the flowers grow.' },
];

let dir: string;
beforeAll(async () => {
  dir = await mkdtemp(join(tmpdir(), 'pps-batch-cli-'));
  await writeFolderAtomic(join(dir, 'model'), importGguf(await loadBuiltin()));
  await writeFile(join(dir, 'personas.jsonl'), PERSONAS.map((p) => JSON.stringify(p)).join('\n') + '\n');
});
afterAll(() => rm(dir, { recursive: true, force: true }));

describe('npm run cli -- batch', () => {
  it('prunes 3 personas in one run, calibrating the generic set and the reference personas once', async () => {
    const out = join(dir, 'npcs');
    const { stdout, stderr } = await cli('--personas', join(dir, 'personas.jsonl'), '--model', join(dir, 'model'), '--sparsity', '0.25', '--samples', '3', '--out', out);
    const summary = JSON.parse(stdout) as { personas: { name: string | null; persona: string; out: string; scoringMethod: string; intermediateSizes: number[] }[] };
    expect(summary.personas.map((p) => [p.name, p.persona, p.out])).toEqual([
      ['Captain Bob', PERSONAS[0]!.persona, join(out, 'captain-bob')],
      ['Captain Bob', PERSONAS[1]!.persona, join(out, 'captain-bob-2')],
      [null, PERSONAS[2]!.persona, join(out, 'persona-3')],
    ]);
    expect((await readdir(out)).sort()).toEqual(['captain-bob', 'captain-bob-2', 'persona-3']);
    for (const p of summary.personas) {
      expect(p.scoringMethod).toBe('reconstruct');
      const manifest = JSON.parse(await readFile(join(p.out, 'pruning.json'), 'utf8'));
      expect(manifest.persona).toBe(p.persona);
      // Each persona's plan search may move channels between layers, never the total.
      expect(manifest.intermediate_sizes.reduce((n: number, c: number) => n + c, 0)).toBe(645);
      expect(manifest.selection.chosen).toEqual(expect.any(String));
    }
    // The generic set once; every persona its own filtering and answers.
    expect(stderr.match(/synthesis \(generic\)\.\.\./g)).toHaveLength(1);
    expect(stderr.match(/filtering \(persona\)\.\.\./g)).toHaveLength(3);
    // Different personas, different calibration data, different plans.
    const keeps = await Promise.all(summary.personas.map(async (p) => JSON.parse(await readFile(join(p.out, 'pruning.json'), 'utf8')).keep));
    expect(keeps[0]).not.toEqual(keeps[2]);
    // Three personas, each with answer synthesis, sequential reconstruction and plan search.
  }, 300_000);

  it('names folders from persona names and rejects a bad personas file', async () => {
    const taken = new Set<string>();
    expect(personaFolder('Sir Aldric, the Knight!', 0, taken)).toBe('sir-aldric-the-knight');
    expect(personaFolder('Sir Aldric the knight', 1, taken)).toBe('sir-aldric-the-knight-2');
    expect(personaFolder(undefined, 2, taken)).toBe('persona-3');
    expect(personaFolder('???', 3, taken)).toBe('persona-4');

    await writeFile(join(dir, 'bad.jsonl'), '{"persona": "A pirate."}\n{"name": "no persona"}\n');
    const failure = await cli('--personas', join(dir, 'bad.jsonl'), '--model', join(dir, 'model'), '--sparsity', '0.25', '--out', join(dir, 'bad')).then(
      () => undefined,
      (error: { code: number; stderr: string }) => error,
    );
    expect(failure?.code).toBe(2);
    expect(failure?.stderr).toContain(`${join(dir, 'bad.jsonl')}:2: expected an object with a non-empty string "persona"`);
  });
});
