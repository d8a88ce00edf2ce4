/**
 * Loading a model folder for calibration in Node (the CLI, tests, the bench): onnxruntime-node on the
 * instrumented graph. Node only.
 *
 * The instrumented graph is opened from memory; its external data tensors still refer to the original
 * files, which onnxruntime finds through the session option
 * `session.model_external_initializers_file_folder_path` (no weight is copied, nothing is written).
 */
import { readFile } from 'node:fs/promises';
import { dirname, join, resolve } from 'node:path';
import * as ort from 'onnxruntime-node';
import type { GenerationConfig, ModelConfig } from '../model/config';
import { loadTokenizer, type TextTokenizer } from '../model/tokenizer';
import type { CalibrationModel } from './engine';
import { instrumentGraphBytes } from './engine-model';

export interface NodeCalibrationModel extends CalibrationModel {
  ort: typeof ort;
  session: ort.InferenceSession;
  config: ModelConfig;
  generationConfig: GenerationConfig | null;
  tokenizer: TextTokenizer;
}

async function readFolderFile(dir: string, file: string): Promise<Buffer> {
  try {
    return await readFile(join(dir, file));
  } catch (error) {
    if ((error as NodeJS.ErrnoException).code === 'ENOENT') throw new Error(`${dir} is not a model folder: ${file} is missing`);
    throw error;
  }
}

async function readJson(dir: string, file: string): Promise<Record<string, unknown>> {
  const text = (await readFolderFile(dir, file)).toString('utf8');
  try {
    return JSON.parse(text) as Record<string, unknown>;
  } catch (error) {
    throw new Error(`${join(dir, file)}: ${(error as Error).message}`);
  }
}

export async function loadNodeCalibrationModel(dir: string, modelFile = 'onnx/model.onnx', options: { hidden?: boolean } = {}): Promise<NodeCalibrationModel> {
  const config = (await readJson(dir, 'config.json')) as ModelConfig;
  const tokenizer = loadTokenizer(await readJson(dir, 'tokenizer.json'), await readJson(dir, 'tokenizer_config.json'));
  const generationConfig = (await readJson(dir, 'generation_config.json').catch(() => null)) as GenerationConfig | null;
  const { bytes, outputs } = instrumentGraphBytes(await readFolderFile(dir, modelFile), options);
  const session = await ort.InferenceSession.create(bytes, {
    extra: { session: { model_external_initializers_file_folder_path: dirname(resolve(dir, modelFile)) } },
  });
  return { ort, session, config, generationConfig, tokenizer, outputs };
}
