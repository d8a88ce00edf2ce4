/**
 * Every WGSL kernel against its float64 CPU reference, on random and adversarial inputs. One suite, run
 * in Node on Dawn (src/testing/kernel-checks.test.ts) and in the browser (kernel-tests.html, e2e/kernels.spec.ts).
 */
import { f16ToF32Array } from '../onnx/float16';
import { f32ToF16Bits } from '../onnx/float16';
import { createRng } from '../model/sampling';
import { GpuChannelStats } from '../gpu/kernels/channel-stats/channel-stats';
import type { GpuContext, GpuTensor } from '../gpu/context';
import { meanCosineOnGpu, tokenVector } from '../gpu/kernels/cosine/cosine';
import type { ElementType } from '../gpu/elements';
import { GpuGram } from '../gpu/kernels/gram/gram';
import { accumulateChannelStats } from '../gpu/kernels/channel-stats/reference';
import { emptyChannelStats, type ChannelStats } from '../core/stats';
import { meanCosineSimilarity } from '../gpu/kernels/cosine/reference';
import { channelStatsError, gramError, valueError } from '../gpu/kernels/errors';
import { accumulateGram } from '../gpu/kernels/gram/reference';
import { klDivergence } from '../gpu/kernels/kl-divergence/reference';
import { tokenNll } from '../gpu/kernels/token-nll/reference';
import { klDivergenceOnGpu } from '../gpu/kernels/kl-divergence/kl-divergence';
import { tokenNllOnGpu } from '../gpu/kernels/token-nll/token-nll';

export interface KernelCheckResult {
  name: string;
  /** Measured error (see gpu/kernels/errors.ts for each metric). */
  error: number;
  tolerance: number;
  detail: string;
}

export interface KernelCheck {
  name: string;
  run(ctx: GpuContext): Promise<Omit<KernelCheckResult, 'name'>>;
}

type Rng = () => number;

const gaussian = (rng: Rng) => Math.sqrt(-2 * Math.log(1 - rng())) * Math.cos(2 * Math.PI * rng());
const randomValues = (rng: Rng, n: number, scale = 1) => Float32Array.from({ length: n }, () => gaussian(rng) * scale);
/** Weights in [0, 2) with about a fifth exactly zero (masked tokens). */
const randomWeights = (rng: Rng, n: number) => Float32Array.from({ length: n }, () => (rng() < 0.2 ? 0 : 2 * rng()));

/** Puts `values` on the GPU as `type`; returns the tensor and the values the kernel will actually see. */
function upload(ctx: GpuContext, values: Float32Array, type: ElementType): { tensor: GpuTensor; seen: Float32Array } {
  const { STORAGE } = GPUBufferUsage;
  if (type === 'f32') {
    return { tensor: { buffer: ctx.buffers.upload('check input', values, STORAGE), type, elements: values.length }, seen: values };
  }
  const bits = Uint16Array.from(values, f32ToF16Bits);
  return { tensor: { buffer: ctx.buffers.upload('check input', bits, STORAGE), type, elements: values.length }, seen: f16ToF32Array(bits) };
}

function uploadWeights(ctx: GpuContext, weights: Float32Array): GPUBuffer {
  return ctx.buffers.upload('check weights', weights, GPUBufferUsage.STORAGE);
}

/** Runs `batches` through a GPU accumulator started from `initial`, one submit per batch. */
async function gpuChannelStats(ctx: GpuContext, channels: number, batches: { acts: GpuTensor; weights: Float32Array }[], initial?: ChannelStats) {
  const stats = new GpuChannelStats(ctx, channels, initial);
  try {
    for (const { acts, weights } of batches) {
      const encoder = ctx.device.createCommandEncoder();
      stats.encode(encoder, acts, uploadWeights(ctx, weights), weights.length);
      ctx.device.queue.submit([encoder.finish()]);
    }
    return await stats.read();
  } finally {
    stats.destroy();
  }
}

function copyStats(stats: ChannelStats): ChannelStats {
  return { sumSq: stats.sumSq.slice(), sum: stats.sum.slice(), sumAbs: stats.sumAbs.slice(), weight: stats.weight };
}

