/**
 * Fetches one variant of an inspected source and checks it on the way: the graph header first (is it
 * an LM, which external-data files does it name, does it fit in memory), then only the data files the
 * graph's own `location` fields name, then that those files hold every tensor. Returns the files as
 * Blobs for the runtime worker and the model card.
 */
import { memoryVerdict, type MemoryLimits, type MemoryVerdict } from '../model/memory-estimate';
import { configFromGenai, GENAI_CONFIG_FILE, generationConfigFromGenai } from '../model/genai-config';
import { modelCard, type ModelCard } from '../model/model-card';
import { discoverFfns } from '../onnx/ffn-discovery';
import { checkExternalLocation, externalDataLocations, parseModel, type OnnxModel } from '../onnx/model-io';
import type { BundleFiles } from './bundle-files';
import { externalTensors, findTruncation, checkCausalLm } from './graph-checks';
import type { Inspection } from './inspect';
import { cardMemoryInputs } from './memory-inputs';
import { ProgressMeter, type ProgressSnapshot } from './progress';
import type { SourceAccess } from './source-access';

export interface OpenOptions {
  signal?: AbortSignal;
  onProgress?(progress: ProgressSnapshot): void;
  /** Checked once the graph header is read; a model that does not fit stops before its weights are fetched. */
  memory?: { limits: MemoryLimits; batchTokens: number };
  now?: () => number;
}

export interface OpenedModel {
  files: BundleFiles;
  card: ModelCard;
  verdict: MemoryVerdict | undefined;
}

export class MemoryLimitError extends Error {
  override name = 'MemoryLimitError';
  constructor(readonly verdict: MemoryVerdict) {
    super(verdict.summary);
  }
}

/** The source's files are not a usable model (truncated data, a non-LM graph, missing pieces). */
export class UnusableModelError extends Error {
  override name = 'UnusableModelError';
}

export async function openVariant(access: SourceAccess, inspection: Inspection, variantId: string, options: OpenOptions = {}): Promise<OpenedModel> {
  if (inspection.problems.length) throw new UnusableModelError(inspection.problems.join(' '));
  const variant = inspection.variants.find((v) => v.id === variantId);
  if (!variant) throw new Error(`${inspection.label} has no variant ${variantId}.`);
  const { signal } = options;
  const listed = new Map(inspection.listing.files.map((f) => [f.path, f.size]));
  const totalOf = (paths: string[]) => {
    const sizes = paths.map((p) => listed.get(p));
    return sizes.every((s) => s !== undefined) ? sizes.reduce((a, b) => a! + b!, 0) : undefined;
  };
  const hasGenerationConfig = listed.has('generation_config.json');
  const { genaiConfig } = inspection;
  const small = [genaiConfig ? GENAI_CONFIG_FILE : 'config.json', ...(hasGenerationConfig ? ['generation_config.json'] : []), 'tokenizer.json', 'tokenizer_config.json'];
  const meter = new ProgressMeter(totalOf([...small, variant.graph.path, ...variant.dataFiles.map((f) => f.path)]), options.now);
  const fetchFile = (path: string) =>
    access.file(path, {
      size: listed.get(path),
      signal,
      onStart: ({ reused }) => {
        meter.reuse(reused);
        options.onProgress?.(meter.snapshot(path));
      },
      onBytes: (bytes) => {
        meter.received(bytes);
        options.onProgress?.(meter.snapshot(path));
      },
    });

  // A genai folder's genai_config.json was read by inspection; its config is made once the graph is here.
  const configFile = genaiConfig ? undefined : await fetchFile('config.json');
  if (genaiConfig) await fetchFile(GENAI_CONFIG_FILE);
  let generationConfig = hasGenerationConfig ? await fetchFile('generation_config.json') : null;
  const tokenizer = await fetchFile('tokenizer.json');
  const tokenizerConfig = await fetchFile('tokenizer_config.json');
  const graph = await fetchFile(variant.graph.path);
  let header: OnnxModel;
  try {
    header = parseModel(new Uint8Array(await graph.arrayBuffer()));
    checkCausalLm(header, variant.graph.path);
  } catch (error) {
    // Not a usable graph (an HTML page, a Git LFS pointer, an image model): keep none of it.
    await access.discard();
    throw error;
  }

  const modelConfig = genaiConfig ? configFromGenai(genaiConfig, discoverFfns(header).map((f) => f.intermediateSize)) : inspection.config;
  const config = genaiConfig ? jsonBlob(modelConfig) : configFile!;
  if (genaiConfig) generationConfig ??= jsonBlob(generationConfigFromGenai(genaiConfig));

  // External data: exactly the files the graph names, relative to the graph's folder.
  const graphDir = variant.graph.path.slice(0, variant.graph.path.lastIndexOf('/') + 1);
  const locations = externalDataLocations(header);
  locations.forEach(checkExternalLocation);
  const refs = externalTensors(header);
  const dataFiles = locations.map((location) => ({ location, path: graphDir + location }));
  // The plan held the listing's data candidates; from here on it is exactly the files the graph names.
  meter.setTotal(totalOf([...small, variant.graph.path, ...dataFiles.map((f) => f.path)]));

  // Sizes before download: the listing's, else the end of the last tensor in the file.
  const extentOf = (location: string) => Math.max(...refs.filter((r) => r.location === location).map((r) => r.offset + r.length));
  const tokenizerSettings = JSON.parse(await tokenizerConfig.text()) as Record<string, unknown>;
  const cardFor = (dataSizes: number[]) =>
    modelCard(header, modelConfig, [{ path: variant.graph.path, bytes: graph.size }, ...dataFiles.map((f, i) => ({ path: f.path, bytes: dataSizes[i]! }))], tokenizerSettings);
  let verdict: MemoryVerdict | undefined;
  if (options.memory) {
    const planned = cardFor(dataFiles.map((f) => listed.get(f.path) ?? extentOf(f.location)));
    verdict = memoryVerdict(cardMemoryInputs(planned, options.memory.batchTokens), options.memory.limits);
    if (!verdict.fits) throw new MemoryLimitError(verdict);
  }

  const data = await sequence(dataFiles.map((f) => () => fetchFile(f.path)));
  const truncation = findTruncation(refs, new Map(dataFiles.map((f, i) => [f.location, data[i]!.size])));
  if (truncation) {
    // A cached copy of a broken file would fail the same way next time: drop it, so a fixed upload is fetched.
    await Promise.all(dataFiles.map((f) => access.forget(f.path)));
    throw new UnusableModelError(`${variant.graph.path} cannot be loaded: ${truncation}.`);
  }
  return {
    files: {
      config,
      generationConfig,
      tokenizer,
      tokenizerConfig,
      model: graph,
      externalData: dataFiles.map((f, i) => ({ path: f.location, data: data[i]! })),
    },
    card: cardFor(data.map((d) => d.size)),
    verdict,
  };
}

const jsonBlob = (value: unknown) => new Blob([JSON.stringify(value)], { type: 'application/json' });

/** One file at a time: a model's files share one connection's bandwidth, and progress reads file by file. */
async function sequence<T>(tasks: (() => Promise<T>)[]): Promise<T[]> {
  const results: T[] = [];
  for (const task of tasks) results.push(await task());
  return results;
}
