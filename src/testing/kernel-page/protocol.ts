/** Messages between the kernel-tests page and its runtime worker (structured-clone safe). */
import type { CalibrationProgress } from '../../calibration/engine';
import type { CalibrationCheckpoint } from '../../calibration/engine-checkpoint';
import type { CalibrationStats } from '../../core/stats';
import type { BackendInfo, BackendPreference } from '../../gpu/backend';
import type { CalibrateParams } from '../../worker/calibration';

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
