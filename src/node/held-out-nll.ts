/**
 * NLL of token sequences under a graph in onnxruntime-node (Node only): the loop the pipeline runtime's
 * evaluateNll and the export's quantization check share. A graph held in memory whose weights are partly
 * still references into the source model's data files runs without copying them (onnxruntime reads them
 * from `dataFolder`).
 */
import * as ort from 'onnxruntime-node';
import { sequenceNll, summariseNll, type NllSummary } from '../eval/nll';
import type { ModelConfig } from '../model/config';
import { forwardLogits } from '../model/generate';
import type { OnnxModel } from '../onnx/model-io';
import { encodeMessage, onnxTypes } from '../onnx/proto';

/** Per-token NLL of each sequence (entry t predicts ids[t + 1]). */
export async function sessionNll(session: ort.InferenceSession, config: ModelConfig, sequences: readonly (readonly number[])[]): Promise<Float64Array[]> {
  const out: Float64Array[] = [];
  for (const ids of sequences) {
    const { data, dims } = await forwardLogits(ort, session, ids, config);
    out.push(sequenceNll(data, dims[1], ids));
  }
  return out;
}

/** Pooled NLL of `sequences` under `model`, whose external tensors (if any) are files in `dataFolder`. */
export async function modelNll(model: OnnxModel, dataFolder: string, config: ModelConfig, sequences: readonly (readonly number[])[]): Promise<NllSummary> {
  // encodeMessage, not encodeModel: external references stay references.
  const session = await ort.InferenceSession.create(encodeMessage(onnxTypes.ModelProto, model), {
    extra: { session: { model_external_initializers_file_folder_path: dataFolder } },
  });
  try {
    return summariseNll(await sessionNll(session, config, sequences));
  } finally {
    await session.release();
  }
}
