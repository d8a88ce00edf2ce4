/** Requesting the one GPUDevice that onnxruntime-web and our kernels share (browser worker and Node/Dawn alike). */

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

/** A device with the adapter's full limits, and `shader-f16` when offered (ORT uses it for f16 models). */
export function requestSharedDevice(adapter: GPUAdapter): Promise<GPUDevice> {
  const requiredFeatures: GPUFeatureName[] = adapter.features.has('shader-f16') ? ['shader-f16'] : [];
  const requiredLimits = Object.fromEntries(RAISED_LIMITS.map((name) => [name, adapter.limits[name]]));
  return adapter.requestDevice({ requiredFeatures, requiredLimits });
}
