import * as ort from 'onnxruntime-node';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { GpuContext } from '../gpu/context';
import { openNodeGpuContext, type NodeGpu } from '../node/dawn';
import { importGguf } from '../import/import-gguf';
import { loadBuiltin } from '../fixtures/builtin';
import { describeDecoder, disposeAll, emptyPast, tokenFeeds } from '../model/decoder-io';
import { writeFolderAtomic } from '../node/folder-io';
import { runCalibration, type CalibrationOptions, type CalibrationProgress } from './engine';
import type { AccumulatorFactory } from './engine-accumulator';
import { cpuAccumulator, createCpuAccumulator } from './engine-accumulator-cpu';
import { ortMatMul } from '../model/ort-matmul';
import { createGpuAccumulator } from './engine-accumulator-gpu';
import type { CalibrationSample } from '../core/stats';
import { parseCheckpoint, serializeCheckpoint, type CalibrationCheckpoint } from './engine-checkpoint';
import { loadNodeCalibrationModel, type NodeCalibrationModel } from '../node/calibration-engine';
import { calibrationTestSamples } from './engine-test-texts';
import { emptyCalibrationStats, statsToJson, type CalibrationStats } from '../core/stats';
import { calibrationStatsError } from '../gpu/kernels/errors';

let dir: string;
let model: NodeCalibrationModel;
let samples: CalibrationSample[];
let gpu: NodeGpu;
let ctx: GpuContext;

beforeAll(async () => {
  dir = await mkdtemp(join(tmpdir(), 'pps-engine-'));
  // External data on purpose: the instrumented graph must find the original weights file.
  await writeFolderAtomic(join(dir, 'model'), importGguf(await loadBuiltin(), { externalData: 'always' }));
  model = await loadNodeCalibrationModel(join(dir, 'model'));
  samples = calibrationTestSamples(model.tokenizer);
  ({ gpu, ctx } = await openNodeGpuContext());
});

afterAll(async () => {
  gpu?.close();
  await model?.session.release();
  await rm(dir, { recursive: true, force: true });
});

/** Independent of the engine: each sample alone (no padding), down_proj inputs summed in plain JS. */
async function plainJsStats(withGram = false): Promise<CalibrationStats> {
  const io = describeDecoder(model.session, model.config);
  let stats: CalibrationStats | undefined;
  for (const { ids, weights } of samples) {
    const feeds = { ...tokenFeeds(model.ort, io, ids, 0), ...emptyPast(model.ort, io) };
    const outputs = await model.session.run(feeds, model.outputs.map((o) => o.downInput));
    model.outputs.forEach(({ layer, downInput }) => {
      const data = outputs[downInput]!.data as Float32Array;
      const channels = data.length / ids.length;
      stats ??= emptyCalibrationStats(model.outputs.map(() => channels));
      const s = stats.layers[layer]!;
      if (withGram) s.gram ??= new Float64Array(channels * channels);
      for (let t = 0; t < ids.length; t++) {
        const w = weights[t]!;
        if (layer === 0) stats.tokens++;
        if (w === 0) continue;
        s.weight += w;
        for (let c = 0; c < channels; c++) {
          const a = data[t * channels + c]!;
          s.sumSq[c] += w * a * a;
          s.sum[c] += w * a;
          s.sumAbs[c] += w * Math.abs(a);
          if (s.gram) for (let d = 0; d < channels; d++) s.gram[c * channels + d] += w * a * data[t * channels + d]!;
        }
      }
    });
    stats!.samples++;
    disposeAll(Object.values(outputs));
    disposeAll(Object.values(feeds));
  }
  return stats!;
}

async function calibrate(accumulate: AccumulatorFactory, options: CalibrationOptions = {}): Promise<CalibrationStats> {
  const result = await runCalibration(model, samples, accumulate, { batchSize: 3, ...options });
  if (result.status !== 'done') throw new Error('the run was cancelled');
  return result.stats;
}

