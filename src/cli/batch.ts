/**
 * `batch`: many personas in one run, one pruned model folder each. The model is loaded once, and the
 * pipeline keeps the generic statistics and the reference personas' hidden states for every persona.
 */
import { mkdir } from 'node:fs/promises';
import { join } from 'node:path';
import { checkNotSource, checkOutput } from '../node/output-guard';
import { PersonaPipeline } from '../pipeline/persona-pipeline';
import { CliUsageError, parseCommandArgs } from './args';
import { readJsonLines } from './eval';
import { quantizeRequest, QUANTIZE_USAGE } from './quantize-option';
import { checkRequest, openModel, outcomeSummary, pipelineOptions, pruneOne, requestOptions } from './prune';

const usage =
  `batch --personas <file.jsonl, one {"name"?: ..., "persona": ...} a line> --model <model dir | .gguf> --sparsity 0.25 --out <dir> [--method ...] [--allocation ...] [--samples N] [--seed S] [--no-filter] [--no-synthesis] [--sequential | --no-sequential] [--examples <text | @file>] [--overwrite] ${QUANTIZE_USAGE}`;

/** Folder name of a persona: its name in lower-case words joined by dashes, else persona-<line>. */
export function personaFolder(name: string | undefined, index: number, taken: Set<string>): string {
  const base =
    (name ?? '')
      .normalize('NFKD')
      .toLowerCase()
      .replace(/[^a-z0-9]+/g, '-')
      .replace(/^-+|-+$/g, '')
      .slice(0, 60) || `persona-${index + 1}`;
  let folder = base;
  for (let n = 2; taken.has(folder); n++) folder = `${base}-${n}`;
  taken.add(folder);
  return folder;
}

export const batchCommand = {
  usage,
  async run(args: string[]) {
    const { values, positionals } = parseCommandArgs(args, { ...pipelineOptions, personas: { type: 'string' } }, usage);
    if (positionals.length) throw new CliUsageError(`unexpected argument "${positionals[0]}"\nusage: ${usage}`);
    if (!values.personas) throw new CliUsageError(`--personas is required\nusage: ${usage}`);
    const options = await requestOptions(values, usage);
    const quantize = await quantizeRequest(values);
    const personas = await readJsonLines(values.personas, 'an object with a string "persona"', (o) => {
      if (typeof o.persona !== 'string' || o.persona.trim() === '') throw new Error('expected an object with a non-empty string "persona"');
      if (o.name !== undefined && typeof o.name !== 'string') throw new Error('"name" must be a string');
      return { name: o.name as string | undefined, persona: o.persona.trim() };
    });
    const taken = new Set<string>();
    const folders = personas.map((p, i) => join(values.out!, personaFolder(p.name, i, taken)));
    // Every folder is checked before the first persona's minutes of work.
    await checkNotSource(values.out!, [values.model]);
    for (const folder of folders) await checkOutput(folder, { overwrite: values.overwrite, sources: [values.model] });
    const started = performance.now();
    const { runtime, close } = await openModel(values.model!);
    try {
      const pipeline = new PersonaPipeline(runtime);
      // Every request is checked before the first persona's minutes of work.
      for (const p of personas) checkRequest(pipeline, { ...options, persona: p.persona });
      await mkdir(values.out!, { recursive: true });
      const results = [];
      for (const [i, p] of personas.entries()) {
        const label = p.name ?? `persona ${i + 1}`;
        process.stderr.write(`[${i + 1}/${personas.length}] ${label}\n`);
        const outcome = await pruneOne(pipeline, { ...options, persona: p.persona }, folders[i]!, values.overwrite ?? false, `  `, quantize?.(runtime.tokenizer));
        results.push({ name: p.name ?? null, ...outcomeSummary(outcome) });
      }
      process.stdout.write(JSON.stringify({ out: values.out, personas: results, seconds: (performance.now() - started) / 1000 }, null, 2) + '\n');
    } finally {
      await close();
    }
  },
};
