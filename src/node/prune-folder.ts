/**
 * Prunes a model folder on disk into a new, complete model folder (Node only): the graph at the
 * same relative path with its weights streamed (untouched tensors copied from the source files,
 * never decoded), the tokenizer and other metadata files copied, config.json (or an onnxruntime-genai
 * folder's genai_config.json) updated, pruning.json and the README.md model card written. Optionally the
 * pruned weights are quantized to int4 MatMulNBits, with held-out NLL measured before and after. The
 * folder appears atomically (written beside it, then renamed).
 */
import { copyFile, mkdir, readdir, readFile, rm, writeFile } from 'node:fs/promises';
import { dirname, join, resolve } from 'node:path';
import { exportedGenaiConfig, GENAI_CONFIG_FILE, parseGenaiConfig } from '../model/genai-config';
import { exists, moveIntoPlace } from './folder-io';
import { modelNll } from './held-out-nll';
import { findGraphFile, readModelFolderMeta } from './model-folder';
import { checkOutput } from './output-guard';
import { exportModelCard } from '../onnx/export-model-card';
import { type KeepPlan } from '../core/keep-plan';
import { checkConfigAgainstGraph } from '../model/config-check';
import { discoverFfns } from '../onnx/ffn-discovery';
import { graphFacts } from '../onnx/graph-facts';
import { decodeFloats } from '../onnx/float-tensor';
import type { OnnxModel } from '../onnx/model-io';
import { encodeModelPieces, type ModelPieces } from '../onnx/model-pieces';
import { ModelFileSource, writeModelPieces } from './model-stream';
import { manifestJsonText, pruneModel, pruningManifest, prunedConfig, type PruneOptions, type PruneReport } from '../onnx/prune-export';
import { DataLocation } from '../onnx/proto';
import { quantizationRecord, quantizeMatMulsInt4, type QuantizationRecord, type QuantizeRequest } from '../onnx/quantize-int4';

export interface ExportFolderOptions extends Pick<PruneOptions, 'downWeights' | 'channelMeans'> {
  modelDir: string;
  plan: KeepPlan;
  outDir: string;
  /** Graph path inside modelDir; default `onnx/model.onnx`, else `model.onnx`. */
  modelFile?: string;
  /** Recorded in pruning.json. */
  method?: string;
  /** A float variant of the same model (folder), to requantize 4-bit down projections from. */
  floatModelDir?: string;
  overwrite?: boolean;
  /** Split the output weights into files of at most this size (default 2 GiB - 1). */
  maxDataFileBytes?: number;
  /** Quantize the pruned float weights to int4 MatMulNBits (and measure NLL before and after on `heldOut`). */
  quantize?: QuantizeRequest;
}


export interface ExportFolderResult {
  outDir: string;
  modelFile: string;
  report: PruneReport;
  /** Bytes of the graph and its data files. */
  modelBytes: number;
  quantization?: QuantizationRecord;
  /** Fields of the source's config.json the graph contradicted; the written config.json has the graph's values. */
  configWarnings: string[];
}

/** Weights above this go to an external data file even when the source kept them inline. */
const INLINE_LIMIT = 1 << 30;
/** Files of a model folder that are weights (never copied unpruned) or regenerated. */
const SKIP = /\.(onnx|onnx_data(_\d+)?|onnx\.data(_\d+)?|gguf|bin|safetensors|pt|pth)$|^(config|pruning|genai_config)\.json$|^README\.md$/i;

