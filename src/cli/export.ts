import { readFile } from 'node:fs/promises';
import { readModelFolderMeta } from '../node/model-folder';
import { exportPrunedFolder } from '../node/prune-folder';
import { exportGgufFile } from '../node/gguf-export';
import { GGUF_WEIGHT_TYPES, type GgufWeightType } from '../gguf/llama-gguf';
import { parseKeepPlan, planSparsity, type KeepPlan } from '../core/keep-plan';
import { CliUsageError, parseCommandArgs } from './args';
import { QUANTIZE_USAGE, quantizeOptions, quantizeRequest } from './quantize-option';
import { printWarnings } from './warnings';

const usage =
  `export --model <model dir> --plan <plan.json> --out <dir> [--method <name>] [--graph <path in model dir>] [--float-model <dir>] [--overwrite] ${QUANTIZE_USAGE}\n` +
  '  export --format gguf --model <model dir | .gguf> [--plan <plan.json>] --out <file.gguf> [--gguf-type f32|f16|q8_0] [--gguf-pre NAME] [--overwrite]';

/** `export`: writes a structurally pruned copy of a model folder; plan.json is {"keep": [[...], ...]}. */
export const exportCommand = {
  usage,
  async run(args: string[]) {
    const { values, positionals } = parseCommandArgs(
      args,
      {
        model: { type: 'string' },
        plan: { type: 'string' },
        out: { type: 'string' },
        method: { type: 'string' },
        graph: { type: 'string' },
        'float-model': { type: 'string' },
        overwrite: { type: 'boolean' },
        ...quantizeOptions,
        format: { type: 'string' },
        'gguf-type': { type: 'string' },
        'gguf-pre': { type: 'string' },
      },
      usage,
    );
    const format = values.format ?? 'onnx';
    if (format !== 'onnx' && format !== 'gguf') throw new CliUsageError(`--format must be onnx or gguf, got "${format}"\nusage: ${usage}`);
    for (const option of ['gguf-type', 'gguf-pre'] as const) {
      if (values[option] !== undefined && format !== 'gguf') throw new CliUsageError(`--${option} needs --format gguf\nusage: ${usage}`);
    }
    if (format === 'gguf') {
      if (!values.model || !values.out || positionals.length) throw new CliUsageError(`--model and --out are required\nusage: ${usage}`);
      return exportGguf(values.model, values.plan === undefined ? undefined : await readPlan(values.plan), values.out, values['gguf-type'], values['gguf-pre'], values.overwrite ?? false);
    }
    if (!values.model || !values.plan || !values.out || positionals.length) throw new CliUsageError(`--model, --plan and --out are required\nusage: ${usage}`);
    const plan = await readPlan(values.plan);
    const quantize = await quantizeRequest(values);
    const started = performance.now();
    const result = await exportPrunedFolder({
      modelDir: values.model,
      plan,
      outDir: values.out,
      modelFile: values.graph,
      method: values.method,
      floatModelDir: values['float-model'],
      overwrite: values.overwrite ?? false,
      ...(quantize && { quantize: quantize((await readModelFolderMeta(values.model, values.graph)).tokenizer) }),
    });
    const seconds = (performance.now() - started) / 1000;
    printWarnings(result.configWarnings);
    const { report } = result;
    for (const l of report.layers) {
      if (l.addedError) process.stderr.write(`layer ${l.layer}: down ${l.down} (from ${l.requantizedFrom}), added error max ${l.addedError.maxAbs.toExponential(2)} rms ${l.addedError.rms.toExponential(2)}\n`);
    }
    process.stderr.write(`wrote ${values.out} (${(result.modelBytes / 1e6).toFixed(1)} MB of model in ${seconds.toFixed(2)} s)\n`);
    const summary = {
      out: values.out,
      modelFile: result.modelFile,
      sparsity: planSparsity(plan, report.layers.map((l) => l.before)),
      intermediateSizes: report.layers.map((l) => l.after),
      parameters: report.parameters,
      downEdits: report.layers.map((l) => l.down),
      modelBytes: result.modelBytes,
      ...(result.quantization && { quantization: result.quantization }),
      seconds,
      peakRssBytes: await peakRssBytes(),
    };
    process.stdout.write(JSON.stringify(summary, null, 2) + '\n');
  },
};

async function readPlan(path: string): Promise<KeepPlan> {
  const text = await readFile(path, 'utf8').catch((error: NodeJS.ErrnoException) => {
    throw new Error(error.code === 'ENOENT' ? `plan file not found: ${path}` : `${path}: ${error.message}`);
  });
  // Its messages name the layer and entry at fault; the plan is the only file given, so they need no path.
  return parseKeepPlan(text);
}

/** `--format gguf`: one GGUF file for llama.cpp (arch llama for uniform FFN widths, deci otherwise). */
async function exportGguf(model: string, plan: KeepPlan | undefined, out: string, typeOption: string | undefined, pre: string | undefined, overwrite: boolean): Promise<void> {
  const type = (typeOption ?? 'f16') as GgufWeightType;
  if (!GGUF_WEIGHT_TYPES.includes(type)) throw new CliUsageError(`--gguf-type must be one of ${GGUF_WEIGHT_TYPES.join(', ')}, got "${typeOption}"`);
  const started = performance.now();
  let shown = -1;
  const result = await exportGgufFile({
    model,
    plan,
    out,
    type,
    overwrite,
    pre,
    onTensor: (done, total) => {
      const percent = Math.floor((100 * done) / total / 10) * 10;
      if (percent !== shown) process.stderr.write(`writing tensors: ${(shown = percent)}%\n`);
    },
  });
  const seconds = (performance.now() - started) / 1000;
  if (result.f16Fallbacks.length) process.stderr.write(`kept at F16 (rows not a multiple of 32 values): ${result.f16Fallbacks.join(', ')}\n`);
  process.stderr.write(`wrote ${out} (${(result.bytes / 1e6).toFixed(1)} MB, llama.cpp architecture ${result.arch}, in ${seconds.toFixed(2)} s)\n`);
  const summary = { out, format: 'gguf', ggufType: type, ...result, seconds, peakRssBytes: await peakRssBytes() };
  process.stdout.write(JSON.stringify(summary, null, 2) + '\n');
}

/**
 * This process's resident-set high-water mark. Linux's VmHWM, when readable: getrusage's maxRSS
 * also counts the parent's memory at fork time, which would charge a benchmark's parent to us.
 */
async function peakRssBytes(): Promise<number> {
  const status = await readFile('/proc/self/status', 'utf8').catch(() => '');
  const kb = /^VmHWM:\s+(\d+) kB/m.exec(status)?.[1];
  return kb ? Number(kb) * 1024 : process.resourceUsage().maxRSS * 1024;
}
