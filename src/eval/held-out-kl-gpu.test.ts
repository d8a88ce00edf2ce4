/** The WebGPU held-out KL (dense logits kept on the GPU, KL kernel) against the CPU one on the same logits, on Dawn. */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { CalibrationSample } from '../core/stats';
import { CpuHeldOutKl, klBatches } from './held-out-kl';
import type { OrtTensor } from '../model/ort';
import { createRng } from '../model/sampling';
import type { GpuContext } from '../gpu/context';
import { GpuHeldOutKl, type RunLogits } from './held-out-kl-gpu';
import { openNodeGpuContext, type NodeGpu } from '../node/dawn';

let gpu: NodeGpu;
let ctx: GpuContext;

beforeAll(async () => {
  ({ gpu, ctx } = await openNodeGpuContext());
});

afterAll(() => gpu?.close());

const VOCAB = 300;
const rng = createRng(9);
const samples: CalibrationSample[] = [5, 9, 3].map((n, i) => ({
  ids: Array.from({ length: n }, (_, t) => (t * 7 + i) % VOCAB),
  weights: Float32Array.from({ length: n }, (_, t) => (t < 2 ? 0 : 1 + i)),
}));
const gaussian = () => Math.sqrt(-2 * Math.log(1 - rng())) * Math.cos(2 * Math.PI * rng());
// Different lengths, so the batch has padding rows (weight 0, logits that must not count).
const batches = klBatches(samples, VOCAB);
const denseLogits = batches.map((b) => Float32Array.from({ length: b.rowWeights.length * VOCAB }, () => 3 * gaussian()));
const plans = [0.1, 0.5].map((scale) => denseLogits.map((d) => d.map((v) => v + scale * gaussian())));

/** Logits of a "model": batch i's logits from `table`, as a CPU array and as a GPU-buffer ORT output. */
function models(table: Float32Array[], calls: { count: number }) {
  const index = (batch: readonly CalibrationSample[]) => batches.findIndex((b) => b.samples[0] === batch[0]);
  const cpu = async (batch: readonly CalibrationSample[]) => {
    calls.count++;
    return table[index(batch)]!;
  };
  const onGpu: RunLogits = async (batch, read) => {
    calls.count++;
    const data = table[index(batch)]!;
    const buffer = ctx.buffers.upload('logits', data, GPUBufferUsage.STORAGE | GPUBufferUsage.COPY_SRC);
    try {
      return await read({ location: 'gpu-buffer', gpuBuffer: buffer, type: 'float32', size: data.length, dims: [batch.length, data.length / VOCAB / batch.length, VOCAB] } as unknown as OrtTensor);
    } finally {
      ctx.buffers.destroy(buffer);
    }
  };
  return { cpu, onGpu };
}

describe('held-out KL on the GPU', () => {
  it('equals the CPU evaluation, keeps the dense logits across plans, and recomputes them beyond its budget', async () => {
    for (const budget of [1 << 20, 0]) {
      const onGpu = new GpuHeldOutKl(budget);
      const onCpu = new CpuHeldOutKl(budget);
      const denseCalls = { count: 0 };
      const cpuDenseCalls = { count: 0 };
      const dense = models(denseLogits, denseCalls);
      const cpuDense = models(denseLogits, cpuDenseCalls);
      for (const table of plans) {
        const pruned = models(table, { count: 0 });
        const expected = await onCpu.evaluate(samples, VOCAB, cpuDense.cpu, pruned.cpu);
        const actual = await onGpu.evaluate(ctx, samples, VOCAB, dense.onGpu, pruned.onGpu);
        expect(actual.tokens).toBe(expected.tokens);
        expect(actual.tokens).toBe(3 + 7 + 1);
        expect(actual.weight).toBe(expected.weight);
        expect(expected.meanKl).toBeGreaterThan(1e-3);
        expect(Math.abs(actual.meanKl - expected.meanKl)).toBeLessThan(1e-5 * Math.max(1, expected.meanKl));
      }
      expect(batches).toHaveLength(1);
      expect(denseCalls.count).toBe(budget > 0 ? 1 : 2);
      expect(cpuDenseCalls.count).toBe(denseCalls.count);
      onGpu.release();
    }
  });
});
