import { readFile } from 'node:fs/promises';
import { readModelFolderMeta } from '../node/model-folder';
import { exportPrunedFolder } from '../onnx/prune-folder-node';
import { planSparsity } from '../pruning/keep-plan';
import { CliUsageError, parseCommandArgs } from './args';
import { QUANTIZE_USAGE, quantizeOptions, quantizeRequest } from './quantize-option';
import { printWarnings } from './warnings';

const usage =
  `export --model <model dir> --plan <plan.json> --out <dir> [--method <name>] [--graph <path in model dir>] [--float-model <dir>] [--overwrite] ${QUANTIZE_USAGE}`;

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
      },
      usage,
    );
    if (!values.model || !values.plan || !values.out || positionals.length) throw new CliUsageError(`--model, --plan and --out are required\nusage: ${usage}`);
    const text = await readFile(values.plan, 'utf8').catch((error: NodeJS.ErrnoException) => {
      throw new Error(error.code === 'ENOENT' ? `plan file not found: ${values.plan}` : `${values.plan}: ${error.message}`);
    });
    let plan: unknown;
    try {
      plan = JSON.parse(text);
    } catch (error) {
      throw new Error(`${values.plan} is not valid JSON: ${(error as Error).message}`);
    }
    const quantize = await quantizeRequest(values);
    const started = performance.now();
    const result = await exportPrunedFolder({
      modelDir: values.model,
      plan: plan as { keep: number[][] },
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
      sparsity: planSparsity(plan as { keep: number[][] }, report.layers.map((l) => l.before)),
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

/**
 * This process's resident-set high-water mark. Linux's VmHWM, when readable: getrusage's maxRSS
 * also counts the parent's memory at fork time, which would charge a benchmark's parent to us.
 */
async function peakRssBytes(): Promise<number> {
  const status = await readFile('/proc/self/status', 'utf8').catch(() => '');
  const kb = /^VmHWM:\s+(\d+) kB/m.exec(status)?.[1];
  return kb ? Number(kb) * 1024 : process.resourceUsage().maxRSS * 1024;
}