/** Random batches of [tokens, channels] on top of saved statistics (as a resumed run starts). */
function channelStatsCheck(name: string, type: ElementType, tokens: number, channels: number, scale: number): KernelCheck {
  return {
    name,
    async run(ctx) {
      const rng = createRng(tokens * 1000 + channels);
      const initial = emptyChannelStats(channels);
      accumulateChannelStats(initial, randomValues(rng, 3 * channels, scale), randomWeights(rng, 3));
      const expected = copyStats(initial);
      const batches = [0, 1].map(() => {
        const { tensor, seen } = upload(ctx, randomValues(rng, tokens * channels, scale), type);
        const weights = randomWeights(rng, tokens);
        accumulateChannelStats(expected, seen, weights);
        return { acts: tensor, weights };
      });
      const actual = await gpuChannelStats(ctx, channels, batches, initial);
      return { error: channelStatsError(actual, expected), tolerance: 1e-5, detail: `${type}, ${tokens} tokens x ${channels} channels x 2 batches, scale ${scale}` };
    },
  };
}

/** Weight-0 tokens hold NaN, inf and 3e38; they must not touch the sums. A batch of only such tokens adds nothing. */
const channelStatsMasked: KernelCheck = {
  name: 'channel stats: zero weights skip NaN/inf tokens',
  async run(ctx) {
    const rng = createRng(7);
    const tokens = 16;
    const channels = 65;
    const values = randomValues(rng, tokens * channels);
    const weights = randomWeights(rng, tokens);
    for (let t = 0; t < tokens; t += 3) {
      weights[t] = 0;
      for (let c = 0; c < channels; c++) values[t * channels + c] = [NaN, Infinity, -Infinity, 3e38][c % 4]!;
    }
    const expected = emptyChannelStats(channels);
    accumulateChannelStats(expected, values, weights);
    const masked = upload(ctx, values, 'f32').tensor;
    const allMasked = { acts: masked, weights: new Float32Array(tokens) };
    const actual = await gpuChannelStats(ctx, channels, [{ acts: masked, weights }, allMasked]);
    return { error: channelStatsError(actual, expected), tolerance: 1e-5, detail: `${tokens} tokens, every third masked and non-finite` };
  },
};

/**
 * Over a million tokens with values on a 1/16 grid and weights on a 1/2 grid: every per-dispatch partial
 * is exact in f32, so the float64 reference is reached exactly only if the running sums keep more than
 * f32's 24 bits. The detail reports what one f32 running sum would have lost.
 */
function channelStatsLongRun(totalTokens: number): KernelCheck {
  return {
    name: `channel stats: ${totalTokens} tokens stay exact`,
    async run(ctx) {
      const rng = createRng(11);
      const tokens = 1024;
      const channels = 80;
      const buffers = Array.from({ length: 8 }, () => {
        const values = Float32Array.from({ length: tokens * channels }, () => Math.round((rng() * 2 - 1) * 64) / 16);
        const weights = Float32Array.from({ length: tokens }, () => Math.floor(rng() * 4) / 2);
        const partial = emptyChannelStats(channels);
        accumulateChannelStats(partial, values, weights);
        return { partial, acts: upload(ctx, values, 'f32').tensor, weightBuffer: uploadWeights(ctx, weights) };
      });
      const dispatches = Math.ceil(totalTokens / tokens);
      const expected = emptyChannelStats(channels);
      const naive = new Float32Array(channels);
      const stats = new GpuChannelStats(ctx, channels);
      try {
        // Same token count every time, so many dispatches may share one submit.
        for (let start = 0; start < dispatches; start += 64) {
          const encoder = ctx.device.createCommandEncoder();
          for (let d = start; d < Math.min(dispatches, start + 64); d++) {
            const batch = buffers[d % buffers.length]!;
            stats.encode(encoder, batch.acts, batch.weightBuffer, tokens);
            const { partial } = batch;
            for (let c = 0; c < channels; c++) {
              expected.sumSq[c] += partial.sumSq[c];
              expected.sum[c] += partial.sum[c];
              expected.sumAbs[c] += partial.sumAbs[c];
              naive[c] = Math.fround(naive[c] + partial.sumSq[c]);
            }
            expected.weight += partial.weight;
          }
          ctx.device.queue.submit([encoder.finish()]);
        }
        const actual = await stats.read();
        const naiveError = Math.max(...Array.from(naive, (v, c) => Math.abs(v - expected.sumSq[c]) / expected.sumSq[c]));
        return {
          error: channelStatsError(actual, expected),
          tolerance: 1e-12,
          detail: `${dispatches * tokens} tokens in ${dispatches} dispatches; a single f32 running sum would be off by ${naiveError.toExponential(2)}`,
        };
      } finally {
        stats.destroy();
      }
    },
  };
}

