/**
 * A model's files as Blobs: what the sources worker hands over and the runtime worker reads. Blobs move
 * between workers without copying their bytes, and OPFS- or disk-backed ones are read only here, once.
 */
import type { ModelBundle } from '../model/bundle';
import type { GenerationConfig, ModelConfig } from '../model/config';

export interface BundleFiles {
  config: Blob;
  generationConfig: Blob | null;
  tokenizer: Blob;
  tokenizerConfig: Blob;
  model: Blob;
  /** `path` is the location the graph stores, as onnxruntime's `externalData` wants it. */
  externalData: { path: string; data: Blob }[];
}

const bytesOf = async (blob: Blob) => new Uint8Array(await blob.arrayBuffer());
const jsonOf = async <T,>(blob: Blob) => JSON.parse(await blob.text()) as T;

export async function readBundleFiles(files: BundleFiles): Promise<ModelBundle> {
  return {
    config: await jsonOf<ModelConfig>(files.config),
    generationConfig: files.generationConfig ? await jsonOf<GenerationConfig>(files.generationConfig) : null,
    tokenizerJson: await jsonOf<object>(files.tokenizer),
    tokenizerConfig: await jsonOf<Record<string, unknown>>(files.tokenizerConfig),
    modelBytes: await bytesOf(files.model),
    externalData: await Promise.all(files.externalData.map(async ({ path, data }) => ({ path, data: await bytesOf(data) }))),
  };
}
