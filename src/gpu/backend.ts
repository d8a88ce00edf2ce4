import { requestSharedDevice } from './device';

/** `auto` uses WebGPU when the browser offers an adapter; `wasm` forces the CPU backend. */
export type BackendPreference = 'auto' | 'wasm';

export type BackendInfo =
  | {
      kind: 'webgpu';
      description: string;
      vendor: string;
      architecture: string;
      features: string[];
      /** The device's largest buffer and binding: no single tensor may exceed them (memory estimate). */
      limits: { maxBufferSize: number; maxStorageBufferBindingSize: number };
    }
  | { kind: 'wasm'; reason: string; threads: number };

/** The backend the worker runs on and what onnxruntime-web needs to use it. */
export type Backend =
  | { kind: 'webgpu'; info: Extract<BackendInfo, { kind: 'webgpu' }>; device: GPUDevice }
  | { kind: 'wasm'; info: Extract<BackendInfo, { kind: 'wasm' }> };

/**
 * Picks WebGPU when an adapter exists and requests our own GPUDevice, so ORT and our own WGSL kernels
 * share one device; otherwise WASM, with the reason.
 */
export async function chooseBackend(preference: BackendPreference): Promise<Backend> {
  if (preference === 'wasm') return wasm('WASM was requested (?backend=wasm)');
  if (!navigator.gpu) return wasm('this browser has no WebGPU');
  const adapter = await navigator.gpu.requestAdapter({ powerPreference: 'high-performance' }).catch(() => null);
  if (!adapter) return wasm('WebGPU found no usable GPU');

  let device: GPUDevice;
  try {
    device = await requestSharedDevice(adapter);
  } catch (error) {
    return wasm(`the GPU refused a device (${String(error)})`);
  }
  const { description, vendor, architecture } = adapter.info;
  return {
    kind: 'webgpu',
    info: {
      kind: 'webgpu',
      description,
      vendor,
      architecture,
      features: [...adapter.features].sort(),
      limits: { maxBufferSize: device.limits.maxBufferSize, maxStorageBufferBindingSize: device.limits.maxStorageBufferBindingSize },
    },
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

/** `?backend=wasm` forces the WASM backend; anything else lets the worker choose. */
export function backendFromUrl(search: string): BackendPreference {
  return new URLSearchParams(search).get('backend') === 'wasm' ? 'wasm' : 'auto';
}
