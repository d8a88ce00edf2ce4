/**
 * Checks on a parsed graph header (external data not loaded) before anything large is fetched or
 * handed to onnxruntime: is it a causal language model, and do its external-data files hold every
 * tensor it points into?
 */
import { externalSource } from '../onnx/model-pieces';
import type { OnnxModel } from '../onnx/model-io';
import { mapTensors, type ValueInfoProto } from '../onnx/proto';

export class NotALanguageModelError extends Error {
  override name = 'NotALanguageModelError';
}

const describeValue = (v: ValueInfoProto) => {
  const dims = v.type?.tensor_type?.shape?.dim?.map((d) => d.dim_value ?? d.dim_param ?? '?');
  return `${v.name ?? '?'}${dims ? ` [${dims.join(', ')}]` : ''}`;
};

/** The studio runs decoders that read `input_ids` and return `logits`, as every HF/genai LM export does. */
export function checkCausalLm(model: OnnxModel, file: string): void {
  const inputs = model.graph?.input ?? [];
  const outputs = model.graph?.output ?? [];
  if (inputs.some((i) => i.name === 'input_ids') && outputs.some((o) => o.name === 'logits')) return;
  throw new NotALanguageModelError(
    `${file} is not a language model: it takes ${inputs.map(describeValue).join(', ') || 'no inputs'} and returns ` +
      `${outputs.map(describeValue).join(', ') || 'nothing'}, where a chat model takes input_ids and returns logits.`,
  );
}

export interface ExternalTensorRef {
  tensor: string;
  location: string;
  offset: number;
  length: number;
}

/** Every tensor stored in an external file, with its byte range. */
export function externalTensors(model: OnnxModel): ExternalTensorRef[] {
  const refs: ExternalTensorRef[] = [];
  mapTensors(model, (tensor) => {
    const source = externalSource(tensor);
    if (source) refs.push({ tensor: tensor.name ?? '', ...source });
    return tensor;
  });
  return refs;
}

/**
 * The first tensor that lies past the end of its data file, described for the user, or undefined when
 * every tensor is inside its file. `sizes` maps each location to its byte size.
 */
export function findTruncation(refs: readonly ExternalTensorRef[], sizes: ReadonlyMap<string, number>): string | undefined {
  for (const ref of refs) {
    const size = sizes.get(ref.location);
    if (size === undefined) return `the data file "${ref.location}" that tensor "${ref.tensor}" needs is missing`;
    if (ref.offset + ref.length > size) {
      return `tensor "${ref.tensor}" needs bytes ${ref.offset}..${ref.offset + ref.length} of "${ref.location}", which has only ${size} bytes (the file is truncated)`;
    }
  }
  return undefined;
}
