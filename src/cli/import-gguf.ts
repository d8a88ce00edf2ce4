import { readFile } from 'node:fs/promises';
import { join } from 'node:path';
import { readGguf } from '../import/gguf-file';
import { importGguf } from '../import/import-gguf';
import { exists, writeFolderAtomic } from '../node/folder-io';
import { checkOutput } from '../node/output-guard';
import { CliUsageError, parseCommandArgs } from './args';

const usage = 'import-gguf <file.gguf> <outdir> [--if-missing] [--overwrite] [--external-data auto|always|never]';

export const importGgufCommand = {
  usage,
  async run(args: string[]) {
    const { values, positionals } = parseCommandArgs(
      args,
      { 'if-missing': { type: 'boolean' }, overwrite: { type: 'boolean' }, 'external-data': { type: 'string' } },
      usage,
    );
    const [file, outDir] = positionals;
    if (!file || !outDir || positionals.length > 2) throw new CliUsageError(`expected a .gguf file and an output folder\nusage: ${usage}`);
    const external = values['external-data'] ?? 'auto';
    if (external !== 'auto' && external !== 'always' && external !== 'never') throw new CliUsageError(`--external-data must be auto, always or never`);
    if (values['if-missing'] && (await exists(join(outDir, 'onnx', 'model.onnx')))) {
      process.stderr.write(`${outDir} already holds a model; skipping import\n`);
      return;
    }
    const check = { overwrite: values.overwrite ?? values['if-missing'] ?? false, sources: [file], option: 'output folder' };
    await checkOutput(outDir, check);
    const bytes = await readFile(file).catch((error: NodeJS.ErrnoException) => {
      throw new Error(error.code === 'ENOENT' ? `GGUF file not found: ${file} (set PPS_BUILTIN_GGUF to its path)` : `${file}: ${error.message}`);
    });
    const model = await readGguf(new Uint8Array(bytes.buffer, bytes.byteOffset, bytes.byteLength));
    const files = importGguf(model, { externalData: external });
    await writeFolderAtomic(outDir, files, check);
    const c = model.config;
    process.stderr.write(`imported ${file}: llama, ${c.nLayers} layers, dim ${c.dim}, FFN ${c.ffnDim}, vocab ${c.vocabSize} -> ${outDir}\n`);
  },
};
