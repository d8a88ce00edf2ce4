/**
 * Runs `use` against the app built into a temporary folder and served by `vite preview`, in Chromium
 * launched with the flags of playwright.config.ts (SwiftShader WebGPU here), and cleans everything up.
 */
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { chromium, type Browser } from '@playwright/test';
import { build, preview } from 'vite';
import playwrightConfig from '../playwright.config';

export async function withBuiltApp<T>(port: number, use: (browser: Browser, baseUrl: string) => Promise<T>): Promise<T> {
  const outDir = await mkdtemp(join(tmpdir(), 'pps-bench-app-'));
  try {
    await build({ logLevel: 'warn', build: { outDir, emptyOutDir: true } });
    const server = await preview({ logLevel: 'warn', build: { outDir }, preview: { port, strictPort: false } });
    try {
      const browser = await chromium.launch(playwrightConfig.use?.launchOptions);
      try {
        return await use(browser, server.resolvedUrls?.local[0] ?? `http://127.0.0.1:${port}/`);
      } finally {
        await browser.close();
      }
    } finally {
      await server.close();
    }
  } finally {
    await rm(outDir, { recursive: true, force: true });
  }
}
