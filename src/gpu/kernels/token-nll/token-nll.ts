/** Per-token negative log-likelihood on the GPU (shaders/token_nll.wgsl): logits stay on the GPU. */
import { GpuBuffers, readBuffer } from '../../buffers';
import { dispatchGrid, type GpuContext, type GpuTensor } from '../../context';
import { bindingBytes } from '../../elements';

/**
 * -log softmax(logits[r])[targets[r]] for each row r of logits [rows, vocab] (rows = targets.length);
 * 0 where targets[r] < 0. Only `rows` floats come back.
 */
export async function tokenNllOnGpu(ctx: GpuContext, logits: GpuTensor, vocab: number, targets: Int32Array): Promise<Float32Array> {
  const { device } = ctx;
  const rows = targets.length;
  if (logits.elements < rows * vocab) throw new RangeError(`${logits.elements} logits cannot hold ${rows} rows x ${vocab}`);
  const bad = targets.find((t) => t >= vocab);
  if (bad !== undefined) throw new RangeError(`target ${bad} is outside the vocabulary [0, ${vocab})`);
  if (rows === 0) return new Float32Array(0);

  const scratch = new GpuBuffers(device);
  try {
    const { STORAGE, COPY_SRC, UNIFORM } = GPUBufferUsage;
    const targetBuffer = scratch.upload('nll targets', targets, STORAGE);
    const nll = scratch.create('nll', rows * 4, STORAGE | COPY_SRC);
    const params = scratch.upload('nll params', Uint32Array.of(rows, vocab), UNIFORM);
    const pipeline = ctx.pipelines.get('token_nll', [['logits', 0]], logits.type);
    const bindGroup = device.createBindGroup({
      layout: pipeline.getBindGroupLayout(0),
      entries: [
        { binding: 0, resource: { buffer: logits.buffer, size: bindingBytes(rows * vocab, logits.type) } },
        { binding: 1, resource: { buffer: targetBuffer } },
        { binding: 2, resource: { buffer: nll } },
        { binding: 3, resource: { buffer: params } },
      ],
    });
    const encoder = device.createCommandEncoder();
    const pass = encoder.beginComputePass({ label: 'token_nll' });
    pass.setPipeline(pipeline);
    pass.setBindGroup(0, bindGroup);
    pass.dispatchWorkgroups(...dispatchGrid(device, rows));
    pass.end();
    device.queue.submit([encoder.finish()]);
    return new Float32Array(await readBuffer(device, nll, rows * 4));
  } finally {
    scratch.destroyAll();
  }
}
