/** Every WGSL kernel against its CPU reference on Dawn in Node (SwiftShader without a GPU). */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { GpuContext } from '../gpu/context';
import { kernelChecks } from './kernel-checks';
import { openNodeGpuContext, type NodeGpu } from '../node/dawn';

let gpu: NodeGpu;
let ctx: GpuContext;

beforeAll(async () => {
  ({ gpu, ctx } = await openNodeGpuContext());
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
