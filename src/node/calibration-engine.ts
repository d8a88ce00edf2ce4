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
import type { TextTokenizer } from '../model/tokenizer';
import { readModelFolderMeta } from './model-folder';
import type { CalibrationModel } from '../calibration/engine';
import { instrumentGraphBytes } from '../calibration/engine-model';

export interface NodeCalibrationModel extends CalibrationModel {
  ort: typeof ort;
  session: ort.InferenceSession;
  config: ModelConfig;
  configWarnings: string[];
  generationConfig: GenerationConfig | null;
  tokenizer: TextTokenizer;
}

export async function loadNodeCalibrationModel(dir: string, modelFile = 'onnx/model.onnx', options: { hidden?: boolean } = {}): Promise<NodeCalibrationModel> {
  const meta = await readModelFolderMeta(dir, modelFile);
  const graph = await readFile(join(dir, modelFile)).catch((error: NodeJS.ErrnoException) => {
    throw error.code === 'ENOENT' ? new Error(`${dir} is not a model folder: ${modelFile} is missing`) : error;
  });
  const { bytes, outputs } = instrumentGraphBytes(graph, options);
  const session = await ort.InferenceSession.create(bytes, {
    extra: { session: { model_external_initializers_file_folder_path: dirname(resolve(dir, modelFile)) } },
  });
  return { ort, session, ...meta, outputs };
}
