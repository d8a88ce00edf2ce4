/** Messages between the kernel-tests page and the runtime worker, and the backend facts the studio shares (structured-clone safe). */
import type { CalibrationProgress } from '../calibration/engine';
import type { CalibrationSample } from '../calibration/engine-batches';
import type { CalibrationCheckpoint } from '../calibration/engine-checkpoint';
import type { CalibrationStats } from '../calibration/stats';

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

export interface ModelInfo {
  baseUrl: string;
  modelType: string;
  layers: number;
  hiddenSize: number;
  vocabSize: number;
  /** Graph plus external data. */
  bytes: number;
  loadMs: number;
}

/** A calibration run over the loaded model (see src/calibration/engine.ts). */
export interface CalibrateParams {
  samples: CalibrationSample[];
  batchSize?: number;
  maxBatchTokens?: number;
  /** Also accumulate Gram matrices, within this many bytes at a time (more passes when they do not fit). */
  gramBudgetBytes?: number;
  /** Continue a cancelled run (same samples). */
  resume?: CalibrationCheckpoint;
}

/** `model-missing` is a 404 for one file of the model folder; `file` then names it. */
export type ErrorCode = 'model-missing' | 'no-model' | 'busy' | 'load-failed' | 'backend-failed' | 'calibrate-failed';

export interface RuntimeError {
  code: ErrorCode;
  message: string;
  file?: string;
}

export type WorkerRequest =
  | { type: 'init'; backend: BackendPreference }
  | { type: 'load'; requestId: number; baseUrl: string }
  | { type: 'calibrate'; requestId: number; params: CalibrateParams }
  /** Stops the running calibration after its current batch; it answers with `calibration-cancelled`. */
  | { type: 'cancel-calibration' };

export type WorkerEvent =
  | { type: 'backend'; backend: BackendInfo }
  | { type: 'load-progress'; requestId: number; file: string; loaded: number; total: number | undefined }
  | { type: 'loaded'; requestId: number; model: ModelInfo }
  | { type: 'error'; requestId?: number; error: RuntimeError }
  | { type: 'calibration-progress'; requestId: number; progress: CalibrationProgress }
  /** `accumulator`: where the statistics were summed (WGSL kernels on the GPU, or the CPU beside WASM). */
  | { type: 'calibration-done'; requestId: number; stats: CalibrationStats; accumulator: 'gpu' | 'cpu'; elapsedMs: number }
  | { type: 'calibration-cancelled'; requestId: number; checkpoint: CalibrationCheckpoint };
