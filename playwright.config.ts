import { defineConfig } from '@playwright/test';

// Debian's Chromium (Playwright cannot download its own here). `--enable-unsafe-webgpu` is what makes
// `navigator.gpu.requestAdapter()` return an adapter in headless Chromium without a GPU: it then runs
// WebGPU on SwiftShader (Vulkan on the CPU), which is slow, hence the long timeouts.
// The preview server's port (vite.config.ts reads the same variable).
const baseURL = `http://127.0.0.1:${process.env.PPS_PREVIEW_PORT ?? 4173}`;

const chromiumArgs = [
  '--enable-unsafe-webgpu',
  '--enable-unsafe-swiftshader',
  '--no-sandbox',
  '--disable-background-networking',
  '--disable-component-update',
  '--disable-sync',
  '--no-first-run',
];

export default defineConfig({
  testDir: 'e2e',
  workers: 1,
  fullyParallel: false,
  retries: 0,
  timeout: 180_000,
  expect: { timeout: 60_000 },
  reporter: process.env.CI ? [['list'], ['html', { open: 'never' }]] : 'list',
  use: {
    baseURL,
    screenshot: 'on',
    trace: 'retain-on-failure',
    viewport: { width: 1280, height: 800 },
    launchOptions: {
      executablePath: process.env.CHROMIUM_PATH ?? '/usr/bin/chromium',
      args: chromiumArgs,
    },
  },
  webServer: {
    command: 'npx vite build && npx vite preview',
    url: baseURL,
    reuseExistingServer: !process.env.CI,
    timeout: 180_000,
  },
});
