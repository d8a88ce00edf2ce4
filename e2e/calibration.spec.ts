import { expect, test } from '@playwright/test';
import { statsFromJson } from '../src/core/stats';
import { calibrationStatsError } from '../src/gpu/kernels/errors';
import type {} from '../src/testing/kernel-page/main';

// 172² f32 values per layer: 1 MB holds all 5 Gram matrices, so one pass.
const GRAM_BUDGET = 1 << 20;

test('calibration on WebGPU (gpu-buffer outputs, WGSL kernels) equals WASM + CPU, and resumes exactly after a cancel', async ({ page }) => {
  await page.goto('/kernel-tests.html');
  await expect(page.locator('body')).toHaveAttribute('data-ready', 'true');
  const [onGpu, resumed] = await page.evaluate(
    ([gram]) => window.kernelTests.calibrate('auto', [{ gramBudgetBytes: gram }, { cancelAfterSamples: 3 }]),
    [GRAM_BUDGET],
  );
  const [onWasm] = await page.evaluate(([gram]) => window.kernelTests.calibrate('wasm', [{ gramBudgetBytes: gram }]), [GRAM_BUDGET]);

  expect(onGpu!.backend.kind).toBe('webgpu');
  expect(onGpu!.accumulator).toBe('gpu');
  expect(onWasm!.backend.kind).toBe('wasm');
  expect(onWasm!.accumulator).toBe('cpu');
  expect(onGpu!.progress).toEqual([3, 6, 8]);

  const gpuStats = statsFromJson(onGpu!.stats);
  const wasmStats = statsFromJson(onWasm!.stats);
  expect(gpuStats.layers).toHaveLength(5);
  expect(gpuStats.layers.every((l) => l.gram?.length === 172 * 172)).toBe(true);
  expect(gpuStats.tokens).toBe(wasmStats.tokens);
  const error = calibrationStatsError(gpuStats, wasmStats);
  test.info().annotations.push({ type: 'WebGPU vs WASM, largest relative error', description: error.toExponential(2) });
  expect(error).toBeLessThanOrEqual(1e-4);

  // Cancelled after 3 samples, resumed from the checkpoint: the same channel statistics as the run without a cancel.
  test.info().annotations.push({ type: 'cancelled at sample', description: String(resumed!.resumedFrom) });
  expect(resumed!.resumedFrom).toBeGreaterThanOrEqual(3);
  expect(resumed!.resumedFrom).toBeLessThan(8);
  const withoutGram = { ...onGpu!.stats, layers: onGpu!.stats.layers.map(({ gram: _, ...layer }) => layer) };
  expect(resumed!.stats).toEqual(withoutGram);
});
