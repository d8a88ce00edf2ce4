/** Loading a model folder from disk for the CLI and Node tests (Node only). */
import { access, readFile } from 'node:fs/promises';
import { join } from 'node:path';
import * as ort from 'onnxruntime-node';
import type { GenerationConfig, ModelConfig } from '../model/config';
import { configFromGenai, GENAI_CONFIG_FILE, generationConfigFromGenai, parseGenaiConfig } from '../model/genai-config';
import { discoverFfns } from '../onnx/ffn-discovery';
import { ModelFileSource } from '../onnx/model-stream-node';
import { loadTokenizer, type TextTokenizer } from '../model/tokenizer';

export interface NodeModel {
  dir: string;
  config: ModelConfig;
  generationConfig: GenerationConfig | null;
  tokenizer: TextTokenizer;
  session: ort.InferenceSession;
}

const readJson = async (path: string) => JSON.parse(await readFile(path, 'utf8')) as Record<string, unknown>;

/** Hub folders keep the graph in onnx/ (Optimum); onnxruntime-genai folders keep it at the root. */
export async function findGraphFile(dir: string): Promise<string> {
  for (const candidate of ['onnx/model.onnx', 'model.onnx']) {
    if (await access(join(dir, candidate)).then(() => true, () => false)) return candidate;
  }
  throw new Error(`${dir} is not a model folder: neither onnx/model.onnx nor model.onnx is there`);
}

/**
 * A model folder's JSON files: config, tokenizer and (optional) generation config, with clear errors. An
 * onnxruntime-genai folder has no config.json: its shape then comes from genai_config.json and the FFN
 * widths from the graph (`modelFile`, default onnx/model.onnx, else model.onnx).
 */
export async function readModelFolderMeta(dir: string, modelFile?: string): Promise<Pick<NodeModel, 'config' | 'generationConfig' | 'tokenizer'>> {
  const required = async (file: string) => {
    try {
      return await readJson(join(dir, file));
    } catch (error) {
      if ((error as NodeJS.ErrnoException).code === 'ENOENT') throw new Error(`${dir} is not a model folder: ${file} is missing`);
      throw new Error(`${join(dir, file)}: ${(error as Error).message}`);
    }
  };
  const has = (file: string) => access(join(dir, file)).then(() => true, () => false);
  const genai = !(await has('config.json')) && (await has(GENAI_CONFIG_FILE)) ? await genaiMeta(dir, await required(GENAI_CONFIG_FILE), modelFile) : undefined;
  const config = genai?.config ?? ((await required('config.json')) as ModelConfig);
  const tokenizer = loadTokenizer(await required('tokenizer.json'), await required('tokenizer_config.json'));
  const generationConfig = ((await readJson(join(dir, 'generation_config.json')).catch(() => null)) as GenerationConfig | null) ?? genai?.generationConfig ?? null;
  return { config, generationConfig, tokenizer };
}

async function genaiMeta(dir: string, raw: unknown, modelFile?: string): Promise<{ config: ModelConfig; generationConfig: GenerationConfig }> {
  let genai;
  try {
    genai = parseGenaiConfig(raw);
  } catch (error) {
    throw new Error(`${join(dir, GENAI_CONFIG_FILE)}: ${(error as Error).message}`);
  }
  const source = await ModelFileSource.open(join(dir, modelFile ?? genai.model.decoder.filename ?? (await findGraphFile(dir))));
  try {
    return { config: configFromGenai(genai, discoverFfns(source.model).map((f) => f.intermediateSize)), generationConfig: generationConfigFromGenai(genai) };
  } finally {
    await source.close();
  }
}

export async function loadNodeModel(dir: string, modelFile?: string): Promise<NodeModel> {
  const meta = await readModelFolderMeta(dir, modelFile);
  // ORT reads the external data files itself, next to the graph.
  const session = await ort.InferenceSession.create(join(dir, modelFile ?? (await findGraphFile(dir))));
  return { dir, ...meta, session };
}
