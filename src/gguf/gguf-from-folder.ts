/**
 * A model folder's graph plus its config.json (or an onnxruntime-genai folder's genai_config.json) /
 * tokenizer.json / tokenizer_config.json as a LlamaGgufSource, whatever holds the files: Node reads them
 * from disk (node/gguf-export.ts), the studio from the exported folder in memory (ggufFromFolderFiles).
 * Platform neutral.
 */
import type { ModelConfig } from '../model/config';
import { configFromGenai, GENAI_CONFIG_FILE, parseGenaiConfig } from '../model/genai-config';
import { discoverFfns } from '../onnx/ffn-discovery';
import { parseModel, tensorBytes, type OnnxModel } from '../onnx/model-io';
import { externalSource } from '../onnx/model-pieces';
import type { KeepPlan } from '../core/keep-plan';
import { onnxLlamaSource, type InitializerReader } from './gguf-from-onnx';
import { ggufTokenizerMetadata, type GgufTokenizerOptions } from './gguf-tokenizer';
import { assembleGguf, GgufExportError, planLlamaGguf, type GgufExportPlan, type GgufWeightType, type LlamaGgufSource } from './llama-gguf';

/** Reads and parses one of the folder's JSON files by name; undefined when the folder has no such file. */
export type FolderJsonReader = (name: string) => Promise<Record<string, unknown> | undefined>;

export async function folderGgufSource(
  model: OnnxModel,
  read: InitializerReader,
  readJson: FolderJsonReader,
  plan?: KeepPlan,
  tokenizerOptions?: GgufTokenizerOptions,
): Promise<LlamaGgufSource> {
  const required = async (name: string) => {
    const value = await readJson(name);
    if (!value) throw new GgufExportError(`${name} is missing from the model folder`);
    return value;
  };
  // an onnxruntime-genai folder has no config.json: its shape comes from genai_config.json and the graph, as when
  // loading it, except head_dim: genai's head_size is the KV cache's, which may be zero-padded past the real head
  // (onnxruntime's CPU attention wants multiples of 16); the real one is hidden_size / heads, checked against the
  // attention's scale
  const hfConfig = await readJson('config.json');
  const genai = hfConfig ? undefined : await readJson(GENAI_CONFIG_FILE);
  const fromGenai = (raw: Record<string, unknown>) => {
    const { head_dim: _, ...shape } = configFromGenai(parseGenaiConfig(raw), discoverFfns(model).map((f) => f.intermediateSize));
    return shape;
  };
  const config = (hfConfig ?? (genai ? fromGenai(genai) : await required('config.json'))) as ModelConfig;
  const tokenizer = await required('tokenizer.json');
  const tokenizerConfig = await required('tokenizer_config.json');
  const metadata = (vocabSize: number) => ggufTokenizerMetadata(tokenizer, tokenizerConfig, config, vocabSize, tokenizerOptions);
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
    return data && (JSON.parse(new TextDecoder().decode(data)) as Record<string, unknown>);
  };
  const source = await folderGgufSource(model, read, readJson);
  const plan = planLlamaGguf(source, type);
  return { bytes: await assembleGguf(plan, onTensor), arch: plan.arch, ffnDims: source.shape.ffnDims };
}
