/** `eval`: NLL and perplexity of a model folder on a set of texts (BOS prepended, every later token predicted). */
import { readFile } from 'node:fs/promises';
import { evaluateTexts } from '../eval/text-set';
import { NodePipelineRuntime } from '../node/pipeline-runtime';
import { CliUsageError, parseCommandArgs } from './args';

const usage = 'eval --model <model dir> --texts <file.jsonl, one {"text": ...} a line>';

/** Reads a JSON-lines file; `pick` turns each object into a value, or throws a message saying what is wrong with it. */
export async function readJsonLines<T>(file: string, what: string, pick: (value: Record<string, unknown>) => T): Promise<T[]> {
  const text = await readFile(file, 'utf8').catch((error: NodeJS.ErrnoException) => {
    throw new CliUsageError(error.code === 'ENOENT' ? `${file} does not exist` : `${file}: ${error.message}`);
  });
  const items: T[] = [];
  text.split('\n').forEach((line, i) => {
    if (!line.trim()) return;
    let value: unknown;
    try {
      value = JSON.parse(line);
    } catch (error) {
      throw new CliUsageError(`${file}:${i + 1}: not JSON (${(error as Error).message})`);
    }
    try {
      if (typeof value !== 'object' || value === null || Array.isArray(value)) throw new Error(`expected ${what}`);
      items.push(pick(value as Record<string, unknown>));
    } catch (error) {
      throw new CliUsageError(`${file}:${i + 1}: ${(error as Error).message}`);
    }
  });
  if (items.length === 0) throw new CliUsageError(`${file} holds no lines of ${what}`);
  return items;
}

/** A JSON-lines file of {"text": ...} objects, each non-empty. */
export function readTexts(file: string): Promise<string[]> {
  return readJsonLines(file, 'an object with a string "text"', (o) => {
    if (typeof o.text !== 'string') throw new Error('expected an object with a string "text"');
    if (o.text.trim() === '') throw new Error('the text is empty');
    return o.text;
  });
}

export const evalCommand = {
  usage,
  async run(args: string[]) {
    const { values, positionals } = parseCommandArgs(args, { model: { type: 'string' }, texts: { type: 'string' } }, usage);
    if (!values.model || !values.texts || positionals.length) throw new CliUsageError(`--model and --texts are required\nusage: ${usage}`);
    const texts = await readTexts(values.texts);
    const runtime = await NodePipelineRuntime.open(values.model);
    try {
      process.stderr.write(`evaluating ${texts.length} texts with ${values.model}\n`);
      const summary = await evaluateTexts(runtime, texts);
      process.stdout.write(JSON.stringify(summary) + '\n');
    } finally {
      await runtime.dispose();
    }
  },
};
