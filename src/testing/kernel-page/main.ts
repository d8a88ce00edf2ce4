/**
 * kernel-tests.html: exposes the browser tests and benchmarks to Playwright as `window.kernelTests` (see
 * e2e/kernels.spec.ts, e2e/calibration.spec.ts, bench/calibration.ts); nothing runs until they call it.
 */
import { createGpuContext } from '../../gpu/context';
import { requestSharedDevice } from '../../gpu/device';
import { runKernelChecks, type KernelCheckResult } from '../kernel-checks';
import { bundledShaders } from '../../gpu/shaders-bundled';
import { benchCalibration } from './bench';
import { calibrateInWorker } from './calibration';

export interface KernelTestApi {
  /** Every kernel against its CPU reference on this page's own GPUDevice. */
  kernels(): Promise<{ adapter: string; features: string[]; results: KernelCheckResult[]; liveBuffers: number; gpuErrors: string[] }>;
  calibrate: typeof calibrateInWorker;
  /** P1 and P2 of bench/calibration.ts. */
  bench: typeof benchCalibration;
}

declare global {
  interface Window {
    kernelTests: KernelTestApi;
  }
}

window.kernelTests = {
  async kernels() {
    const adapter = await navigator.gpu?.requestAdapter();
    if (!adapter) throw new Error('This browser offers no WebGPU adapter.');
    const device = await requestSharedDevice(adapter);
    // A WGSL or binding mistake would otherwise only show as wrong numbers.
    const gpuErrors: string[] = [];
    device.addEventListener('uncapturederror', (event) => gpuErrors.push((event as GPUUncapturedErrorEvent).error.message));
    try {
      const ctx = createGpuContext(device, bundledShaders);
      const results = await runKernelChecks(ctx);
      const adapterName = [adapter.info.vendor, adapter.info.architecture, adapter.info.description].filter(Boolean).join(' ');
      return { adapter: adapterName, features: [...adapter.features].sort(), results, liveBuffers: ctx.buffers.live, gpuErrors };
    } finally {
      device.destroy();
    }
  },
  calibrate: calibrateInWorker,
  bench: benchCalibration,
};
document.body.dataset.ready = 'true';