async function gpuGram(ctx: GpuContext, channels: number, batches: { acts: GpuTensor; weights: Float32Array }[], initial?: Float64Array) {
  const gram = new GpuGram(ctx, channels, initial);
  try {
    for (const { acts, weights } of batches) {
      const encoder = ctx.device.createCommandEncoder();
      gram.encode(encoder, acts, uploadWeights(ctx, weights), weights.length);
      ctx.device.queue.submit([encoder.finish()]);
    }
    return await gram.read();
  } finally {
    gram.destroy();
  }
}

function gramCheck(name: string, type: ElementType, tokens: number, channels: number, scale: number, poison = false): KernelCheck {
  return {
    name,
    async run(ctx) {
      const rng = createRng(tokens * 7919 + channels);
      const initial = new Float64Array(channels * channels);
      accumulateGram(initial, channels, randomValues(rng, 2 * channels, scale), randomWeights(rng, 2));
      const expected = initial.slice();
      const batches = [0, 1].map(() => {
        const values = randomValues(rng, tokens * channels, scale);
        const weights = randomWeights(rng, tokens);
        if (poison) {
          weights[0] = 0;
          values.fill(NaN, 0, channels);
        }
        const { tensor, seen } = upload(ctx, values, type);
        accumulateGram(expected, channels, seen, weights);
        return { acts: tensor, weights };
      });
      const actual = await gpuGram(ctx, channels, batches, initial);
      return { error: gramError(actual, expected, channels), tolerance: 1e-5, detail: `${type}, ${tokens} tokens x ${channels} channels x 2 batches, scale ${scale}` };
    },
  };
}

/** Last-token hidden states of two runs with different lengths, several layers, two pairs per submit. */
function cosineCheck(name: string, type: ElementType, hidden: number): KernelCheck {
  return {
    name,
    async run(ctx) {
      const rng = createRng(hidden);
      const layers = 3;
      const dimsA = [2, 5, hidden];
      const dimsB = [1, 7, hidden];
      const runA = Array.from({ length: layers }, () => upload(ctx, randomValues(rng, 2 * 5 * hidden, 4), type));
      const runB = Array.from({ length: layers }, (_, l) => {
        // Correlated with run A's vector, so the similarities are far from 0.
        const values = randomValues(rng, 7 * hidden, 2);
        const a = runA[l]!.seen.subarray((1 * 5 + 3) * hidden, (1 * 5 + 4) * hidden);
        for (let k = 0; k < hidden; k++) values[6 * hidden + k] += a[k]!;
        return upload(ctx, values, type);
      });
      const lastA = (l: number) => tokenVector(runA[l]!.tensor, dimsA, 1, 3);
      const lastB = (l: number) => tokenVector(runB[l]!.tensor, dimsB, 0, 6);
      const seenA = (l: number) => runA[l]!.seen.subarray((1 * 5 + 3) * hidden, (1 * 5 + 4) * hidden);
      const seenB = (l: number) => runB[l]!.seen.subarray(6 * hidden, 7 * hidden);
      const ranges = [
        [0, 3],
        [1, 3],
      ] as const;
      const actual = await meanCosineOnGpu(
        ctx,
        ranges.map(([from, to]) => Array.from({ length: to - from }, (_, i) => ({ a: lastA(from + i), b: lastB(from + i) }))),
        hidden,
      );
      const expected = ranges.map(([from, to]) => meanCosineSimilarity(Array.from({ length: to - from }, (_, i) => ({ a: seenA(from + i), b: seenB(from + i) }))));
      return { error: valueError(actual, expected), tolerance: 1e-5, detail: `${type}, hidden ${hidden}, means ${expected.map((v) => v.toFixed(4)).join(', ')}` };
    },
  };
}

/** One-layer pairs: length 1, a zero vector, huge and tiny magnitudes, identical and opposite vectors. */
const cosineAdversarial: KernelCheck = {
  name: 'cosine: length 1, zero, huge, tiny, identical, opposite',
  async run(ctx) {
    const rng = createRng(3);
    const base = randomValues(rng, 300);
    const cases: [Float32Array, Float32Array][] = [
      [Float32Array.of(-2), Float32Array.of(3)],
      [new Float32Array(300), base],
      [base.map((v) => v * 1e25), randomValues(rng, 300, 1e25)],
      [base.map((v) => v * 1e-25), base.map((v, k) => (k % 2 ? v : -v) * 1e-20)],
      [base, base.map((v) => v * 7)],
      [base, base.map((v) => -v)],
    ];
    const pairs = cases.map(([a, b]) => [{ a: { tensor: upload(ctx, a, 'f32').tensor, offset: 0 }, b: { tensor: upload(ctx, b, 'f32').tensor, offset: 0 } }]);
    // Every pair's vectors have the same length within one call: run the length-1 pair on its own.
    const first = await meanCosineOnGpu(ctx, pairs.slice(0, 1), 1);
    const rest = await meanCosineOnGpu(ctx, pairs.slice(1), 300);
    const expected = cases.map(([a, b]) => meanCosineSimilarity([{ a, b }]));
    return { error: valueError([...first, ...rest], expected), tolerance: 1e-5, detail: `expected ${expected.map((v) => v.toFixed(4)).join(', ')}` };
  },
};

