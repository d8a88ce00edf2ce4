/** Per-token KL(dense ‖ pruned) on the GPU (shaders/kl_divergence.wgsl): both logit tensors stay on the GPU. */
import { GpuBuffers, readBuffer } from '../../buffers';
import { dispatchGrid, type GpuContext, type GpuTensor } from '../../context';
import { bindingBytes } from '../../elements';

/**
 * KL(softmax(dense[r]) ‖ softmax(pruned[r])) for each row r of two [rows, vocab] tensors of the same element
 * type (rows = weights.length); 0 where weights[r] <= 0. Only `rows` floats come back.
 */
export async function klDivergenceOnGpu(ctx: GpuContext, dense: GpuTensor, pruned: GpuTensor, vocab: number, weights: Float32Array): Promise<Float32Array> {
  const { device } = ctx;
  const rows = weights.length;
  for (const [label, t] of [['dense', dense], ['pruned', pruned]] as const) {
    if (t.elements < rows * vocab) throw new RangeError(`${t.elements} ${label} logits cannot hold ${rows} rows x ${vocab}`);
  }
  if (dense.type !== pruned.type) throw new TypeError(`dense logits are ${dense.type}, pruned ${pruned.type}: the kernel reads one element type`);
  if (rows === 0) return new Float32Array(0);

  const scratch = new GpuBuffers(device);
  try {
    const { STORAGE, COPY_SRC, UNIFORM } = GPUBufferUsage;
    const weightBuffer = scratch.upload('kl weights', weights, STORAGE);
    const kl = scratch.create('kl', rows * 4, STORAGE | COPY_SRC);
    const params = scratch.upload('kl params', Uint32Array.of(rows, vocab), UNIFORM);
    const pipeline = ctx.pipelines.get('kl_divergence', [['dense', 0], ['pruned', 1]], dense.type);
    const bytes = bindingBytes(rows * vocab, dense.type);
    const bindGroup = device.createBindGroup({
      layout: pipeline.getBindGroupLayout(0),
      entries: [
        { binding: 0, resource: { buffer: dense.buffer, size: bytes } },
        { binding: 1, resource: { buffer: pruned.buffer, size: bytes } },
        { binding: 2, resource: { buffer: weightBuffer } },
        { binding: 3, resource: { buffer: kl } },
        { binding: 4, resource: { buffer: params } },
      ],
    });
    const encoder = device.createCommandEncoder();
    const pass = encoder.beginComputePass({ label: 'kl_divergence' });
    pass.setPipeline(pipeline);
    pass.setBindGroup(0, bindGroup);
    pass.dispatchWorkgroups(...dispatchGrid(device, rows));
    pass.end();
    device.queue.submit([encoder.finish()]);
    return new Float32Array(await readBuffer(device, kl, rows * 4));
  } finally {
    scratch.destroyAll();
  }
}
