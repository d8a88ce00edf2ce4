/**
 * Calibration rows, measured in Chromium on its WebGPU adapter (SwiftShader here: no GPU) through the
 * kernel test page (src/testing/kernel-page/bench.ts), so both sides of each ratio run on the same backend:
 * P1 = calibration pass with on-GPU accumulation / plain forward pass (target <= 1.10),
 * P2 = JS download + accumulation / on-GPU accumulation (target >= 5x).
 */
import { withBuiltApp } from './browser-app';
import type { CalibrationBench } from '../src/testing/kernel-page/bench';
import type {} from '../src/testing/kernel-page/main';
import type { Row } from './row';

const PORT = 4188;

export async function rows(): Promise<Row[]> {
  return withBuiltApp(PORT, async (browser, base) => {
    const page = await browser.newPage();
    await page.goto(`${base}kernel-tests.html`);
    await page.waitForSelector('body[data-ready="true"]');
    return format(await page.evaluate(() => window.kernelTests.bench()));
  });
}

function format({ adapter, p1, p2 }: CalibrationBench): Row[] {
  const ms = (t: { ms: number; repetitions: number }) => `${t.ms.toFixed(1)} ms (median of ${t.repetitions})`;
  const backend = `Chromium WebGPU on ${adapter || 'its adapter'}`;
  const p1Ratio = p1.calibration.ms / p1.plain.ms;
  const p2Ratio = p2.js.ms / p2.gpu.ms;
  return [
    {
      group: 'calibration',
      measurement: 'P1: calibration pass / plain forward pass (target <= 1.10)',
      value: `${p1Ratio.toFixed(2)}x`,
      notes:
        `${backend}; built-in stories260K, ${p1.tokens} tokens of the test stories in ${p1.batches} batches; ` +
        `calibration (instrumented graph, gpu-buffer outputs, WGSL accumulation, statistics read back) ${ms(p1.calibration)}, ` +
        `plain forward (all outputs kept on the GPU) ${ms(p1.plain)}`,
    },
    {
      group: 'calibration',
      measurement: 'P2: download + JS accumulation / on-GPU accumulation (target >= 5x)',
      value: `${p2Ratio.toFixed(1)}x`,
      notes:
        `${backend}; synthetic activation buffers of the SmolLM2-135M shape (${p2.layers} layers x ${p2.tokens} tokens x ${p2.channels} channels, f32) already on the GPU; ` +
        `WGSL ${ms(p2.gpu)}, download + float64 JS sums ${ms(p2.js)}`,
    },
  ];
}
