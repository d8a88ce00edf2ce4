/**
 * The no-WebGPU Gram accumulator (Node CLI, the studio on WASM): the blocked sums it uses against the
 * per-token reference, on random activations at real FFN widths, both timed in this run.
 */
import { accumulateGram, accumulateGramBlocked } from '../src/gpu/kernels/gram/reference';
import { createRng } from '../src/model/sampling';
import type { Row } from './row';

const TOKENS = 256;

function timed(run: () => void): number {
  const start = performance.now();
  run();
  return (performance.now() - start) / 1000;
}

export async function rows(): Promise<Row[]> {
  const out: Row[] = [];
  for (const [model, channels] of [['SmolLM2-135M', 1536], ['Qwen2.5-0.5B', 4864]] as const) {
    const rng = createRng(channels);
    const activations = Float32Array.from({ length: TOKENS * channels }, () => rng() * 2 - 1);
    const weights = new Float32Array(TOKENS).fill(1);
    const reference = timed(() => accumulateGram(new Float64Array(channels * channels), channels, activations, weights));
    const blocked = timed(() => accumulateGramBlocked(new Float64Array(channels * channels), channels, activations, weights));
    const gflops = (seconds: number) => ((TOKENS * channels * (channels + 1)) / seconds / 1e9).toFixed(2);
    out.push({
      group: 'gram-cpu',
      measurement: `CPU Gram accumulation, ${model} FFN width (${channels} channels), ${TOKENS} tokens: per-token reference ÷ blocked time`,
      value: `${(reference / blocked).toFixed(1)}x`,
      notes: `float64, one thread; per-token ${reference.toFixed(2)} s (${gflops(reference)} GFLOP/s), blocked by 64 tokens ${blocked.toFixed(2)} s (${gflops(blocked)} GFLOP/s)`,
    });
  }
  return out;
}
