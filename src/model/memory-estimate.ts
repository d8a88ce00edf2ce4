/**
 * Will this model fit? An estimate of what loading and calibrating needs, set against what a browser
 * allows, so the studio can refuse (or suggest a smaller variant or batch) instead of crashing the tab.
 *
 * Needs: the weights (every file is read into one ArrayBuffer, and onnxruntime-web copies the graph and
 * its external data into its wasm heap while it creates a session, on WebGPU too), and, for
 * calibration, the instrumented activations (each layer's down_proj input: layers × intermediate ×
 * batch tokens × 4 bytes) plus the logits (batch tokens × vocab × 4 bytes).
 * Limits: ~2 GiB per ArrayBuffer, 4 GiB of wasm32 memory, and on WebGPU the device's
 * maxBufferSize / maxStorageBufferBindingSize for any one tensor. Total GPU memory is not exposed by
 * WebGPU, so it cannot be checked.
 */

export const GIB = 2 ** 30;

export interface MemoryLimits {
  /** Largest ArrayBuffer (Chromium: 2 GiB). */
  arrayBufferBytes: number;
  /** wasm32 address space: 4 GiB. */
  wasmMemoryBytes: number;
  /** Present when the model runs on WebGPU. */
  gpu?: { maxBufferSize: number; maxStorageBufferBindingSize: number };
}

export const BROWSER_LIMITS: MemoryLimits = { arrayBufferBytes: 2 * GIB, wasmMemoryBytes: 4 * GIB };

export interface MemoryInputs {
  /** Every file that is read into memory (graph, external data). */
  files: { path: string; bytes: number }[];
  /** Bytes of all weights (initializers); defaults to the files' total. */
  weightBytes?: number;
  /** The largest single initializer, when the graph header is known. */
  largestTensor?: { name: string; bytes: number };
  layers: number;
  /** Widest FFN of any layer. */
  intermediateSize: number;
  vocabSize: number;
  /** Tokens in one calibration batch (sequences × length). */
  batchTokens: number;
}

export interface MemoryNeed {
  weightBytes: number;
  largestFile: { path: string; bytes: number } | undefined;
  largestTensor: { name: string; bytes: number } | undefined;
  /** One layer's down_proj input for the batch. */
  layerActivationBytes: number;
  activationBytes: number;
  logitsBytes: number;
}

const F32 = 4;

export function estimateMemory(inputs: MemoryInputs): MemoryNeed {
  const largestFile = inputs.files.reduce<MemoryInputs['files'][number] | undefined>((a, f) => (!a || f.bytes > a.bytes ? f : a), undefined);
  const layerActivationBytes = inputs.intermediateSize * inputs.batchTokens * F32;
  return {
    weightBytes: inputs.weightBytes ?? inputs.files.reduce((n, f) => n + f.bytes, 0),
    largestFile,
    largestTensor: inputs.largestTensor,
    layerActivationBytes,
    activationBytes: inputs.layers * layerActivationBytes,
    logitsBytes: inputs.batchTokens * inputs.vocabSize * F32,
  };
}

export interface MemoryCheck {
  what: string;
  /** Grows with the calibration batch (a smaller batch can fix it). */
  batch: boolean;
  need: number;
  limit: number;
  ok: boolean;
}

export interface MemoryVerdict {
  need: MemoryNeed;
  fits: boolean;
  /** Fits, but some need is above 80% of its limit. */
  tight: boolean;
  checks: MemoryCheck[];
  /** One sentence for the user. */
  summary: string;
  /** Largest calibration batch (tokens) that the activation limits allow; 0 when even the weights do not fit. */
  maxBatchTokens: number;
}

const TIGHT = 0.8;

export function formatBytes(bytes: number): string {
  if (bytes >= GIB) return `${(bytes / GIB).toFixed(2)} GB`;
  if (bytes >= 2 ** 20) return `${(bytes / 2 ** 20).toFixed(1)} MB`;
  return `${(bytes / 1024).toFixed(0)} KB`;
}

/**
 * Sets the need against the limits. `limits.gpu` says where activations live: on the GPU (WebGPU, where
 * each tensor must fit one buffer binding), else in the wasm heap beside the weights.
 */
export function memoryVerdict(inputs: MemoryInputs, limits: MemoryLimits): MemoryVerdict {
  const need = estimateMemory(inputs);
  const checks: MemoryCheck[] = [];
  const add = (what: string, needBytes: number, limit: number, batch = false) =>
    checks.push({ what, batch, need: needBytes, limit, ok: needBytes <= limit });
  if (need.largestFile) add(`the largest file (${need.largestFile.path}) in one ArrayBuffer`, need.largestFile.bytes, limits.arrayBufferBytes);
  const gpu = limits.gpu;
  const binding = gpu ? Math.min(gpu.maxBufferSize, gpu.maxStorageBufferBindingSize) : Infinity;
  const heapNeed = need.weightBytes + (gpu ? 0 : need.activationBytes + need.logitsBytes);
  add(gpu ? 'weights in the wasm heap while the session is created' : 'weights and calibration activations in the wasm heap', heapNeed, limits.wasmMemoryBytes, !gpu);
  if (gpu) {
    if (need.largestTensor) add(`the largest weight (${need.largestTensor.name}) in one GPU buffer`, need.largestTensor.bytes, binding);
    add("one layer's FFN activations for the calibration batch in one GPU buffer", need.layerActivationBytes, binding, true);
    add('the logits of the calibration batch in one GPU buffer', need.logitsBytes, binding, true);
  }

  // Per-token bytes of what grows with the batch, against the room each limit leaves.
  const perToken = inputs.intermediateSize * F32;
  const logitsPerToken = inputs.vocabSize * F32;
  const bounds = gpu
    ? [binding / perToken, binding / logitsPerToken]
    : [(limits.wasmMemoryBytes - need.weightBytes) / (inputs.layers * perToken + logitsPerToken)];
  // Without the batch, is the model itself loadable? (On WASM the heap check mixes both: weights alone must fit.)
  const weightsFit = checks.every((c) => c.ok || c.batch) && need.weightBytes <= limits.wasmMemoryBytes;
  const maxBatchTokens = weightsFit ? Math.max(0, Math.floor(Math.min(...bounds))) : 0;

  const fits = checks.every((c) => c.ok);
  const tight = fits && checks.some((c) => c.need > TIGHT * c.limit);
  const failed = checks.find((c) => !c.ok);
  const summary = failed
    ? `Too large for this browser: ${failed.what} needs ${formatBytes(failed.need)}, the limit is ${formatBytes(failed.limit)}.` +
      (weightsFit ? ` A calibration batch of at most ${maxBatchTokens} tokens fits.` : ' Choose a smaller variant (fp16 or int4) or a smaller model.')
    : tight
      ? 'Fits, but close to the browser limits: loading may fail if other tabs use memory.'
      : 'Fits comfortably within the browser limits.';
  return { need, fits, tight, checks, summary, maxBatchTokens };
}
