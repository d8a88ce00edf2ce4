/** `stats`: per-layer down_proj input statistics of a model over a set of texts (the calibration engine on the CPU). */
import { readFile, writeFile } from 'node:fs/promises';
import { runCalibration, type CalibrationProgress } from '../calibration/engine';
import { createCpuAccumulator } from '../calibration/engine-accumulator-cpu';
import type { CalibrationSample } from '../core/stats';
import { loadNodeCalibrationModel } from '../node/calibration-engine';
import { statsToJson } from '../core/stats';
import type { TextTokenizer } from '../model/tokenizer';
import { lengthProblem, positionLimit } from '../model/positions';
import { checkOutput } from '../node/output-guard';
import { CliUsageError, numberOption, parseCommandArgs } from './args';
import { printWarnings } from './warnings';

const usage = 'stats --model <model dir> --texts <file.jsonl, one {"text": ...} a line> --out <stats.json> [--batch-size N] [--overwrite]';

/**
 * One sample per line: every token counts with weight 1, BOS first when the tokenizer's config asks for it.
 * A line longer than `limit` tokens (the model's positions) is refused before anything runs.
 */
function parseTextSamples(jsonl: string, file: string, tokenizer: TextTokenizer, limit?: number): CalibrationSample[] {
  const samples: CalibrationSample[] = [];
  jsonl.split('\n').forEach((line, i) => {
    if (!line.trim()) return;
    const where = `${file}:${i + 1}`;
    let text: unknown;
    try {
      text = (JSON.parse(line) as { text?: unknown })?.text;
    } catch (error) {
      throw new CliUsageError(`${where}: not JSON (${(error as Error).message})`);
    }
    if (typeof text !== 'string') throw new CliUsageError(`${where}: expected an object with a string "text"`);
    const ids = tokenizer.encode(text, { addBos: tokenizer.addsBos });
    if (ids.length === 0) throw new CliUsageError(`${where}: the text has no tokens`);
    const problem = lengthProblem(ids.length, limit, `${where}: the text`);
    if (problem) throw new CliUsageError(`${problem}; shorten or split it`);
    samples.push({ ids, weights: new Float32Array(ids.length).fill(1) });
  });
  if (samples.length === 0) throw new CliUsageError(`${file} holds no texts`);
  return samples;
}

function progressLine(p: CalibrationProgress): string {
  const eta = p.etaSeconds === undefined ? '' : `, ${p.etaSeconds.toFixed(1)} s left`;
  return `stats: ${p.samples}/${p.totalSamples} texts, ${p.tokens}/${p.totalTokens} tokens, ${p.tokensPerSecond.toFixed(0)} tokens/s${eta}\n`;
}

export const statsCommand = {
  usage,
  async run(args: string[]) {
    const { values, positionals } = parseCommandArgs(
      args,
      { model: { type: 'string' }, texts: { type: 'string' }, out: { type: 'string' }, 'batch-size': { type: 'string' }, overwrite: { type: 'boolean' } },
      usage,
    );
    if (!values.model || !values.texts || !values.out || positionals.length) {
      throw new CliUsageError(`--model, --texts and --out are required\nusage: ${usage}`);
    }
    const batchSize = numberOption(values['batch-size'], 'batch-size', 4, { integer: true, min: 1 });
    const jsonl = await readFile(values.texts, 'utf8').catch((error: NodeJS.ErrnoException) => {
      throw new CliUsageError(error.code === 'ENOENT' ? `${values.texts} does not exist` : `${values.texts}: ${error.message}`);
    });
    await checkOutput(values.out, { kind: 'file', overwrite: values.overwrite, sources: [values.model] });
    const model = await loadNodeCalibrationModel(values.model);
    printWarnings(model.configWarnings);
    try {
      const samples = parseTextSamples(jsonl, values.texts, model.tokenizer, positionLimit(model.config));
      const started = performance.now();
      const result = await runCalibration(model, samples, createCpuAccumulator, {
        batchSize,
        onProgress: (p) => process.stderr.write(progressLine(p)),
      });
      if (result.status !== 'done') throw new Error('calibration was cancelled');
      // Again at the last moment: the file may have appeared while the statistics ran.
      await checkOutput(values.out, { kind: 'file', overwrite: values.overwrite, sources: [values.model] });
      await writeFile(values.out, JSON.stringify(statsToJson(result.stats)) + '\n');
      const { layers, tokens } = result.stats;
      process.stdout.write(
        JSON.stringify({ out: values.out, layers: layers.length, channels: layers.map((l) => l.sum.length), texts: samples.length, tokens, seconds: (performance.now() - started) / 1000 }) + '\n',
      );
    } finally {
      await model.session.release();
    }
  },
};
