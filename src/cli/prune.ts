/**
 * `prune`: one persona → a pruned model folder (the persona pipeline on onnxruntime-node). The option
 * parsing, model opening and progress printing here are shared with `batch`.
 */
import { mkdtemp, readFile, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { readGguf } from '../import/gguf-file';
import { importGguf } from '../import/import-gguf';
import { exists, writeFolderAtomic } from '../node/folder-io';
import { checkOutput } from '../node/output-guard';
import { NodePipelineRuntime } from '../node/pipeline-runtime';
import { PersonaPipeline, type PipelineProgress, type PruneOutcome } from '../pipeline/persona-pipeline';
import { PruneRequestError, type PruneRequest } from '../pipeline/request';
import { ALLOCATIONS, type AllocationKind } from '../pruning/allocation';
import { PRUNE_METHODS, type PruneMethod } from '../pruning/plan-builder';
import { sparsityProblem } from '../pruning/sparsity-range';
import type { QuantizeRequest } from '../onnx/quantize-int4';
import { CliUsageError, numberOption, parseCommandArgs } from './args';
import { QUANTIZE_USAGE, quantizeOptions, quantizeRequest } from './quantize-option';
import { printWarnings } from './warnings';

const usage =
  `prune --model <model dir | .gguf> --persona <text | @file> --sparsity 0.25 --out <dir> [--method persona|reconstruct|activation|wanda-sp|flap|magnitude|random] [--allocation uniform|global|owl] [--samples N] [--seed S] [--no-filter] [--no-synthesis] [--sequential | --no-sequential] [--no-search] [--examples <text | @file, one example a line>] [--overwrite] ${QUANTIZE_USAGE}`;

/** The options `prune` and `batch` share. */
export const pipelineOptions = {
  model: { type: 'string' },
  sparsity: { type: 'string' },
  method: { type: 'string' },
  allocation: { type: 'string' },
  samples: { type: 'string' },
  seed: { type: 'string' },
  'no-filter': { type: 'boolean' },
  'no-synthesis': { type: 'boolean' },
  sequential: { type: 'boolean' },
  'no-sequential': { type: 'boolean' },
  'no-search': { type: 'boolean' },
  examples: { type: 'string' },
  out: { type: 'string' },
  overwrite: { type: 'boolean' },
  ...quantizeOptions,
} as const;

type OptionValues = { [K in keyof typeof pipelineOptions]?: (typeof pipelineOptions)[K]['type'] extends 'string' ? string : boolean };

/** A `<text | @file>` argument: the text itself, or the contents of the file after the @. */
async function textArgument(value: string, name: string): Promise<string> {
  if (!value.startsWith('@')) return value;
  const path = value.slice(1);
  return readFile(path, 'utf8').catch((error: NodeJS.ErrnoException) => {
    throw new CliUsageError(error.code === 'ENOENT' ? `--${name}: file not found: ${path}` : `--${name}: ${path}: ${error.message}`);
  });
}

/** Everything of a request but the persona, from the shared options (checked before any model is loaded). */
export async function requestOptions(values: OptionValues, usageLine: string): Promise<Omit<PruneRequest, 'persona'>> {
  if (!values.model || !values.out || values.sparsity === undefined) throw new CliUsageError(`--model, --sparsity and --out are required\nusage: ${usageLine}`);
  const sparsity = Number(values.sparsity);
  const sparsityError = sparsityProblem(sparsity);
  if (sparsityError) throw new CliUsageError(`--${sparsityError}`);
  const method = (values.method ?? 'persona') as PruneMethod;
  if (!PRUNE_METHODS.includes(method)) throw new CliUsageError(`unknown --method "${method}" (one of ${PRUNE_METHODS.join(', ')})`);
  const allocation = (values.allocation ?? 'uniform') as AllocationKind;
  if (!ALLOCATIONS.includes(allocation)) throw new CliUsageError(`unknown --allocation "${allocation}" (one of ${ALLOCATIONS.join(', ')})`);
  if (values.sequential && values['no-sequential']) throw new CliUsageError('--sequential and --no-sequential contradict each other');
  const examples = values.examples === undefined ? undefined : (await textArgument(values.examples, 'examples')).split('\n').filter((line) => line.trim() !== '');
  return {
    sparsity,
    method,
    allocation,
    samples: values.samples === undefined ? undefined : numberOption(values.samples, 'samples', 0, { integer: true, min: 1 }),
    seed: numberOption(values.seed, 'seed', 0, { integer: true }),
    filter: !values['no-filter'],
    synthesis: !values['no-synthesis'],
    ...((values.sequential || values['no-sequential']) && { sequential: values.sequential === true }),
    ...(values['no-search'] && { search: false as const }),
    ...(examples && { userExamples: examples }),
  };
}

/** A model folder, or a .gguf imported into a temporary folder that `close` removes. */
export async function openModel(path: string): Promise<{ runtime: NodePipelineRuntime; close: () => Promise<void> }> {
  if (!(await exists(path))) throw new CliUsageError(`--model: ${path} does not exist`);
  let temp: string | undefined;
  let dir = path;
  if (path.toLowerCase().endsWith('.gguf')) {
    process.stderr.write(`importing ${path}\n`);
    const bytes = await readFile(path);
    temp = await mkdtemp(join(tmpdir(), 'pps-prune-'));
    dir = join(temp, 'model');
    await writeFolderAtomic(dir, importGguf(await readGguf(new Uint8Array(bytes.buffer, bytes.byteOffset, bytes.byteLength))));
  }
  try {
    const runtime = await NodePipelineRuntime.open(dir);
    printWarnings(runtime.configWarnings);
    return {
      runtime,
      close: async () => {
        await runtime.dispose();
        if (temp) await rm(temp, { recursive: true, force: true });
      },
    };
  } catch (error) {
    if (temp) await rm(temp, { recursive: true, force: true });
    throw error;
  }
}

/** One stderr line when a phase starts and one when it completes, with the seconds it took (where the time goes). */
export function progressPrinter(prefix = ''): (p: PipelineProgress) => void {
  let current = '';
  let finished = false;
  let started = 0;
  return (p) => {
    const phase = `${p.phase}${p.set ? ` (${p.set})` : ''}`;
    if (phase !== current) {
      current = phase;
      finished = false;
      started = performance.now();
      process.stderr.write(`${prefix}${phase}...\n`);
    }
    if (p.done === p.total && p.total > 0 && !finished) {
      finished = true;
      process.stderr.write(`${prefix}${phase}: ${p.done}/${p.total} done in ${((performance.now() - started) / 1000).toFixed(1)} s\n`);
    }
  };
}

/** A request the pipeline rejects is a usage error. */
export function checkRequest(pipeline: PersonaPipeline, request: PruneRequest): void {
  try {
    pipeline.resolve(request);
  } catch (error) {
    if (error instanceof PruneRequestError) throw new CliUsageError(error.message);
    throw error;
  }
}

export async function pruneOne(
  pipeline: PersonaPipeline,
  request: PruneRequest,
  out: string,
  overwrite: boolean,
  prefix = '',
  quantize?: QuantizeRequest,
): Promise<PruneOutcome> {
  checkRequest(pipeline, request);
  return pipeline.prune(request, { onProgress: progressPrinter(prefix), out: { target: out, overwrite, ...(quantize && { quantize }) } });
}

/** The JSON printed for one pruned model. */
export function outcomeSummary(outcome: PruneOutcome): Record<string, unknown> {
  const { calibration, plan } = outcome;
  const brief = (c: (typeof calibration)['persona']) => c && { samples: c.samples, tokens: c.tokens, countedTokens: c.countedTokens };
  return {
    out: outcome.export?.target,
    persona: outcome.request.persona ?? null,
    method: outcome.request.method,
    scoringMethod: outcome.method,
    allocation: outcome.request.allocation,
    sparsity: plan.estimates.ffnSparsity,
    intermediateSizes: outcome.export?.intermediateSizes ?? plan.estimates.keptPerLayer,
    parameters: outcome.export?.parameters,
    ...(outcome.export?.quantization && { quantization: outcome.export.quantization }),
    calibration: { persona: brief(calibration.persona) ?? null, generic: brief(calibration.generic) ?? null },
    ...(outcome.selection && { selection: { chosen: outcome.selection.chosen, heldOutKl: outcome.selection.heldOutKl, candidates: outcome.selection.candidates.length } }),
  };
}

export const pruneCommand = {
  usage,
  async run(args: string[]) {
    const { values, positionals } = parseCommandArgs(args, { ...pipelineOptions, persona: { type: 'string' } }, usage);
    if (positionals.length) throw new CliUsageError(`unexpected argument "${positionals[0]}"\nusage: ${usage}`);
    if (values.persona === undefined) throw new CliUsageError(`--persona is required (the character description, or @file)\nusage: ${usage}`);
    const persona = (await textArgument(values.persona, 'persona')).trim();
    if (!persona) throw new CliUsageError('--persona is empty: describe the character');
    const options = await requestOptions(values, usage);
    const quantize = await quantizeRequest(values);
    await checkOutput(values.out!, { overwrite: values.overwrite, sources: [values.model] });
    const started = performance.now();
    const { runtime, close } = await openModel(values.model!);
    try {
      const outcome = await pruneOne(new PersonaPipeline(runtime), { ...options, persona }, values.out!, values.overwrite ?? false, '', quantize?.(runtime.tokenizer));
      process.stderr.write(`wrote ${values.out}\n`);
      process.stdout.write(JSON.stringify({ ...outcomeSummary(outcome), seconds: (performance.now() - started) / 1000 }, null, 2) + '\n');
    } finally {
      await close();
    }
  },
};
