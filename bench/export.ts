/**
 * Export rows: writing a structurally pruned model (the CLI `export`, which streams untouched
 * weights from the source files) against a plain file copy of the same model, on a synthetic
 * ~500 MB fp32 model built into a temporary folder. Each export runs in its own process and reports
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

async function exportInChild(model: string, plan: string, out: string): Promise<ExportSummary> {
  await rm(out, { recursive: true, force: true });
  await run('sync');
  const args = ['--import', 'tsx', 'src/cli/main.ts', 'export', '--model', model, '--plan', plan, '--out', out];
  const { stdout } = await run(process.execPath, args, { cwd: root, maxBuffer: 64 * MB });
  return JSON.parse(stdout) as ExportSummary;
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
    const plans = [
      { name: 'dense', label: 'export, 0% sparsity (every weight streamed through)', keep: () => [...Array(shape.ffn).keys()] },
      { name: 'half', label: 'export, 50% FFN sparsity (every other channel)', keep: () => [...Array(shape.ffn).keys()].filter((c) => c % 2 === 0) },
    ];
    for (const plan of plans) {
      const planPath = join(dir, `${plan.name}.json`);
      await writeFile(planPath, JSON.stringify({ keep: Array.from({ length: shape.layers }, plan.keep) }));
      const runs = await sequence(RUNS, () => exportInChild(model.dir, planPath, join(dir, `out-${plan.name}`)));
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
