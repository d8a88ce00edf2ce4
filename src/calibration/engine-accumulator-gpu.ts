/**
 * The WebGPU accumulator: per-layer running sums live on the GPU and every batch is added by the WGSL
 * kernels, reading ORT's output buffers in place (activations never come back to the CPU). Tensors
 * that are on the CPU (onnxruntime-node feeding Dawn in tests and the bench) are uploaded first.
 */
import { writeBytes } from '../gpu/buffers';
import { GpuChannelStats } from '../gpu/kernels/channel-stats/channel-stats';
import type { GpuContext, GpuTensor } from '../gpu/context';
import { elementTypeOf } from '../gpu/elements';
import { GpuGram } from '../gpu/kernels/gram/gram';
import { gpuTensorOf } from '../gpu/ort-tensor';
import type { OrtTensor } from '../model/ort';
import { checkActivations, copyLayerStats, type AccumulatorFactory } from './engine-accumulator';

export function createGpuAccumulator(ctx: GpuContext): AccumulatorFactory {
  return (spec) => {
    const { device, buffers } = ctx;
    const { STORAGE, COPY_DST } = GPUBufferUsage;
    const channelStats = new Map<number, GpuChannelStats>();
    const grams = new Map<number, GpuGram>();
    // Reused from batch to batch, replaced when a batch needs more room.
    let weightBuffer: GPUBuffer | undefined;
    // At most one batch waits on the GPU while the next one is prepared, so the queue cannot grow without bound.
    let previousBatch: Promise<void> = Promise.resolve();
    const uploads = new Map<number, GPUBuffer>();

    const dispose = () => {
      for (const s of channelStats.values()) s.destroy();
      for (const g of grams.values()) g.destroy();
      channelStats.clear();
      grams.clear();
      buffers.destroy(weightBuffer);
      weightBuffer = undefined;
      for (const b of uploads.values()) buffers.destroy(b);
      uploads.clear();
    };

    const room = (current: GPUBuffer | undefined, bytes: number, label: string) => {
      if (current && current.size >= bytes) return current;
      buffers.destroy(current);
      return buffers.create(label, bytes, STORAGE | COPY_DST);
    };

    const onGpu = (layer: number, tensor: OrtTensor): GpuTensor => {
      if (tensor.location === 'gpu-buffer') return gpuTensorOf(tensor);
      const data = tensor.data as ArrayBufferView;
      const buffer = room(uploads.get(layer), data.byteLength, `layer ${layer} activations`);
      uploads.set(layer, buffer);
      writeBytes(device, buffer, 0, data);
      return { buffer, type: elementTypeOf(tensor.type), elements: tensor.size };
    };

    try {
      if (spec.channelStats) spec.channels.forEach((c, l) => channelStats.set(l, new GpuChannelStats(ctx, c, spec.initial.layers[l])));
      for (const l of spec.gramLayers) grams.set(l, new GpuGram(ctx, spec.channels[l]!, spec.initial.layers[l]?.gram));
    } catch (error) {
      dispose();
      throw error;
    }

    return {
      async add(activations, weights) {
        weightBuffer = room(weightBuffer, weights.byteLength, 'token weights');
        writeBytes(device, weightBuffer, 0, weights);
        const encoder = device.createCommandEncoder({ label: 'calibration batch' });
        for (const [layer, tensor] of activations) {
          checkActivations(tensor, layer, spec.channels[layer]!, weights.length);
          const input = onGpu(layer, tensor);
          channelStats.get(layer)?.encode(encoder, input, weightBuffer, weights.length);
          grams.get(layer)?.encode(encoder, input, weightBuffer, weights.length);
        }
        device.queue.submit([encoder.finish()]);
        await previousBatch;
        previousBatch = device.queue.onSubmittedWorkDone();
      },
      async read() {
        const layers = spec.initial.layers.map(copyLayerStats);
        for (const [l, stats] of channelStats) layers[l] = { ...(await stats.read()), ...(layers[l]!.gram ? { gram: layers[l]!.gram } : {}) };
        for (const [l, gram] of grams) layers[l]!.gram = await gram.read();
        return layers;
      },
      dispose,
    };
  };
}
