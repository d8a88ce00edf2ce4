/**
 * Sequential reconstruction rows: the CLI `prune` with its default settings (the persona method, i.e.
 * sequential reconstruction calibrated layer by layer; 25% sparsity; 32 samples per set) against the same
 * with `--no-sequential` (one-shot reconstruction), on synthetic random-weight llama models of real shapes
 * (src/fixtures/synthetic.ts: SmolLM2-135M, Qwen2.5-0.5B), and on the same shape with half the layers for
 * the depth ratio. Each run is its own CLI process: wall time and peak RSS from /usr/bin/time.
 *
 * The models are built once into the git-ignored .cache/bench-models/ (about 0.6 GB and 2 GB of weights
 * for the full depths). `--only sequential:smollm2-135m` (or `qwen2.5-0.5b`) runs one model;
 * PPS_BENCH_SAMPLES=N changes the sample count, and PPS_BENCH_PRUNE_FLAGS adds CLI flags (e.g. `--no-filter`),
 * for a slow machine; the rows then say so.
 */
import { execFile } from 'node:child_process';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { promisify } from 'node:util';
import { SYNTHETIC_SHAPES, buildSyntheticModel, type SyntheticShape } from '../src/fixtures/synthetic';
import { loadBuiltin } from '../src/fixtures/builtin';
import { exists } from '../src/node/folder-io';
import type { Row } from './row';

const run = promisify(execFile);
const root = join(dirname(fileURLToPath(import.meta.url)), '..');
const cache = join(root, '.cache', 'bench-models');
const MODELS: Record<string, SyntheticShape> = {
  'smollm2-135m': SYNTHETIC_SHAPES['synthetic-smollm2-135m'],
  'qwen2.5-0.5b': SYNTHETIC_SHAPES['synthetic-qwen2.5-0.5b'],
};
const PERSONA = 'Captain Bob is an old pirate who sails the seven seas with his green parrot and loves telling tall tales.';
const SPARSITY = 0.25;

interface Measured {
  seconds: number;
  /** User + system CPU seconds: steadier than wall time on a machine shared with other work. */
  cpuSeconds: number;
  peakRssMb: number;
}

async function modelFolder(name: string, shape: SyntheticShape): Promise<string> {
  const dir = join(cache, `${name}-${shape.layers}l`);
  if (!(await exists(dir))) await buildSyntheticModel(dir, shape, { tokenizer: await loadBuiltin() });
  return dir;
}

async function prune(model: string, samples: number, extra: string[]): Promise<Measured> {
  const out = await mkdtemp(join(tmpdir(), 'pps-bench-prune-'));
  try {
    const cli = [process.execPath, '--import', 'tsx', 'src/cli/main.ts', 'prune', '--model', model, '--persona', PERSONA, '--sparsity', String(SPARSITY)];
    const args = ['-f', 'PPS_TIME %e %M %U %S', ...cli, '--samples', String(samples), ...extra, '--out', join(out, 'pruned')];
    const { stderr } = await run('/usr/bin/time', args, { cwd: root, maxBuffer: 1 << 28 });
    // Where the time went, per pipeline phase (the CLI's progress lines), for whoever reads the log.
    const phases = stderr.split('\n').filter((line) => line.includes(' done in '));
    process.stderr.write(`sequential: ${model} ${extra.join(' ')}\n${phases.map((line) => `  ${line}\n`).join('')}`);
    const m = /PPS_TIME ([\d.]+) (\d+) ([\d.]+) ([\d.]+)/.exec(stderr);
    if (!m) throw new Error(`no timing from /usr/bin/time: ${stderr.slice(-500)}`);
    return { seconds: Number(m[1]), peakRssMb: Number(m[2]) / 1024, cpuSeconds: Number(m[3]) + Number(m[4]) };
  } finally {
    await rm(out, { recursive: true, force: true });
  }
}

const describeRun = (label: string, r: Measured) => `${label} ${r.seconds.toFixed(1)} s (CPU ${r.cpuSeconds.toFixed(1)} s), peak RSS ${r.peakRssMb.toFixed(0)} MB`;
const ratios = (a: Measured, b: Measured) => `${(a.seconds / b.seconds).toFixed(2)}x (CPU time ${(a.cpuSeconds / b.cpuSeconds).toFixed(2)}x)`;

export async function rows(only: ReadonlySet<string> = new Set()): Promise<Row[]> {
  const samples = Number(process.env.PPS_BENCH_SAMPLES ?? 32);
  const flags = (process.env.PPS_BENCH_PRUNE_FLAGS ?? '').split(' ').filter(Boolean);
  const out: Row[] = [];
  for (const [name, shape] of Object.entries(MODELS)) {
    if (only.size && !only.has(name)) continue;
    const half = { ...shape, layers: Math.floor(shape.layers / 2) };
    const full = await modelFolder(name, shape);
    const shallow = await modelFolder(name, half);
    const sequential = await prune(full, samples, flags);
    const oneShot = await prune(full, samples, [...flags, '--no-sequential']);
    const sequentialHalf = await prune(shallow, samples, flags);
    const described = `synthetic ${name} shape (hidden ${shape.hidden}, FFN ${shape.ffn}, ${shape.heads}/${shape.kvHeads} heads, vocab ${shape.vocab}), CLI prune defaults at ${SPARSITY} sparsity, ${samples} samples per set${flags.length ? `, ${flags.join(' ')}` : ''}`;
    out.push(
      {
        group: 'sequential',
        measurement: `${name}, ${shape.layers} layers: sequential ÷ one-shot prune time (target <= 1.5)`,
        value: ratios(sequential, oneShot),
        notes: `${described}; ${describeRun('sequential', sequential)}; ${describeRun('one-shot (--no-sequential)', oneShot)}`,
      },
      {
        group: 'sequential',
        measurement: `${name}: ${shape.layers}-layer ÷ ${half.layers}-layer sequential prune time (target <= 2.2)`,
        value: ratios(sequential, sequentialHalf),
        notes: `${described}; ${describeRun(`${half.layers} layers:`, sequentialHalf)}`,
      },
    );
  }
  return out;
}
