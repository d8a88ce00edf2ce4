/// <reference types="vitest/config" />
import { defineConfig } from 'vite';
import react from '@vitejs/plugin-react';

// Browser tests serve the built app here; PPS_PREVIEW_PORT lets several checkouts test side by side.
const previewPort = Number(process.env.PPS_PREVIEW_PORT ?? 4173);

export default defineConfig({
  plugins: [react()],
  // ORT runs inside our own module worker (its proxy worker refuses gpu-buffer outputs).
  worker: { format: 'es' },
  // The worker is an entry of its own: crawl it too, or its deps get optimized late and the page reloads.
  optimizeDeps: { entries: ['index.html', 'src/**/*.worker.ts'], exclude: ['onnxruntime-web'] },
  server: { host: '127.0.0.1', port: 5173, strictPort: true },
  preview: { host: '127.0.0.1', port: previewPort, strictPort: true },
  // A second page: the browser tests of our WGSL kernels and the calibration engine (e2e/kernels.spec.ts).
  build: { rolldownOptions: { input: { main: 'index.html', kernels: 'kernel-tests.html' } } },
  test: {
    include: ['src/**/*.test.ts', 'src/**/*.test.tsx'],
    environment: 'node',
    testTimeout: 120_000,
    hookTimeout: 120_000,
  },
});