/** Cancels once `after` samples of pass `pass` are done, then resumes from the JSON checkpoint. */
async function cancelAndResume(accumulate: AccumulatorFactory, after: number, pass = 0, options: CalibrationOptions = {}) {
  const controller = new AbortController();
  const first = await runCalibration(model, samples, accumulate, {
    batchSize: 3,
    ...options,
    signal: controller.signal,
    onProgress: (p) => p.pass === pass && p.samples >= after && controller.abort(),
  });
  if (first.status !== 'cancelled') throw new Error('the run was not cancelled');
  const checkpoint = parseCheckpoint(serializeCheckpoint(first.checkpoint));
  expect(checkpoint.pass).toBe(pass);
  expect(checkpoint.nextSample).toBeGreaterThanOrEqual(after);
  expect(checkpoint.nextSample).toBeLessThan(samples.length);
  return { checkpoint, stats: await calibrate(accumulate, { ...options, resume: checkpoint }) };
}

describe('calibration engine', () => {
  it('on the CPU, equals each sample run alone and summed in plain JS', async () => {
    const [engine, plain] = [await calibrate(createCpuAccumulator), await plainJsStats()];
    expect(engine.layers).toHaveLength(5);
    expect(engine.layers[0]!.sum).toHaveLength(172);
    expect(engine.tokens).toBe(plain.tokens);
    expect(engine.samples).toBe(samples.length);
    expect(engine.layers[0]!.weight).toBeCloseTo(plain.layers[0]!.weight, 10);
    // Padded batches run other matrix shapes than single samples: float32 rounding differs slightly.
    expect(calibrationStatsError(engine, plain)).toBeLessThan(1e-5);
    expect(calibrationStatsError(engine, emptyCalibrationStats(engine.layers.map((l) => l.sum.length)))).toBeGreaterThan(0.5);
  });

  it('accumulates Gram matrices equal to plain JS ones', async () => {
    const [engine, plain] = [await calibrate(createCpuAccumulator, { gram: { budgetBytes: 2 ** 30, bytesPerValue: 8 } }), await plainJsStats(true)];
    expect(engine.layers.every((l) => l.gram?.length === 172 * 172)).toBe(true);
    expect(calibrationStatsError(engine, plain)).toBeLessThan(1e-5);
  });

  it('with the Gram as onnxruntime float64 products, equals the blocked JS sums to rounding', async () => {
    const options = { gram: { budgetBytes: 2 ** 30, bytesPerValue: 8 } };
    const [product, blocked] = [await calibrate(cpuAccumulator(ortMatMul(ort)), options), await calibrate(createCpuAccumulator, options)];
    product.layers.forEach((layer, l) => {
      const reference = blocked.layers[l]!.gram!;
      const scale = Math.max(...reference.map(Math.abs));
      layer.gram!.forEach((v, i) => expect(Math.abs(v - reference[i]!)).toBeLessThan(1e-12 * scale));
      expect([...layer.sumSq]).toEqual([...blocked.layers[l]!.sumSq]);
    });
  });

  it('on the GPU (Dawn, WGSL kernels) agrees with the CPU path, Gram matrices included, and leaks no buffer', async () => {
    const options = { gram: { budgetBytes: 2 ** 30 } };
    const [onGpu, onCpu] = [await calibrate(createGpuAccumulator(ctx), options), await calibrate(createCpuAccumulator, options)];
    expect(onGpu.layers[4]!.gram).toBeInstanceOf(Float32Array);
    expect(calibrationStatsError(onGpu, onCpu)).toBeLessThan(1e-5);
    expect(ctx.buffers.live).toBe(0);
  });

  it('runs Gram matrices that exceed the budget in several passes with the same result', async () => {
    // 172² float64 values are 237 KB per layer: a 500 KB budget holds two layers, so 3 passes.
    const onePass = await calibrate(createCpuAccumulator, { gram: { budgetBytes: 2 ** 30, bytesPerValue: 8 } });
    const passes: number[] = [];
    const plans = new Set<string | undefined>();
    const split = await calibrate(createCpuAccumulator, {
      gram: { budgetBytes: 500_000, bytesPerValue: 8 },
      onProgress: (p) => passes.push(p.passes) && plans.add(p.gramPlan),
    });
    expect(passes).toEqual([3, 3, 3, 3, 3, 3, 3, 3, 3]);
    expect([...plans]).toEqual([expect.stringContaining('runs 3 passes over the data instead of 1')]);
    expect(statsToJson(split)).toEqual(statsToJson(onePass));
  });

  it.each([
    ['CPU', () => createCpuAccumulator],
    ['GPU', () => createGpuAccumulator(ctx)],
  ])('on the %s, cancelling mid-run then resuming gives the uninterrupted statistics', async (_, accumulator) => {
    const uninterrupted = await calibrate(accumulator());
    const { checkpoint, stats } = await cancelAndResume(accumulator(), 3);
    expect(checkpoint.stats.samples).toBe(checkpoint.nextSample);
    expect(checkpoint.stats.layers[0]!.weight).toBeGreaterThan(0);
    expect(statsToJson(stats)).toEqual(statsToJson(uninterrupted));
    expect(ctx.buffers.live).toBe(0);
  });

  it('saves a checkpoint every few batches that a fresh run resumes to the uninterrupted statistics (a lost page)', async () => {
    const uninterrupted = await calibrate(createCpuAccumulator);
    const saved: CalibrationCheckpoint[] = [];
    await calibrate(createCpuAccumulator, { checkpoints: { every: 1, save: (c) => saved.push(parseCheckpoint(serializeCheckpoint(c))) } });
    // One per batch of 3 except after the last: the run itself finished, nothing is left to resume.
    expect(saved.map((c) => c.nextSample)).toEqual([3, 6].filter((n) => n < samples.length));
    expect(saved[0]!.stats.samples).toBe(3);
    const resumed = await calibrate(createCpuAccumulator, { resume: saved.at(-1)! });
    expect(statsToJson(resumed)).toEqual(statsToJson(uninterrupted));
  });

  it('resumes a run cancelled in a later Gram pass', async () => {
    const options = { gram: { budgetBytes: 500_000, bytesPerValue: 8 } };
    const uninterrupted = await calibrate(createCpuAccumulator, options);
    const { checkpoint, stats } = await cancelAndResume(createCpuAccumulator, 3, 1, options);
    expect(checkpoint.gramPasses).toEqual([[0, 1], [2, 3], [4]]);
    expect(checkpoint.stats.layers[0]!.gram).toBeDefined();
    expect(statsToJson(stats)).toEqual(statsToJson(uninterrupted));
  });

  it('reports progress: samples, tokens, rate and ETA', async () => {
    const events: CalibrationProgress[] = [];
    await calibrate(createCpuAccumulator, { onProgress: (p) => events.push(p) });
    const totalTokens = samples.reduce((n, s) => n + s.ids.length, 0);
    expect(events.map((e) => e.samples)).toEqual([3, 6, 8]);
    expect(events.at(-1)).toMatchObject({ pass: 0, passes: 1, totalSamples: 8, tokens: totalTokens, totalTokens, etaSeconds: 0 });
    expect(events[0]!.tokensPerSecond).toBeGreaterThan(0);
    expect(events[0]!.etaSeconds).toBeGreaterThan(0);
  });

  it('refuses a checkpoint from another calibration set', async () => {
    const controller = new AbortController();
    controller.abort();
    const result = await runCalibration(model, samples, createCpuAccumulator, { signal: controller.signal });
    expect(result.status).toBe('cancelled');
    if (result.status !== 'cancelled') return;
    const other = samples.map((s) => ({ ...s, weights: s.weights.map((w) => w * 2) }));
    await expect(runCalibration(model, other, createCpuAccumulator, { resume: result.checkpoint })).rejects.toThrow(/different calibration set/);
  });
});
