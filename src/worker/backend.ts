import type { BackendInfo, BackendPreference } from './protocol';

/** The backend the worker runs on and what onnxruntime-web needs to use it. */
export type Backend =
  | { kind: 'webgpu'; info: Extract<BackendInfo, { kind: 'webgpu' }>; device: GPUDevice }
  | { kind: 'wasm'; info: Extract<BackendInfo, { kind: 'wasm' }> };

// Limits whose defaults are too small for real models: ask for whatever the adapter offers.
const RAISED_LIMITS = [
  'maxBufferSize',
  'maxStorageBufferBindingSize',
  'maxComputeWorkgroupStorageSize',
  'maxComputeInvocationsPerWorkgroup',
  'maxComputeWorkgroupSizeX',
  'maxComputeWorkgroupSizeY',
  'maxComputeWorkgroupSizeZ',
  'maxComputeWorkgroupsPerDimension',
] as const;

/**
 * Picks WebGPU when an adapter exists and requests our own GPUDevice, so ORT and our own WGSL kernels
 * share one device; otherwise WASM, with the reason.
 */
export async function chooseBackend(preference: BackendPreference): Promise<Backend> {
  if (preference === 'wasm') return wasm('WASM was requested (?backend=wasm)');
  if (!navigator.gpu) return wasm('this browser has no WebGPU');
  const adapter = await navigator.gpu.requestAdapter({ powerPreference: 'high-performance' }).catch(() => null);
  if (!adapter) return wasm('WebGPU found no usable GPU');

  const requiredFeatures: GPUFeatureName[] = adapter.features.has('shader-f16') ? ['shader-f16'] : [];
  const requiredLimits = Object.fromEntries(RAISED_LIMITS.map((name) => [name, adapter.limits[name]]));
  let device: GPUDevice;
  try {
    device = await adapter.requestDevice({ requiredFeatures, requiredLimits });
  } catch (error) {
    return wasm(`the GPU refused a device (${String(error)})`);
  }
  const { description, vendor, architecture } = adapter.info;
  return {
    kind: 'webgpu',
    info: { kind: 'webgpu', description, vendor, architecture, features: [...adapter.features].sort() },
    device,
  };
}

export function wasm(reason: string): Backend {
  return { kind: 'wasm', info: { kind: 'wasm', reason, threads: wasmThreads() } };
}

/** Threads need SharedArrayBuffer, which only cross-origin-isolated pages have. */
export function wasmThreads(): number {
  return globalThis.crossOriginIsolated ? Math.min(4, navigator.hardwareConcurrency || 1) : 1;
}
