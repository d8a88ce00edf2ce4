/**
 * The studio's plan totals: what a plan's pruned model weighs, read from the model's own initializers
 * without building it. Platform neutral and pure.
 */
import type { FfnLayer } from '../onnx/ffn-discovery';
import type { OnnxModel } from '../onnx/model-io';
import { bytesPerElement, tensorByteLength } from '../onnx/proto';

/** What one FFN channel of a layer weighs in the exported model, and the bias compensation may add. */
export interface ChannelCost {
  /** Its gate and up columns and down row, counted as countParameters counts them (MatMulNBits: K×N). */
  parameters: number;
  /** Their stored bytes per channel (quantised blocks, scales and zero points included). */
  bytes: number;
  /** A compensated layer gains a bias of this many values (the hidden size) ... */
  biasParameters: number;
  /** ... of this many bytes. */
  biasBytes: number;
}

/** Per FFN layer, the cost of one channel, read from the model's own initializers. */
export function ffnChannelCosts(model: OnnxModel, ffns: readonly FfnLayer[]): ChannelCost[] {
  const initializers = new Map((model.graph?.initializer ?? []).map((t) => [t.name ?? '', t]));
  const storedBytes = (name: string | undefined) => {
    const t = name === undefined ? undefined : initializers.get(name);
    return t ? (tensorByteLength(t.data_type ?? 0, (t.dims ?? []).map(Number)) ?? 0) : 0;
  };
  return ffns.map((ffn) => {
    let parameters = 0;
    let bytes = 0;
    for (const { weight, inFeatures, outFeatures } of [ffn.gate, ffn.up, ffn.down]) {
      parameters += inFeatures * outFeatures;
      bytes += weight.format === 'float' ? storedBytes(weight.initializer) : storedBytes(weight.initializer) + storedBytes(weight.scales) + storedBytes(weight.zeroPoints);
    }
    const c = ffn.intermediateSize;
    return { parameters: parameters / c, bytes: bytes / c, biasParameters: ffn.hiddenSize, biasBytes: ffn.hiddenSize * bytesPerElement(ffn.activationType) };
  });
}

export interface PlanTotals {
  parameters: { before: number; after: number };
  /** Graph plus external data; after: minus the removed channels' bytes (the graph's own few bytes aside). */
  bytes: { before: number; after: number };
}

/**
 * The exported model's totals without building it: the dense counts minus each removed channel's cost,
 * plus a bias per layer that loses channels when the plan compensates with channel means.
 */
export function planTotals(
  dense: { parameters: number; bytes: number },
  costs: readonly ChannelCost[],
  widths: readonly number[],
  keptPerLayer: readonly number[],
  biasCompensation: boolean,
): PlanTotals {
  let parameters = dense.parameters;
  let bytes = dense.bytes;
  costs.forEach((cost, l) => {
    const removed = widths[l]! - keptPerLayer[l]!;
    parameters -= Math.round(removed * cost.parameters);
    bytes -= Math.round(removed * cost.bytes);
    if (biasCompensation && removed > 0) {
      parameters += cost.biasParameters;
      bytes += cost.biasBytes;
    }
  });
  return { parameters: { before: dense.parameters, after: parameters }, bytes: { before: dense.bytes, after: bytes } };
}
