/**
 * WebGPU in Node through Dawn (npm `webgpu`), for tests and the bench (Node only).
 *
 * Without a GPU, Dawn runs on Chromium's SwiftShader Vulkan driver (Debian's lavapipe is rejected). That
 * needs the Vulkan loader and ICD shipped with Chromium: VK_ICD_FILENAMES is read when Dawn creates its
 * Vulkan instance, so setting it here is early enough, but `libvulkan.so.1` is found through
 * LD_LIBRARY_PATH, which the dynamic linker reads only at process start. Instead of re-executing the
 * process, Chromium's loader is loaded once by absolute path (RTLD_NODELETE keeps it resident although
 * it is not a Node addon); Dawn's later dlopen("libvulkan.so.1") then finds it by its soname. When
 * VK_ICD_FILENAMES is already set, the environment is the caller's choice and left alone.
 */
import { existsSync } from 'node:fs';
import { join } from 'node:path';
import { create, globals } from 'webgpu';
import { createGpuContext, type GpuContext } from '../gpu/context';
import { requestSharedDevice } from '../gpu/device';
import { fileShaders } from './file-shaders';

const CHROMIUM_LIB = process.env.PPS_CHROMIUM_LIB ?? '/usr/lib/chromium';
const RTLD_NOW = 2;
const RTLD_GLOBAL = 0x100;
const RTLD_NODELETE = 0x1000;

export interface NodeGpu {
  device: GPUDevice;
  /** Where it runs, e.g. "SwiftShader driver 5.0.0". */
  adapter: string;
  /** Destroys the device (Dawn can abort at exit when a device is left alive). */
  close(): void;
}

// Dawn's GPU object must outlive every device, or the process can abort: keep it for the process's life.
let gpu: GPU | undefined;

function useChromiumSwiftShader(): void {
  const icd = join(CHROMIUM_LIB, 'vk_swiftshader_icd.json');
  if (process.env.VK_ICD_FILENAMES || !existsSync(icd)) return;
  process.env.VK_ICD_FILENAMES = icd;
  try {
    process.dlopen({ exports: {} }, join(CHROMIUM_LIB, 'libvulkan.so.1'), RTLD_NOW | RTLD_GLOBAL | RTLD_NODELETE);
  } catch {
    // Expected: "Module did not self-register" (it is a plain library); it stays loaded all the same.
  }
}

/** A Dawn device with the adapter's full limits, or undefined when Dawn finds no adapter. */
async function openNodeGpu(): Promise<NodeGpu | undefined> {
  if (!gpu) {
    useChromiumSwiftShader();
    // GPUBufferUsage, GPUMapMode, ... as browser globals, which the shared GPU code expects.
    Object.assign(globalThis, globals);
    gpu = create([]);
  }
  const adapter = await gpu.requestAdapter();
  if (!adapter) return undefined;
  const device = await requestSharedDevice(adapter);
  return { device, adapter: adapter.info.description || adapter.info.vendor || 'unknown adapter', close: () => device.destroy() };
}

/** A Dawn device and a kernel context on the WGSL files in shaders/, for tests; fails with what to install when there is no adapter. */
export async function openNodeGpuContext(): Promise<{ gpu: NodeGpu; ctx: GpuContext }> {
  const gpu = await openNodeGpu();
  if (!gpu) throw new Error('Dawn found no WebGPU adapter: install Chromium (SwiftShader) or set VK_ICD_FILENAMES.');
  return { gpu, ctx: createGpuContext(gpu.device, fileShaders) };
}
