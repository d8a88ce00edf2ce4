/**
 * Studio row (P5): time from pressing "Analyse my character" to the refined plan (the pipeline's full prune:
 * sequential reconstruction, the plan that downloads) on the built-in model, default settings, in headless
 * Chromium (WebGPU on SwiftShader here, and with ?backend=wasm), with its parts as the studio worker timed
 * them (filtering, synthesis, calibration, scoring). Target: <= 30 s.
 */
import type { Page } from '@playwright/test';
import { withBuiltApp } from './browser-app';
import type { Row } from './row';

// Like playwright.config.ts and vite.config.ts: engineers sharing a machine each use their own port.
const PORT = Number(process.env.PPS_PREVIEW_PORT ?? 4189);

async function refinedPlan(page: Page, url: string): Promise<{ seconds: number; parts: Record<string, number>; backend: string }> {
  await page.goto(url);
  await page.evaluate(() => new Promise((resolve) => { const r = indexedDB.deleteDatabase('pps-studio'); r.onsuccess = r.onerror = r.onblocked = resolve; }));
  await page.reload();
  await page.getByTestId('model-status').filter({ hasText: /^loaded / }).waitFor({ timeout: 120_000 });
  await page.getByTestId('to-character').click();
  await page.getByTestId('to-settings').click();
  const started = Date.now();
  await page.getByTestId('run-calibration').click();
  await page.locator('[data-testid="plan-kind"][data-kind="refined"]').waitFor({ timeout: 900_000 });
  const seconds = (Date.now() - started) / 1000;
  await page.getByTestId('nav-calibrate').click();
  const parts = JSON.parse((await page.getByTestId('calibration-done').getAttribute('data-timings'))!) as Record<string, number>;
  return { seconds, parts, backend: (await page.getByTestId('backend').textContent()) ?? '' };
}

/** `--only studio:wasm` or `studio:webgpu` measures one backend (SwiftShader WebGPU takes many minutes here). */
export async function rows(only: ReadonlySet<string> = new Set()): Promise<Row[]> {
  const backends = [['wasm', '?backend=wasm'], ['webgpu', '']].filter(([name]) => !only.size || only.has(name!)).map(([, query]) => query!);
  return withBuiltApp(PORT, async (browser, base) => {
    const out: Row[] = [];
    // WASM first: its row is the target; SwiftShader WebGPU is slow and, on a busy machine, may time out alone.
    for (const query of backends) {
      const page = await browser.newPage();
      const measured = await refinedPlan(page, base + query).catch((error: unknown) => error as Error);
      await page.close();
      if (measured instanceof Error) {
        out.push({ group: 'studio', measurement: `P5: press run -> refined plan${query ? ' (WASM)' : ''}: failed`, value: '-', notes: measured.message.split('\n')[0] });
        continue;
      }
      const { seconds, parts, backend } = measured;
      const list = Object.entries(parts).filter(([k]) => k !== 'total').map(([k, ms]) => `${k} ${(ms / 1000).toFixed(1)} s`).join(', ');
      out.push({
        group: 'studio',
        measurement: `P5: press run -> refined plan, default settings${query ? ' (WASM)' : ''} (target <= 30 s)`,
        value: `${seconds.toFixed(1)} s`,
        notes: `${backend}; built-in stories260K, persona method (sequential reconstruct, generic mix), 12 questions x 32-token answers; parts: ${list}`,
      });
    }
    return out;
  });
}