export async function exportPrunedFolder(options: ExportFolderOptions): Promise<ExportFolderResult> {
  const modelFile = options.modelFile ?? (await findGraphFile(options.modelDir));
  const target = resolve(options.outDir);
  const outputCheck = { overwrite: options.overwrite, sources: [options.modelDir, options.floatModelDir] };
  await checkOutput(options.outDir, outputCheck);
  const source = await ModelFileSource.open(join(options.modelDir, modelFile));
  const floatSource = options.floatModelDir ? await ModelFileSource.open(join(options.floatModelDir, await findGraphFile(options.floatModelDir))) : undefined;
  const temp = `${target}.partial-${process.pid}`;
  try {
    const ffns = discoverFfns(source.model);
    const floatFfns = floatSource ? discoverFfns(floatSource.model) : undefined;
    const { model: pruned, report } = await pruneModel(source.model, options.plan, {
      ffns,
      readExternal: (location, offset, length) => source.read(location, offset, length),
      downWeights: options.downWeights,
      channelMeans: options.channelMeans,
      floatDownWeights: floatSource
        ? async (layer) => {
            const w = floatFfns![layer]?.down.weight;
            if (w?.format !== 'float') throw new Error(`The float model's layer ${layer} down projection is not a float MatMul`);
            const t = floatSource.model.graph!.initializer!.find((i) => i.name === w.initializer)!;
            return decodeFloats(await floatSource.tensorData(t), w.dataType);
          }
        : undefined,
    });

    const external = source.externalFiles;
    const initializers = source.model.graph?.initializer ?? [];
    const allExternal = initializers.length > 0 && external.length > 0 && initializers.every((t) => t.data_location === DataLocation.EXTERNAL);
    const inlineBytes = (pruned.graph?.initializer ?? []).reduce((n, t) => n + (t.raw_data?.byteLength ?? 0), 0);
    const location = external[0]?.replace(/_\d+$/, '') ?? (inlineBytes > INLINE_LIMIT ? `${modelFile.split('/').pop()}_data` : undefined);
    const encode = (m: OnnxModel) =>
      encodeModelPieces(m, location ? { externalData: { location, thresholdBytes: allExternal ? 0 : 1024, maxFileBytes: options.maxDataFileBytes } } : {});
    let pieces = encode(pruned);
    let quantization: QuantizationRecord | undefined;
    if (options.quantize) {
      const quantized = await quantizeMatMulsInt4(pruned, (t) => source.tensorData(t), options.quantize);
      const floatPieces = pieces;
      pieces = encode(quantized.model);
      const heldOut = options.quantize.heldOut;
      let nll;
      if (heldOut?.sequences.length) {
        const { config } = await readModelFolderMeta(options.modelDir, modelFile);
        const dataFolder = dirname(resolve(options.modelDir, modelFile));
        nll = { before: await modelNll(pruned, dataFolder, config, heldOut.sequences), after: await modelNll(quantized.model, dataFolder, config, heldOut.sequences) };
      }
      quantization = quantizationRecord(options.quantize, quantized.quantized.length, { before: piecesBytes(floatPieces), after: piecesBytes(pieces) }, nll);
    }

    await rm(temp, { recursive: true, force: true });
    const graphPath = join(temp, modelFile);
    await mkdir(dirname(graphPath), { recursive: true });
    await writeModelPieces(graphPath, pieces, source);
    for (const entry of await readdir(options.modelDir, { withFileTypes: true })) {
      if (entry.isFile() && !SKIP.test(entry.name)) await copyFile(join(options.modelDir, entry.name), join(temp, entry.name));
    }
    const configPath = join(options.modelDir, 'config.json');
    let configWarnings: string[] = [];
    if (await exists(configPath)) {
      const checked = checkConfigAgainstGraph(JSON.parse(await readFile(configPath, 'utf8')), graphFacts(source.model, ffns), configPath);
      configWarnings = checked.warnings;
      await writeFile(join(temp, 'config.json'), manifestJsonText(prunedConfig(checked.config, options.plan)));
    }
    const genaiPath = join(options.modelDir, GENAI_CONFIG_FILE);
    if (await exists(genaiPath)) {
      const genai = parseGenaiConfig(JSON.parse(await readFile(genaiPath, 'utf8')));
      await writeFile(join(temp, GENAI_CONFIG_FILE), JSON.stringify(exportedGenaiConfig(genai, modelFile), null, 2) + '\n');
    }
    const manifest = { ...pruningManifest(options.plan, report, options.method ?? 'unspecified'), ...(quantization && { quantization }) };
    await writeFile(join(temp, 'pruning.json'), manifestJsonText(manifest));
    await writeModelCard(temp, modelFile);
    await moveIntoPlace(temp, target, outputCheck);
    return { outDir: options.outDir, modelFile, report, modelBytes: piecesBytes(pieces), configWarnings, ...(quantization && { quantization }) };
  } catch (error) {
    await rm(temp, { recursive: true, force: true });
    throw error;
  } finally {
    await source.close();
    await floatSource?.close();
  }
}

const piecesBytes = (pieces: ModelPieces) => pieces.model.byteLength + pieces.dataFiles.reduce((n, f) => n + f.size, 0);

/** (Re)writes an exported folder's README.md from its pruning.json (call again after adding fields to it). */
export async function writeModelCard(dir: string, modelFile: string): Promise<void> {
  const manifest = JSON.parse(await readFile(join(dir, 'pruning.json'), 'utf8')) as Record<string, unknown>;
  const layout = { graphFile: modelFile, genai: await exists(join(dir, GENAI_CONFIG_FILE)), configJson: await exists(join(dir, 'config.json')) };
  await writeFile(join(dir, 'README.md'), exportModelCard(manifest, layout));
}
