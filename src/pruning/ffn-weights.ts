/**
 * Dense FFN weights of a decoded ONNX model as float32 in the layouts the pruning maths reads (ONNX
 * [in, out]: down_proj [C, hidden], gate/up [hidden, C]). Platform neutral: every runtime reads its
 * weights through this.
 */
import type { FfnLayer, FfnProjection } from '../onnx/ffn-discovery';
import { decodeFloats } from '../onnx/float-tensor';
import { tensorBytes, type OnnxModel } from '../onnx/model-io';
import type { LayerWeights } from './scoring';

function floatWeight(model: OnnxModel, proj: FfnProjection, layer: number, role: string): Float32Array {
  const w = proj.weight;
  if (w.format !== 'float') {
    throw new Error(`layer ${layer}: ${role}_proj is a ${w.bits}-bit MatMulNBits; scoring and plan evaluation need float weights (use the float variant of the model)`);
  }
  const tensor = model.graph?.initializer?.find((t) => t.name === w.initializer);
  if (!tensor) throw new Error(`layer ${layer}: ${role}_proj weight "${w.initializer}" is not an initializer`);
  return decodeFloats(tensorBytes(tensor), w.dataType);
}

/** Per layer, down_proj and (when asked) gate/up as float32; `model` must have its tensor bytes in memory. */
export function readFfnWeights(model: OnnxModel, ffns: readonly FfnLayer[], options: { gateUp: boolean }): LayerWeights[] {
  return ffns.map((f) => ({
    down: floatWeight(model, f.down, f.layer, 'down'),
    ...(options.gateUp && { gate: floatWeight(model, f.gate, f.layer, 'gate'), up: floatWeight(model, f.up, f.layer, 'up') }),
  }));
}
