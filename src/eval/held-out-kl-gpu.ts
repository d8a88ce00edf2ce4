/**
 * Held-out KL (eval/held-out-kl.ts) on WebGPU: dense and pruned logits stay on the GPU and the KL kernel
 * reduces them, so only one float per token comes back. The dense logits of each sample set are copied
 * into our own buffers and kept (within a byte budget), so each further plan costs one forward pass per
 * batch of samples.
 */
import type { CalibrationSample } from '../core/stats';
import { samplesKey } from '../calibration/engine-checkpoint';
import { DENSE_LOGITS_BUDGET, DenseLogitsCache, KlMean, klBatches, type KlSummary } from './held-out-kl';
import type { OrtTensor } from '../model/ort';
import { GpuBuffers } from '../gpu/buffers';
import type { GpuContext, GpuTensor } from '../gpu/context';
import { bindingBytes } from '../gpu/elements';
import { klDivergenceOnGpu } from '../gpu/kernels/kl-divergence/kl-divergence';
import { gpuTensorOf } from '../gpu/ort-tensor';

/** Runs one batch and hands its logits output ([rows, length, vocab], 'gpu-buffer') to `read` before disposing it. */
export type RunLogits = <T>(samples: readonly CalibrationSample[], read: (logits: OrtTensor) => Promise<T>) => Promise<T>;

export class GpuHeldOutKl {
  /** Per sample set, its dense logits and the buffers that hold them. */
  private readonly cache: DenseLogitsCache<{ dense: GpuTensor[]; buffers: GpuBuffers }>;
  private device?: GPUDevice;

  constructor(budgetBytes = DENSE_LOGITS_BUDGET) {
    this.cache = new DenseLogitsCache(budgetBytes, (sets) => sets.forEach((s) => s.buffers.destroyAll()));
  }

  async evaluate(ctx: GpuContext, samples: readonly CalibrationSample[], vocab: number, dense: RunLogits, pruned: RunLogits, signal?: AbortSignal): Promise<KlSummary> {
    if (this.device !== ctx.device) this.release();
    this.device = ctx.device;
    const key = samplesKey(samples);
    const cached = this.cache.get(key)?.[0];
    const buffers = cached?.buffers ?? new GpuBuffers(ctx.device);
    const kept: GpuTensor[] = [];
    let bytes = 0;
    const mean = new KlMean(samples.length);
    try {
      for (const [i, batch] of klBatches(samples, vocab).entries()) {
        signal?.throwIfAborted();
        const weights = batch.rowWeights;
        let denseLogits = cached?.dense[i];
        if (!denseLogits) {
          denseLogits = await dense(batch.samples, async (logits) => copyTensor(ctx.device, buffers, gpuTensorOf(logits)));
          bytes += denseLogits.buffer.size;
          if (!cached && bytes <= this.cache.budgetBytes) kept.push(denseLogits);
        }
        const d = denseLogits;
        const kl = await pruned(batch.samples, (logits) => klDivergenceOnGpu(ctx, d, gpuTensorOf(logits), vocab, weights));
        if (!kept.includes(d) && !cached) buffers.destroy(d.buffer);
        mean.add(kl, weights, (r) => batch.first + Math.floor(r / batch.length));
      }
    } catch (error) {
      if (!cached) buffers.destroyAll();
      throw error;
    }
    if (!cached) this.cache.keep(key, [{ dense: kept, buffers }], bytes);
    return mean.summary();
  }

  /** Frees the kept dense logits. */
  release(): void {
    this.cache.clear();
  }
}

/** A copy of an ORT output in a buffer we own (ORT frees its own when the output is disposed). */
function copyTensor(device: GPUDevice, buffers: GpuBuffers, tensor: GpuTensor): GpuTensor {
  const size = bindingBytes(tensor.elements, tensor.type);
  const buffer = buffers.create('dense logits', size, GPUBufferUsage.STORAGE | GPUBufferUsage.COPY_DST);
  const encoder = device.createCommandEncoder();
  encoder.copyBufferToBuffer(tensor.buffer, 0, buffer, 0, size);
  device.queue.submit([encoder.finish()]);
  return { buffer, type: tensor.type, elements: tensor.elements };
}