function nllCheck(name: string, type: ElementType, rows: number, vocab: number): KernelCheck {
  return {
    name,
    async run(ctx) {
      const rng = createRng(rows * vocab);
      const { tensor, seen } = upload(ctx, randomValues(rng, rows * vocab, 3), type);
      const targets = Int32Array.from({ length: rows }, (_, r) => (r === 1 ? -1 : Math.floor(rng() * vocab)));
      const actual = await tokenNllOnGpu(ctx, tensor, vocab, targets);
      return { error: valueError(actual, tokenNll(seen, targets, vocab)), tolerance: 1e-5, detail: `${type}, ${rows} rows x vocab ${vocab}` };
    },
  };
}

/** Rows of -inf-ish logits (masked vocabulary), a target on one, one huge logit, equal logits, vocab 1. */
const nllAdversarial: KernelCheck = {
  name: 'token nll: -inf-ish, huge and equal logits, vocab 1',
  async run(ctx) {
    const vocab = 10;
    const lowest = -3.4028234663852886e38;
    const rows = [
      [0.5, lowest, lowest, 2, lowest, -1e30, 0, 0, lowest, 1],
      [0.5, lowest, lowest, 2, lowest, -1e30, 0, 0, lowest, 1],
      [1e30, 0, -1e30, 0, 0, 0, 0, 0, 0, 0],
      [3, 3, 3, 3, 3, 3, 3, 3, 3, 3],
      Array(10).fill(lowest),
      [-1e30, -1e30, -1e30, -1e30, -1e30, -1e30, -1e30, -1e30, -1e30, -2e30],
    ];
    const targets = Int32Array.of(3, 5, 1, 7, 4, 9);
    const logits = Float32Array.from(rows.flat());
    const actual = await tokenNllOnGpu(ctx, upload(ctx, logits, 'f32').tensor, vocab, targets);
    const single = await tokenNllOnGpu(ctx, upload(ctx, Float32Array.of(-5), 'f32').tensor, 1, Int32Array.of(0));
    const expected = [...tokenNll(logits, targets, vocab), ...tokenNll([-5], [0], 1)];
    return { error: valueError([...actual, ...single], expected), tolerance: 1e-5, detail: `nll ${[...actual, ...single].map((v) => v.toPrecision(4)).join(', ')}` };
  },
};

/** A pruned model's logits: the dense ones plus noise, so the KL is small but far from 0, as in plan search. One row masked. */
function klCheck(name: string, type: ElementType, rows: number, vocab: number): KernelCheck {
  return {
    name,
    async run(ctx) {
      const rng = createRng(rows * vocab + 5);
      const denseValues = randomValues(rng, rows * vocab, 3);
      const noise = randomValues(rng, rows * vocab, 0.3);
      const dense = upload(ctx, denseValues, type);
      const pruned = upload(ctx, denseValues.map((v, i) => v + noise[i]!), type);
      const weights = Float32Array.from({ length: rows }, (_, r) => (r === 1 ? 0 : 0.5 + rng()));
      const actual = await klDivergenceOnGpu(ctx, dense.tensor, pruned.tensor, vocab, weights);
      const expected = klDivergence(dense.seen, pruned.seen, weights, vocab);
      return { error: valueError(actual, expected), tolerance: 1e-5, detail: `${type}, ${rows} rows x vocab ${vocab}, kl ${Array.from(expected, (v) => v.toPrecision(3)).join(', ')}` };
    },
  };
}

