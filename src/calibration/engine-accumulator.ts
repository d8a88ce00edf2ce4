/**
 * Where a calibration pass adds each batch's activations: on the GPU (WGSL kernels on the device ORT
 * runs on, engine-accumulator-gpu.ts) or on the CPU with the float64 references (WASM or
 * onnxruntime-node, engine-accumulator-cpu.ts). The engine does not care which.
 */
import type { OrtTensor } from '../model/ort';
import type { CalibrationStats, LayerStats } from '../core/stats';

export interface AccumulatorSpec {
  /** FFN channels of every layer. */
  channels: readonly number[];
  /** Accumulate the channel statistics of every layer (the first pass does). */
  channelStats: boolean;
  /** Layers whose Gram matrices this pass accumulates. */
  gramLayers: readonly number[];
  /** Statistics to continue from (a fresh run passes empty ones). Not modified. */
  initial: CalibrationStats;
}

export interface StatsAccumulator {
  /**
   * Adds one batch: activations [rows, length, channels] by layer and one weight per token
   * [rows * length]. The tensors stay the caller's: it disposes them once this resolves.
   */
  add(activations: ReadonlyMap<number, OrtTensor>, weights: Float32Array): Promise<void>;
  /** `initial`'s layers with everything added so far (new arrays, not views of running state). */
  read(): Promise<LayerStats[]>;
  /** Frees what it holds (GPU buffers); safe to call more than once. */
  dispose(): void;
}

export type AccumulatorFactory = (spec: AccumulatorSpec) => StatsAccumulator;

export function copyLayerStats(layer: LayerStats): LayerStats {
  return {
    sumSq: layer.sumSq.slice(),
    sum: layer.sum.slice(),
    sumAbs: layer.sumAbs.slice(),
    weight: layer.weight,
    ...(layer.gram ? { gram: layer.gram.slice() } : {}),
  };
}

/** The channel count `tensor` must have for `layer`, checked against its element count. */
export function checkActivations(tensor: OrtTensor, layer: number, channels: number, tokens: number): void {
  if (tensor.size !== tokens * channels) {
    throw new Error(`layer ${layer}'s down_proj input has shape [${tensor.dims.join(', ')}], expected ${tokens} tokens x ${channels} channels`);
  }
}
