/**
 * The calibration benchmarks, run in the page by bench/calibration.ts (both on this page's WebGPU device,
 * so the ratios compare like with like):
 * P1: a calibration pass (instrumented graph + WGSL accumulation + reading the statistics back) over the
 *     same batches as a plain forward pass of the uninstrumented graph, both with ORT on WebGPU.
 * P2: accumulating [tokens, channels] activations already on the GPU with the WGSL kernel, against
 *     downloading them and accumulating in JS (the CPU reference), on synthetic activation buffers.
 */
import * as ort from 'onnxruntime-web/webgpu';
import { runCalibration } from '../../calibration/engine';
import { createGpuAccumulator } from '../../calibration/engine-accumulator-gpu';
import { batchFeeds, makeBatch } from '../../calibration/engine-batches';
import { instrumentGraphBytes } from '../../calibration/engine-model';
import { calibrationTestSamples } from '../../calibration/engine-test-texts';
import { fetchModelBundle } from '../../model/bundle';
import { describeDecoder, disposeAll } from '../../model/decoder-io';
import { loadTokenizer } from '../../model/tokenizer';
import { chooseBackend, type Backend } from '../../gpu/backend';
import { createSession } from '../../worker/session';
import { readBuffer } from '../../gpu/buffers';
import { GpuChannelStats } from '../../gpu/kernels/channel-stats/channel-stats';
import { createGpuContext, type GpuContext } from '../../gpu/context';
import { accumulateChannelStats } from '../../gpu/kernels/channel-stats/reference';
import { emptyChannelStats } from '../../core/stats';
import { bundledShaders } from '../../gpu/shaders-bundled';
import { BUILTIN_MODEL_URL } from '../../model/builtin';

export interface Timing {
  /** Median milliseconds per repetition. */
  ms: number;
  repetitions: number;
}

export interface CalibrationBench {
  adapter: string;
  p1: { plain: Timing; calibration: Timing; batches: number; tokens: number };
  p2: { gpu: Timing; js: Timing; layers: number; tokens: number; channels: number };
}

/**
 * Times `a` and `b` alternately (after one warm-up run each), so both see the same machine load, and
 * returns their medians.
 */
async function timePair(repetitions: number, a: () => Promise<void>, b: () => Promise<void>): Promise<[Timing, Timing]> {
  await a();
  await b();
  const times: [number[], number[]] = [[], []];
  for (let i = 0; i < repetitions; i++) {
    for (const [k, body] of [a, b].entries()) {
      const started = performance.now();
      await body();
      times[k]!.push(performance.now() - started);
    }
  }
  const median = (values: number[]): Timing => ({ ms: values.sort((x, y) => x - y)[Math.floor(values.length / 2)]!, repetitions });
  return [median(times[0]), median(times[1])];
}

async function benchP1(ctx: GpuContext, backend: Backend, repetitions: number): Promise<CalibrationBench['p1']> {
  const { device } = ctx;
  const bundle = await fetchModelBundle(BUILTIN_MODEL_URL);
  const samples = calibrationTestSamples(loadTokenizer(bundle.tokenizerJson, bundle.tokenizerConfig));
  const batchSize = 2;
  const plain = (await createSession(ort, bundle, backend)).session;
  const { bytes, outputs } = instrumentGraphBytes(bundle.modelBytes);
  const instrumented = (await createSession(ort, { ...bundle, modelBytes: bytes }, backend)).session;
  try {
    const io = describeDecoder(plain, bundle.config);
    const batches = Array.from({ length: Math.ceil(samples.length / batchSize) }, (_, b) => makeBatch(samples.slice(b * batchSize, (b + 1) * batchSize)));
    const model = { ort, session: instrumented, config: bundle.config, outputs };
    const [plainTiming, calibrationTiming] = await timePair(
      repetitions,
      async () => {
        for (const batch of batches) {
          const feeds = batchFeeds(ort, io, batch);
          disposeAll(Object.values(await plain.run(feeds)));
          disposeAll(Object.values(feeds));
        }
        await device.queue.onSubmittedWorkDone();
      },
      async () => {
        const result = await runCalibration(model, samples, createGpuAccumulator(ctx), { batchSize });
        if (result.status !== 'done') throw new Error('calibration did not finish');
      },
    );
    return { plain: plainTiming, calibration: calibrationTiming, batches: batches.length, tokens: samples.reduce((n, s) => n + s.ids.length, 0) };
  } finally {
    await plain.release();
    await instrumented.release();
  }
}

async function benchP2(ctx: GpuContext, repetitions: number): Promise<CalibrationBench['p2']> {
  const { device, buffers } = ctx;
  // The SmolLM2-135M shape: 30 layers, FFN 1536, one batch of 256 tokens.
  const layers = 30;
  const tokens = 256;
  const channels = 1536;
  const values = Float32Array.from({ length: tokens * channels }, (_, i) => Math.sin(i * 0.37) * 3);
  const weights = new Float32Array(tokens).fill(1);
  const { STORAGE, COPY_SRC } = GPUBufferUsage;
  const activations = Array.from({ length: layers }, () => buffers.upload('synthetic activations', values, STORAGE | COPY_SRC));
  const weightBuffer = buffers.upload('weights', weights, STORAGE);
  const stats = Array.from({ length: layers }, () => new GpuChannelStats(ctx, channels));
  try {
    const sums = Array.from({ length: layers }, () => emptyChannelStats(channels));
    const [gpu, js] = await timePair(
      repetitions,
      async () => {
        const encoder = device.createCommandEncoder();
        activations.forEach((buffer, l) => stats[l]!.encode(encoder, { buffer, type: 'f32', elements: tokens * channels }, weightBuffer, tokens));
        device.queue.submit([encoder.finish()]);
        await device.queue.onSubmittedWorkDone();
      },
      async () => {
        for (let l = 0; l < layers; l++) {
          const data = new Float32Array(await readBuffer(device, activations[l]!, tokens * channels * 4));
          accumulateChannelStats(sums[l]!, data, weights);
        }
      },
    );
    return { gpu, js, layers, tokens, channels };
  } finally {
    for (const s of stats) s.destroy();
    buffers.destroyAll();
  }
}

export async function benchCalibration({ forwardRepetitions = 3, accumulationRepetitions = 9 } = {}): Promise<CalibrationBench> {
  // The app's own device request, so ORT and the kernels share one device as in the worker.
  const backend = await chooseBackend('auto');
  if (backend.kind !== 'webgpu') throw new Error(`No WebGPU here: ${backend.info.reason}`);
  try {
    const ctx = createGpuContext(backend.device, bundledShaders);
    return {
      adapter: [backend.info.vendor, backend.info.architecture, backend.info.description].filter(Boolean).join(' ') || 'unknown adapter',
      p1: await benchP1(ctx, backend, forwardRepetitions),
      p2: await benchP2(ctx, accumulationRepetitions),
    };
  } finally {
    backend.device.destroy();
  }
}
