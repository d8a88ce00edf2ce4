/**
 * The no-WebGPU Gram accumulator: the onnxruntime float64 product the Node CLI uses, the blocked JS sums
 * the studio on WASM uses (onnxruntime-web's WebGPU bundle has no float64 MatMul), and the per-token reference, on random
 * activations at real FFN widths, all timed in this run.
 */
import * as ort from 'onnxruntime-node';
import { accumulateGramProduct } from '../src/calibration/engine-accumulator-cpu';
import { accumulateGram, accumulateGramBlocked } from '../src/gpu/kernels/gram/reference';
import { ortMatMul } from '../src/model/ort-matmul';
import { createRng } from '../src/model/sampling';
import type { Row } from './row';

const TOKENS = 256;

async function timed(run: () => unknown): Promise<number> {
  const start = performance.now();
  await run();
  return (performance.now() - start) / 1000;
}

export async function rows(): Promise<Row[]> {
  const out: Row[] = [];
  const matmul = ortMatMul(ort);
  for (const [model, channels] of [['SmolLM2-135M', 1536], ['Qwen2.5-0.5B', 4864]] as const) {
    const rng = createRng(channels);
    const activations = Float32Array.from({ length: TOKENS * channels }, () => rng() * 2 - 1);
    const weights = new Float32Array(TOKENS).fill(1);
    const reference = await timed(() => accumulateGram(new Float64Array(channels * channels), channels, activations, weights));
    const blocked = await timed(() => accumulateGramBlocked(new Float64Array(channels * channels), channels, activations, weights));
    // The session is made on the first call: warm it outside the timing.
    await accumulateGramProduct(new Float64Array(channels * channels), channels, activations.subarray(0, channels), weights.subarray(0, 1), matmul);
    const product = await timed(() => accumulateGramProduct(new Float64Array(channels * channels), channels, activations, weights, matmul));
    const gflops = (seconds: number) => ((TOKENS * channels * (channels + 1)) / seconds / 1e9).toFixed(2);
    out.push({
      group: 'gram-cpu',
      measurement: `CPU Gram accumulation, ${model} FFN width (${channels} channels), ${TOKENS} tokens: per-token reference ÷ onnxruntime product time`,
      value: `${(reference / product).toFixed(1)}x`,
      notes: `float64; per-token ${reference.toFixed(2)} s (${gflops(reference)} GFLOP/s), blocked by 64 tokens ${blocked.toFixed(2)} s (${gflops(blocked)} GFLOP/s), onnxruntime-node MatMul ${product.toFixed(3)} s (${gflops(product)} GFLOP/s, its default threads)`,
    });
  }
  return out;
}
