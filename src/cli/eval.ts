/** `eval`: NLL and perplexity of a model folder on a set of texts (BOS prepended, every later token predicted). */
import { readFile } from 'node:fs/promises';
import { evaluateTexts, evaluationIds } from '../pipeline/text-set';
import { lengthProblem, positionLimit } from '../model/positions';
import { NodePipelineRuntime } from '../node/pipeline-runtime';
import { CliUsageError, parseCommandArgs } from './args';
import { printWarnings } from './warnings';

const usage = 'eval --model <model dir> --texts <file.jsonl, one {"text": ...} a line> [--window]   (--window: score texts longer than the model\'s positions in sliding windows of that length, half a window apart)';

/** Reads a JSON-lines file; `pick` turns each object into a value, or throws a message saying what is wrong with it. */
export async function readJsonLines<T>(file: string, what: string, pick: (value: Record<string, unknown>, line: number) => T): Promise<T[]> {
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
      items.push(pick(value as Record<string, unknown>, i + 1));
    } catch (error) {
      throw new CliUsageError(`${file}:${i + 1}: ${(error as Error).message}`);
    }
  });
  if (items.length === 0) throw new CliUsageError(`${file} holds no lines of ${what}`);
  return items;
}

/** A JSON-lines file of {"text": ...} objects, each non-empty, with their line numbers. */
export function readTexts(file: string): Promise<{ text: string; line: number }[]> {
  return readJsonLines(file, 'an object with a string "text"', (o, line) => {
    if (typeof o.text !== 'string') throw new Error('expected an object with a string "text"');
    if (o.text.trim() === '') throw new Error('the text is empty');
    return { text: o.text, line };
  });
}

export const evalCommand = {
  usage,
  async run(args: string[]) {
    const { values, positionals } = parseCommandArgs(args, { model: { type: 'string' }, texts: { type: 'string' }, window: { type: 'boolean' } }, usage);
    if (!values.model || !values.texts || positionals.length) throw new CliUsageError(`--model and --texts are required\nusage: ${usage}`);
    const texts = await readTexts(values.texts);
    const runtime = await NodePipelineRuntime.open(values.model);
    printWarnings(runtime.configWarnings);
    try {
      // Every text is measured before any is run: a too-long one would fail inside the graph after the others.
      const limit = positionLimit(runtime.config);
      if (!values.window) {
        for (const { text, line } of texts) {
          const problem = lengthProblem(evaluationIds(runtime.tokenizer, text).length, limit, `${values.texts}:${line}: the text (with BOS)`);
          if (problem) throw new CliUsageError(`${problem}; shorten or split it, or pass --window to score it in sliding windows`);
        }
      } else if (limit === undefined) throw new CliUsageError(`--window: ${values.model} states no position limit (max_position_embeddings), so there is nothing to window to`);
      process.stderr.write(`evaluating ${texts.length} texts with ${values.model}\n`);
      const summary = await evaluateTexts(runtime, texts.map((t) => t.text), undefined, values.window ? { limit: limit! } : undefined);
      process.stdout.write(JSON.stringify(summary) + '\n');
    } finally {
      await runtime.dispose();
    }
  },
};
