import type { InferenceSession, Tensor } from 'onnxruntime-common';

/**
 * The part of the `onnxruntime-web` / `onnxruntime-node` module that generation uses. Both packages re-export
 * onnxruntime-common's API, so either module object fits; callers pass the one they loaded.
 */
export interface OrtModule {
  Tensor: typeof Tensor;
}

export type OrtSession = Pick<InferenceSession, 'run' | 'inputNames' | 'outputNames' | 'inputMetadata'>;
export type OrtTensor = Tensor;
