/**
 * Persona sensitivity on the GPU (shaders/cosine.wgsl): the cosine similarity between the
 * last-token hidden states of two runs (e.g. the same question under the target persona's and a
 * reference persona's system prompt), averaged over a layer range. Only one float per pair comes back.
 */
import { GpuBuffers, readBuffer } from '../../buffers';
import type { GpuContext, GpuTensor } from '../../context';
import { bindingBytes } from '../../elements';

/** `length` values of `tensor` starting at element `offset`. */
export interface GpuVector {
  tensor: GpuTensor;
  offset: number;
}

/** The hidden state of token `position` of batch row `row` in a [batch, positions, hidden] tensor. */
export function tokenVector(tensor: GpuTensor, dims: readonly number[], row: number, position: number): GpuVector {
  const [batch, positions, hidden] = dims as [number, number, number];
  if (dims.length !== 3 || row < 0 || row >= batch || position < 0 || position >= positions) {
    throw new RangeError(`no token (${row}, ${position}) in a tensor of shape [${dims.join(', ')}]`);
  }
  return { tensor, offset: (row * positions + position) * hidden };
}

/**
 * For each pair, the mean over its layers of cos(a_l, b_l), vectors of `length` values. All tensors must
 * share one element type.
 */
export async function meanCosineOnGpu(
  ctx: GpuContext,
  pairs: readonly (readonly { a: GpuVector; b: GpuVector }[])[],
  length: number,
): Promise<Float32Array> {
  const { device } = ctx;
  const vectors = pairs.flat().flatMap(({ a, b }) => [a, b]);
  if (vectors.length === 0) return new Float32Array(pairs.length);
  const type = vectors[0]!.tensor.type;
  for (const v of vectors) {
    if (v.tensor.type !== type) throw new Error('meanCosineOnGpu needs tensors of one element type');
    if (v.offset + length > v.tensor.elements) throw new RangeError(`a vector [${v.offset}, ${v.offset + length}) lies outside its ${v.tensor.elements}-value tensor`);
  }
  pairs.forEach((layers, slot) => {
    if (layers.length === 0) throw new RangeError(`pair ${slot} has an empty layer range`);
  });

  // Each dispatch has its own offsets, so its own small uniform buffer; all are gone when this returns.
  const scratch = new GpuBuffers(device);
  try {
    const { STORAGE, COPY_SRC, UNIFORM } = GPUBufferUsage;
    const result = scratch.create('cosine result', pairs.length * 4, STORAGE | COPY_SRC);
    const pipeline = ctx.pipelines.get('cosine', [['a', 0], ['b', 1]], type);
    const encoder = device.createCommandEncoder();
    const pass = encoder.beginComputePass({ label: 'cosine' });
    pass.setPipeline(pipeline);
    pairs.forEach((layers, slot) => {
      for (const { a, b } of layers) {
        const params = new ArrayBuffer(32);
        new Uint32Array(params, 0, 4).set([a.offset, b.offset, length, slot]);
        new Float32Array(params, 16, 1)[0] = 1 / layers.length;
        const uniform = scratch.upload('cosine params', new Uint8Array(params), UNIFORM);
        const bind = (binding: number, tensor: GpuTensor) => ({
          binding,
          resource: { buffer: tensor.buffer, size: bindingBytes(tensor.elements, tensor.type) },
        });
        pass.setBindGroup(
          0,
          device.createBindGroup({
            layout: pipeline.getBindGroupLayout(0),
            entries: [bind(0, a.tensor), bind(1, b.tensor), { binding: 2, resource: { buffer: result } }, { binding: 3, resource: { buffer: uniform } }],
          }),
        );
        pass.dispatchWorkgroups(1);
      }
    });
    pass.end();
    device.queue.submit([encoder.finish()]);
    return new Float32Array(await readBuffer(device, result, pairs.length * 4));
  } finally {
    scratch.destroyAll();
  }
}
