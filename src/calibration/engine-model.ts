/**
 * The instrumented graph the engine runs: the model with every layer's down_proj input (and, on request,
 * output hidden state) as extra graph outputs (src/onnx/instrument.ts). Platform neutral.
 *
 * Only the graph's protobuf is re-encoded: tensors stored as external data keep their references, so the
 * same external data files (the bulk of a model's bytes) serve the original and the instrumented graph,
 * never copied.
 */
import { instrumentModel, type InstrumentedOutput } from '../onnx/instrument';
import { externalDataLocations, parseModel } from '../onnx/model-io';
import { encodeMessage, onnxTypes } from '../onnx/proto';

export interface InstrumentedGraph {
  /** The .onnx file's new bytes; external data files stay as they are. */
  bytes: Uint8Array;
  outputs: InstrumentedOutput[];
  /** External data files the graph refers to (relative to its folder). */
  externalFiles: string[];
}

export function instrumentGraphBytes(modelBytes: Uint8Array, options: { hidden?: boolean } = {}): InstrumentedGraph {
  const parsed = parseModel(modelBytes);
  const { model, outputs } = instrumentModel(parsed, options);
  if (outputs.length === 0) throw new Error('No FFN layers were found in this model, so there is nothing to calibrate.');
  return {
    bytes: encodeMessage(onnxTypes.ModelProto, model),
    outputs: [...outputs].sort((a, b) => a.layer - b.layer),
    externalFiles: externalDataLocations(parsed),
  };
}