/** Identical rows (exactly 0), masked vocabulary in one or both, a huge logit, disjoint peaks, vocab 1. */
const klAdversarial: KernelCheck = {
  name: 'kl: identical, masked, huge and peaked logits, vocab 1',
  async run(ctx) {
    const vocab = 10;
    const lowest = -3.4028234663852886e38;
    const pairs: [number[], number[]][] = [
      [[0.5, 1, 2, -1, 0, 0, 3, 1, 1, 2], [0.5, 1, 2, -1, 0, 0, 3, 1, 1, 2]],
      [[0.5, lowest, lowest, 2, lowest, -1e30, 0, 0, lowest, 1], [0.4, 0, 1, 2, 3, 0, 0, 0, 1, 1]],
      [[0.5, lowest, lowest, 2, lowest, 0, 0, 0, lowest, 1], [0.4, lowest, lowest, 2.5, lowest, 0, 1, 0, lowest, 1]],
      [[1e30, 0, -1e30, 0, 0, 0, 0, 0, 0, 0], [1e30, 0, -1e30, 0, 0, 0, 0, 0, 0, 1]],
      [[3, 3, 3, 3, 3, 3, 3, 3, 3, 3], [20, 0, 0, 0, 0, 0, 0, 0, 0, 0]],
      [[-1e30, -1e30, -1e30, -1e30, -1e30, -1e30, -1e30, -1e30, -1e30, -2e30], [-1e30, -1e30, -1e30, -1e30, -1e30, -1e30, -1e30, -1e30, -1e30, -1e30]],
    ];
    const dense = Float32Array.from(pairs.flatMap(([d]) => d));
    const pruned = Float32Array.from(pairs.flatMap(([, p]) => p));
    const weights = new Float32Array(pairs.length).fill(1);
    const actual = await klDivergenceOnGpu(ctx, upload(ctx, dense, 'f32').tensor, upload(ctx, pruned, 'f32').tensor, vocab, weights);
    const single = await klDivergenceOnGpu(ctx, upload(ctx, Float32Array.of(-5), 'f32').tensor, upload(ctx, Float32Array.of(7), 'f32').tensor, 1, Float32Array.of(1));
    const expected = [...klDivergence(dense, pruned, weights, vocab), ...klDivergence([-5], [7], [1], 1)];
    return { error: valueError([...actual, ...single], expected), tolerance: 1e-5, detail: `kl ${[...actual, ...single].map((v) => v.toPrecision(4)).join(', ')}` };
  },
};

export function kernelChecks({ longRunTokens = 1 << 20 } = {}): KernelCheck[] {
  return [
    channelStatsCheck('channel stats: random f32, C not a multiple of 64', 'f32', 37, 131, 3),
    channelStatsCheck('channel stats: random f16', 'f16', 33, 67, 3),
    channelStatsCheck('channel stats: C = 1, T = 1', 'f32', 1, 1, 1),
    channelStatsCheck('channel stats: huge values', 'f32', 20, 70, 1e15),
    channelStatsMasked,
    channelStatsLongRun(longRunTokens),
    gramCheck('gram: random f32, C not a multiple of 16', 'f32', 29, 37, 2),
    gramCheck('gram: random f16', 'f16', 19, 40, 2),
    gramCheck('gram: C = 1, T = 1', 'f32', 1, 1, 1),
    gramCheck('gram: huge values', 'f32', 5, 20, 1e15),
    gramCheck('gram: zero weights skip NaN tokens', 'f32', 9, 17, 1, true),
    cosineCheck('cosine: random f32, hidden not a multiple of 256', 'f32', 100),
    cosineCheck('cosine: random f16', 'f16', 576),
    cosineAdversarial,
    nllCheck('token nll: random f32', 'f32', 7, 1000),
    nllCheck('token nll: random f16', 'f16', 5, 777),
    nllCheck('token nll: vocab 49152', 'f32', 3, 49152),
    nllCheck('token nll: vocab 151936', 'f32', 2, 151936),
    nllAdversarial,
    klCheck('kl: random f32', 'f32', 7, 1000),
    klCheck('kl: random f16', 'f16', 5, 777),
    klCheck('kl: vocab 49152', 'f32', 3, 49152),
    klCheck('kl: vocab 151936', 'f32', 2, 151936),
    klAdversarial,
  ];
}

/** Runs every check; the context's buffers are all destroyed afterwards (`ctx.buffers.live` is 0). */
export async function runKernelChecks(ctx: GpuContext, options: { longRunTokens?: number } = {}): Promise<KernelCheckResult[]> {
  const results: KernelCheckResult[] = [];
  try {
    for (const check of kernelChecks(options)) {
      results.push({ name: check.name, ...(await check.run(ctx)) });
      ctx.buffers.destroyAll();
    }
  } finally {
    ctx.buffers.destroyAll();
  }
  return results;
}
