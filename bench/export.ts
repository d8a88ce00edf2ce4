/**
 * Export rows: writing a structurally pruned model (the CLI `export`, which streams untouched
 * weights from the source files) and a GGUF for llama.cpp (`export --format gguf`, converted and
 * written tensor by tensor) against a plain file copy of the same model, on a synthetic
 * ~500 MB fp32 model built into a temporary folder (the GGUF takes the built-in model's tokenizer
 * files; ids past its 512 tokens become unused entries). Each export runs in its own process and reports
 * its own peak RSS. Before every timed run, dirty pages are flushed (`sync`) so no run pays for the
 * previous one's writeback; each figure is the median of 3 runs.
 */
import { execFile } from 'node:child_process';
import { copyFile, mkdir, mkdtemp, rm, stat, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { promisify } from 'node:util';
import { SYNTHETIC_SHAPES, buildSyntheticModel } from '../src/fixtures/synthetic';
import { loadBuiltin } from '../src/fixtures/builtin';
import { buildTokenizerFiles } from '../src/import/tokenizer-json';
import type { Row } from './row';

const run = promisify(execFile);
const root = join(dirname(fileURLToPath(import.meta.url)), '..');
const MB = 1e6;
const RUNS = 3;

interface ExportSummary {
  modelBytes: number;
  seconds: number;
  peakRssBytes: number;
}

const median = (values: number[]) => [...values].sort((a, b) => a - b)[Math.floor(values.length / 2)]!;

async function exportInChild(model: string, plan: string, out: string, extra: string[] = []): Promise<ExportSummary> {
  await rm(out, { recursive: true, force: true });
  await run('sync');
  const args = ['--import', 'tsx', 'src/cli/main.ts', 'export', '--model', model, '--plan', plan, '--out', out, ...extra];
  const { stdout } = await run(process.execPath, args, { cwd: root, maxBuffer: 64 * MB });
  const summary = JSON.parse(stdout) as ExportSummary & { bytes?: number };
  return { ...summary, modelBytes: summary.modelBytes ?? summary.bytes! };
}

async function timedCopy(from: string, to: string, files: string[]): Promise<number> {
  await rm(to, { recursive: true, force: true });
  await mkdir(join(to, 'onnx'), { recursive: true });
  await run('sync');
  const started = performance.now();
  for (const f of files) await copyFile(join(from, f), join(to, f));
  return (performance.now() - started) / 1000;
}

export async function rows(): Promise<Row[]> {
  const dir = await mkdtemp(join(tmpdir(), 'pps-bench-export-'));
  try {
    const shape = SYNTHETIC_SHAPES['synthetic-500mb'];
    const model = await buildSyntheticModel(join(dir, 'model'), shape);
    const files = ['onnx/model.onnx', 'onnx/model.onnx_data'];
    const sourceBytes = (await Promise.all(files.map((f) => stat(join(model.dir, f))))).reduce((n, s) => n + s.size, 0);
    const described = `synthetic fp32 llama (${shape.layers} layers, hidden ${shape.hidden}, FFN ${shape.ffn}, vocab ${shape.vocab}), ${(sourceBytes / MB).toFixed(0)} MB, source in the page cache`;

    const copySeconds = median(await sequence(RUNS, () => timedCopy(model.dir, join(dir, 'copy'), files)));
    const copyRate = sourceBytes / MB / copySeconds;
    const out: Row[] = [
      {
        group: 'export',
        measurement: 'plain file copy of the model (fs.copyFile)',
        value: `${copyRate.toFixed(0)} MB/s`,
        notes: `${(sourceBytes / MB).toFixed(0)} MB in ${copySeconds.toFixed(2)} s (median of ${RUNS}); ${described}`,
      },
    ];
    const tokenizer = buildTokenizerFiles(await loadBuiltin());
    await writeFile(join(model.dir, 'tokenizer.json'), JSON.stringify(tokenizer.tokenizerJson));
    await writeFile(join(model.dir, 'tokenizer_config.json'), JSON.stringify(tokenizer.tokenizerConfig));
    const all = () => [...Array(shape.ffn).keys()];
    const half = () => all().filter((c) => c % 2 === 0);
    const plans = [
      { name: 'dense', label: 'export, 0% sparsity (every weight streamed through)', keep: all },
      { name: 'half', label: 'export, 50% FFN sparsity (every other channel)', keep: half },
      { name: 'gguf-f32', label: 'export GGUF F32, 0% sparsity (`--format gguf --gguf-type f32`)', keep: all, extra: ['--format', 'gguf', '--gguf-type', 'f32'], file: true },
      { name: 'gguf-f16', label: 'export GGUF F16, 50% FFN sparsity', keep: half, extra: ['--format', 'gguf', '--gguf-type', 'f16'], file: true },
      { name: 'gguf-q8', label: 'export GGUF Q8_0, 50% FFN sparsity', keep: half, extra: ['--format', 'gguf', '--gguf-type', 'q8_0'], file: true },
    ];
    for (const plan of plans) {
      const planPath = join(dir, `${plan.name}.json`);
      await writeFile(planPath, JSON.stringify({ keep: Array.from({ length: shape.layers }, plan.keep) }));
      const target = join(dir, `out-${plan.name}${plan.file ? '.gguf' : ''}`);
      const runs = await sequence(RUNS, () => exportInChild(model.dir, planPath, target, plan.extra));
      const seconds = median(runs.map((r) => r.seconds));
      const rate = runs[0]!.modelBytes / MB / seconds;
      out.push({
        group: 'export',
        measurement: plan.label,
        value: `${rate.toFixed(0)} MB/s (${((100 * rate) / copyRate).toFixed(0)}% of copy)`,
        notes:
          `wrote ${(runs[0]!.modelBytes / MB).toFixed(0)} MB in ${seconds.toFixed(2)} s (median of ${RUNS}); ` +
          `peak RSS ${(Math.max(...runs.map((r) => r.peakRssBytes)) / MB).toFixed(0)} MB (VmHWM of the whole CLI process, Node and onnxruntime-node included)`,
      });
    }
    return out;
  } finally {
    await rm(dir, { recursive: true, force: true });
  }
}

async function sequence<T>(n: number, fn: () => Promise<T>): Promise<T[]> {
  const results: T[] = [];
  for (let i = 0; i < n; i++) results.push(await fn());
  return results;
}
