/**
 * One layer's reconstruction at real FFN widths (random correlated Gram, random down_proj, 25% removed):
 * the step-by-step JS reference (reconstructLayer) against the removal path the pipeline uses
 * (LayerReconstructor) on onnxruntime-node's float64 MatMul and on the JS product, all in this run; and a
 * second count from the same path (what each plan-search candidate costs). The reference and the JS product
 * are skipped at Qwen's width, where they take minutes.
 */
import * as ort from 'onnxruntime-node';
import { ortMatMul } from '../src/model/ort-matmul';
import { createRng } from '../src/model/sampling';
import { cpuMatMul } from '../src/core/matmul';
import { transpose } from '../src/pruning/linalg';
import { reconstructLayer } from '../src/pruning/reconstruct';
import { LayerReconstructor } from '../src/pruning/reconstruct-path';
import type { Row } from './row';

async function timed<T>(run: () => T | Promise<T>): Promise<{ seconds: number; result: T }> {
  const start = performance.now();
  const result = await run();
  return { seconds: (performance.now() - start) / 1000, result };
}

export async function rows(): Promise<Row[]> {
  const matmul = ortMatMul(ort);
  const out: Row[] = [];
  for (const [model, channels, hidden, reference] of [['SmolLM2-135M', 1536, 576, true], ['Qwen2.5-0.5B', 4864, 896, false]] as const) {
    const rng = createRng(channels);
    // 2C tokens of 16 shared factors plus noise: a Gram with the spread of eigenvalues real ones have.
    const tokens = 2 * channels;
    const mix = Float64Array.from({ length: 16 * channels }, () => rng() * 2 - 1);
    const factors = Float64Array.from({ length: tokens * 16 }, () => rng() * 2 - 1);
    const x = await matmul(factors, mix, tokens, 16, channels);
    for (let i = 0; i < x.length; i++) x[i] += 0.3 * (rng() * 2 - 1);
    const gram = await matmul(transpose(x, tokens, channels), x, channels, tokens, channels);
    const down = Float32Array.from({ length: channels * hidden }, () => rng() * 2 - 1);
    const keep = Math.round(0.75 * channels);
    const fast = new LayerReconstructor(() => gram, down, hidden, { matmul });
    const path = await timed(() => fast.solve(keep));
    const next = await timed(() => fast.solve(keep - Math.round(0.02 * channels)));
    const notes = [`C ${channels}, H ${hidden}, keep ${keep}`, `path on onnxruntime ${path.seconds.toFixed(2)} s`, `a second count from the same path ${next.seconds.toFixed(2)} s`];
    if (reference) {
      // The studio in a browser runs the path's products in JS (no float64 MatMul in onnxruntime-web's WebGPU bundle).
      const jsPath = await timed(() => new LayerReconstructor(() => gram, down, hidden, { matmul: cpuMatMul }).solve(keep));
      notes.push(`path on the JS product ${jsPath.seconds.toFixed(2)} s`);
      const ref = await timed(() => reconstructLayer(gram, down, hidden, keep));
      const same = ref.result.keep.join(',') === path.result.keep.join(',');
      notes.push(`reference ${ref.seconds.toFixed(2)} s`, same ? 'the same kept channels' : 'KEPT CHANNELS DIFFER');
      out.push({ group: 'reconstruct', measurement: `one layer's reconstruction, ${model} FFN width: reference ÷ removal path time`, value: `${(ref.seconds / path.seconds).toFixed(1)}x`, notes: notes.join('; ') });
    } else {
      out.push({ group: 'reconstruct', measurement: `one layer's reconstruction, ${model} FFN width: removal path time`, value: `${path.seconds.toFixed(1)} s`, notes: notes.join('; ') });
    }
  }
  return out;
}
