import type * as Ort from 'onnxruntime-web/webgpu';
import type { ModelBundle } from '../model/bundle';
import { wasm, type Backend } from '../gpu/backend';

/**
 * Creates the session on the chosen backend. If WebGPU cannot run this graph, falls back to WASM and
 * returns that backend instead, so the UI can say why.
 */
export async function createSession(
  ort: typeof Ort,
  bundle: ModelBundle,
  backend: Backend,
): Promise<{ session: Ort.InferenceSession; backend: Backend }> {
  const options: Ort.InferenceSession.SessionOptions = {
    externalData: bundle.externalData,
    graphOptimizationLevel: 'all',
    // ORT prints warnings (e.g. shape ops placed on the CPU, which is intended) as console errors.
    logSeverityLevel: 3,
  };
  const onWasm = () => ort.InferenceSession.create(bundle.modelBytes, { ...options, executionProviders: ['wasm'] });
  if (backend.kind === 'wasm') return { session: await onWasm(), backend };
  try {
    const session = await ort.InferenceSession.create(bundle.modelBytes, {
      ...options,
      executionProviders: [{ name: 'webgpu', device: backend.device }],
      // The KV cache stays on the GPU between steps; only the logits are read back.
      preferredOutputLocation: 'gpu-buffer',
    });
    // Without shader-f16 (SwiftShader, some GPUs) an fp16 graph is accepted here but fails at its first run.
    if (!backend.device.features.has('shader-f16') && usesFloat16(session)) {
      await session.release();
      return { session: await onWasm(), backend: wasm('this GPU has no shader-f16, which this fp16 model needs') };
    }
    return { session, backend };
  } catch (error) {
    const reason = `WebGPU could not run this model (${error instanceof Error ? error.message : String(error)})`;
    return { session: await onWasm(), backend: wasm(reason) };
  }
}

function usesFloat16(session: Ort.InferenceSession): boolean {
  return [...session.inputMetadata, ...session.outputMetadata].some((m) => m.isTensor && m.type === 'float16');
}
