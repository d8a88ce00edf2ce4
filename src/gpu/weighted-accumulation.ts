/**
 * The dispatch both accumulators share: bind one batch of activations [tokens, channels] (ORT rounds
 * its buffers up, so exactly this batch's values), the per-token weights, the running target and the
 * (tokens, channels) params, then run `kernel`. Params go through the queue now, so the caller submits
 * before encoding into the same accumulator again.
 */
import type { GpuContext, GpuTensor } from './context';
import { bindingBytes } from './elements';
import type { ShaderName } from './shaders';

export interface WeightedAccumulation {
  kernel: ShaderName;
  channels: number;
  target: GPUBuffer;
  params: GPUBuffer;
  workgroups: [x: number, y?: number];
}

export function encodeWeightedAccumulation(
  ctx: GpuContext,
  encoder: GPUCommandEncoder,
  { kernel, channels, target, params, workgroups }: WeightedAccumulation,
  activations: GpuTensor,
  weights: GPUBuffer,
  tokens: number,
): void {
  const elements = tokens * channels;
  if (activations.elements < elements) {
    throw new RangeError(`${activations.elements} activations cannot hold ${tokens} tokens x ${channels} channels`);
  }
  if (tokens === 0) return;
  ctx.device.queue.writeBuffer(params, 0, Uint32Array.of(tokens, channels));
  const pipeline = ctx.pipelines.get(kernel, [['act', 0]], activations.type);
  const bindGroup = ctx.device.createBindGroup({
    layout: pipeline.getBindGroupLayout(0),
    entries: [
      { binding: 0, resource: { buffer: activations.buffer, size: bindingBytes(elements, activations.type) } },
      { binding: 1, resource: { buffer: weights, size: tokens * 4 } },
      { binding: 2, resource: { buffer: target } },
      { binding: 3, resource: { buffer: params } },
    ],
  });
  const pass = encoder.beginComputePass({ label: kernel });
  pass.setPipeline(pipeline);
  pass.setBindGroup(0, bindGroup);
  pass.dispatchWorkgroups(...workgroups);
  pass.end();
}
