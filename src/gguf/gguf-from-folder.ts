/**
 * A model folder's graph plus its config.json / tokenizer.json / tokenizer_config.json as a
 * LlamaGgufSource, whatever holds the files: Node reads them from disk (node/gguf-export.ts), the
 * studio from the exported folder in memory (ggufFromFolderFiles). Platform neutral.
 */
import type { ModelConfig } from '../model/config';
import { parseModel, tensorBytes, type OnnxModel } from '../onnx/model-io';
import { externalSource } from '../onnx/model-pieces';
import type { KeepPlan } from '../core/keep-plan';
import { onnxLlamaSource, type InitializerReader } from './gguf-from-onnx';
import { ggufTokenizerMetadata } from './gguf-tokenizer';
import { assembleGguf, GgufExportError, planLlamaGguf, type GgufExportPlan, type GgufWeightType, type LlamaGgufSource } from './llama-gguf';

/** Reads and parses one of the folder's JSON files by name. */
export type FolderJsonReader = (name: string) => Promise<Record<string, unknown>>;

export async function folderGgufSource(model: OnnxModel, read: InitializerReader, readJson: FolderJsonReader, plan?: KeepPlan): Promise<LlamaGgufSource> {
  const config = (await readJson('config.json')) as ModelConfig;
  const tokenizer = await readJson('tokenizer.json');
  const tokenizerConfig = await readJson('tokenizer_config.json');
  const metadata = (vocabSize: number) => ggufTokenizerMetadata(tokenizer, tokenizerConfig, config, vocabSize);
  return onnxLlamaSource(model, read, { config, metadata, plan });
}

export interface InMemoryGguf {
  bytes: Uint8Array;
  arch: GgufExportPlan['arch'];
  ffnDims: number[];
}

/** A model folder held in memory ('/'-separated paths, graph at onnx/model.onnx or model.onnx) → GGUF bytes. */
export async function ggufFromFolderFiles(
  files: readonly { path: string; data: Uint8Array }[],
  type: GgufWeightType,
  onTensor?: (done: number, total: number) => void,
): Promise<InMemoryGguf> {
  const byPath = new Map(files.map((f) => [f.path, f.data]));
  const graphPath = ['onnx/model.onnx', 'model.onnx'].find((p) => byPath.has(p));
  if (!graphPath) throw new GgufExportError('The folder holds no onnx/model.onnx or model.onnx');
  const base = graphPath.slice(0, graphPath.lastIndexOf('/') + 1);
  const model = parseModel(byPath.get(graphPath)!);
  const read: InitializerReader = async (t) => {
    const source = externalSource(t);
    if (!source) return tensorBytes(t);
    const data = byPath.get(base + source.location);
    if (!data) throw new GgufExportError(`External data file "${source.location}" is not in the folder`);
    return data.subarray(source.offset, source.offset + source.length);
  };
  const readJson: FolderJsonReader = async (name) => {
    const data = byPath.get(name);
    if (!data) throw new GgufExportError(`${name} is missing from the folder`);
    return JSON.parse(new TextDecoder().decode(data)) as Record<string, unknown>;
  };
  const source = await folderGgufSource(model, read, readJson);
  const plan = planLlamaGguf(source, type);
  return { bytes: await assembleGguf(plan, onTensor), arch: plan.arch, ffnDims: source.shape.ffnDims };
}
