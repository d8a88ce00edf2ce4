/** Every WGSL kernel against its CPU reference on Dawn in Node (SwiftShader without a GPU). */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createGpuContext, type GpuContext } from '../gpu/context';
import { kernelChecks } from './kernel-checks';
import { openNodeGpu, type NodeGpu } from '../node/dawn';
import { fileShaders } from '../node/file-shaders';

let gpu: NodeGpu;
let ctx: GpuContext;

beforeAll(async () => {
  const opened = await openNodeGpu();
  if (!opened) throw new Error('Dawn found no WebGPU adapter: install Chromium (SwiftShader) or set VK_ICD_FILENAMES.');
  gpu = opened;
  ctx = createGpuContext(gpu.device, fileShaders);
});

afterAll(() => gpu?.close());

describe('WGSL kernels on Dawn match their float64 references', () => {
  for (const check of kernelChecks()) {
    it(check.name, async () => {
      gpu.device.pushErrorScope('validation');
      const result = await check.run(ctx);
      const validation = await gpu.device.popErrorScope();
      ctx.buffers.destroyAll();
      expect(validation?.message).toBeUndefined();
      expect(result.error, result.detail).toBeLessThanOrEqual(result.tolerance);
    });
  }
});
