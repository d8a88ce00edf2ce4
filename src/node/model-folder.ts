/** Loading a model folder from disk for the CLI and Node tests (Node only). */
import { access, readFile } from 'node:fs/promises';
import { join } from 'node:path';
import * as ort from 'onnxruntime-node';
import type { GenerationConfig, ModelConfig } from '../model/config';
import { checkConfigAgainstGraph } from '../model/config-check';
import { configFromGenai, GENAI_CONFIG_FILE, generationConfigFromGenai, parseGenaiConfig, type GenaiConfig } from '../model/genai-config';
import { graphFacts, type GraphFacts } from '../onnx/graph-facts';
import { ModelFileSource } from './model-stream';
import { loadTokenizer, type TextTokenizer } from '../model/tokenizer';

export interface NodeModel {
  dir: string;
  /** config.json with the graph's values where they differ (see configWarnings). */
  config: ModelConfig;
  /** Fields of config.json the graph contradicts, each replaced by the graph's value. */
  configWarnings: string[];
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
  throw new Error(`${dir} is not a model folder: it holds no onnx/model.onnx or model.onnx (pass the graph path explicitly)`);
}

/** The graph's shape facts, from its protobuf alone (external data is not read). */
async function readGraphFacts(graphPath: string): Promise<GraphFacts> {
  const source = await ModelFileSource.open(graphPath);
  try {
    return graphFacts(source.model);
  } finally {
    await source.close();
  }
}

/**
 * A model folder's JSON files: config (checked against the graph at `modelFile`), tokenizer and (optional)
 * generation config, with clear errors. An onnxruntime-genai folder has no config.json: its config is made
 * from genai_config.json and the graph's FFN widths, then checked the same way.
 */
export async function readModelFolderMeta(dir: string, modelFile?: string): Promise<Pick<NodeModel, 'config' | 'configWarnings' | 'generationConfig' | 'tokenizer'>> {
  const required = async (file: string) => {
    try {
      return await readJson(join(dir, file));
    } catch (error) {
      if ((error as NodeJS.ErrnoException).code === 'ENOENT') throw new Error(`${dir} is not a model folder: ${file} is missing`);
      throw new Error(`${join(dir, file)}: ${(error as Error).message}`);
    }
  };
  const has = (file: string) => access(join(dir, file)).then(() => true, () => false);
  const genai = !(await has('config.json')) && (await has(GENAI_CONFIG_FILE)) ? genaiConfigOf(dir, await required(GENAI_CONFIG_FILE)) : undefined;
  const graph = modelFile ?? (await findGraphFile(dir));
  const facts = await readGraphFacts(join(dir, graph)).catch((error: NodeJS.ErrnoException) => {
    throw error.code === 'ENOENT' ? new Error(`${dir} is not a model folder: ${graph} is missing`) : error;
  });
  const rawConfig = genai ? configFromGenai(genai, facts.intermediateSizes ?? []) : await required('config.json');
  const { config, warnings: configWarnings } = checkConfigAgainstGraph(rawConfig, facts, join(dir, genai ? GENAI_CONFIG_FILE : 'config.json'));
  const tokenizer = loadTokenizer(await required('tokenizer.json'), await required('tokenizer_config.json'));
  const generationConfig =
    ((await readJson(join(dir, 'generation_config.json')).catch(() => null)) as GenerationConfig | null) ?? (genai ? generationConfigFromGenai(genai) : null);
  return { config, configWarnings, generationConfig, tokenizer };
}

function genaiConfigOf(dir: string, raw: unknown): GenaiConfig {
  try {
    return parseGenaiConfig(raw);
  } catch (error) {
    throw new Error(`${join(dir, GENAI_CONFIG_FILE)}: ${(error as Error).message}`);
  }
}

export async function loadNodeModel(dir: string, modelFile?: string): Promise<NodeModel> {
  const graph = modelFile ?? (await findGraphFile(dir));
  const meta = await readModelFolderMeta(dir, graph);
  // ORT reads the external data files itself, next to the graph.
  const session = await ort.InferenceSession.create(join(dir, graph));
  return { dir, ...meta, session };
}
