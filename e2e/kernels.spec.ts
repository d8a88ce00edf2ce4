import { expect, test } from '@playwright/test';
import { kernelChecks } from '../src/testing/kernel-checks';
import type {} from '../src/testing/kernel-page/main';

test('every WGSL kernel matches its float64 CPU reference in Chromium (WebGPU)', async ({ page }) => {
  await page.goto('/kernel-tests.html');
  await expect(page.locator('body')).toHaveAttribute('data-ready', 'true');
  const { adapter, results, liveBuffers, gpuErrors } = await page.evaluate(() => window.kernelTests.kernels());
  test.info().annotations.push({ type: 'adapter', description: adapter });
  expect(gpuErrors).toEqual([]);
  expect(results.map((r) => r.name)).toEqual(kernelChecks().map((c) => c.name));
  for (const r of results) expect.soft(r.error, `${r.name} (${r.detail})`).toBeLessThanOrEqual(r.tolerance);
  expect(liveBuffers).toBe(0);
});
