/** Loading a model folder from disk for the CLI and Node tests (Node only). */
import { access, readFile } from 'node:fs/promises';
import { join } from 'node:path';
import * as ort from 'onnxruntime-node';
import type { GenerationConfig, ModelConfig } from '../model/config';
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

/** A model folder's JSON files: config, tokenizer and (optional) generation config, with clear errors. */
export async function readModelFolderMeta(dir: string): Promise<Pick<NodeModel, 'config' | 'generationConfig' | 'tokenizer'>> {
  const required = async (file: string) => {
    try {
      return await readJson(join(dir, file));
    } catch (error) {
      if ((error as NodeJS.ErrnoException).code === 'ENOENT') throw new Error(`${dir} is not a model folder: ${file} is missing`);
      throw new Error(`${join(dir, file)}: ${(error as Error).message}`);
    }
  };
  const config = (await required('config.json')) as ModelConfig;
  const tokenizer = loadTokenizer(await required('tokenizer.json'), await required('tokenizer_config.json'));
  const generationConfig = (await readJson(join(dir, 'generation_config.json')).catch(() => null)) as GenerationConfig | null;
  return { config, generationConfig, tokenizer };
}

export async function loadNodeModel(dir: string, modelFile?: string): Promise<NodeModel> {
  const meta = await readModelFolderMeta(dir);
  // ORT reads the external data files itself, next to the graph.
  const session = await ort.InferenceSession.create(join(dir, modelFile ?? (await findGraphFile(dir))));
  return { dir, ...meta, session };
}
