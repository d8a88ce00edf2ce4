/** What every kernel wrapper needs: the shared device, its tracked buffers, and compiled pipelines. */
import { GpuBuffers } from './buffers';
import { inputPrelude, type ElementType } from './elements';
import type { ShaderName, ShaderSource } from './shaders';

export interface GpuContext {
  device: GPUDevice;
  buffers: GpuBuffers;
  pipelines: KernelPipelines;
}

export function createGpuContext(device: GPUDevice, shaders: ShaderSource): GpuContext {
  return { device, buffers: new GpuBuffers(device), pipelines: new KernelPipelines(device, shaders) };
}

/** Compute pipelines, compiled on first use per (kernel, element type). */
class KernelPipelines {
  private readonly cache = new Map<string, GPUComputePipeline>();

  constructor(
    private readonly device: GPUDevice,
    private readonly shaders: ShaderSource,
  ) {}

  /** `inputs` are the kernel's tensor inputs as [name, binding], declared by the element prelude. */
  get(name: ShaderName, inputs: readonly (readonly [string, number])[], type: ElementType): GPUComputePipeline {
    const key = `${name}:${type}`;
    let pipeline = this.cache.get(key);
    if (!pipeline) {
      const code = inputs.map(([input, binding]) => inputPrelude(input, binding, type)).join('') + this.shaders(name);
      const module = this.device.createShaderModule({ label: key, code });
      pipeline = this.device.createComputePipeline({ label: key, layout: 'auto', compute: { module, entryPoint: 'main' } });
      this.cache.set(key, pipeline);
    }
    return pipeline;
  }
}

/** A tensor's data on the GPU: `elements` values of `type` from the start of `buffer`. */
export interface GpuTensor {
  buffer: GPUBuffer;
  type: ElementType;
  elements: number;
}

/** Workgroup counts for `groups` workgroups, spilling into y beyond the per-dimension limit. */
export function dispatchGrid(device: GPUDevice, groups: number): [number, number] {
  const limit = device.limits.maxComputeWorkgroupsPerDimension;
  return groups <= limit ? [Math.max(1, groups), 1] : [limit, Math.ceil(groups / limit)];
}
