/** Messages between the UI thread and the runtime worker (structured-clone safe). */

/** `auto` uses WebGPU when the browser offers an adapter; `wasm` forces the CPU backend. */
export type BackendPreference = 'auto' | 'wasm';

export type BackendInfo =
  | { kind: 'webgpu'; description: string; vendor: string; architecture: string; features: string[] }
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

export interface GenerateParams {
  prompt: string;
  maxNewTokens: number;
  temperature: number;
  topK?: number;
  topP?: number;
  seed: number;
}

export type StopReason = 'eos' | 'max-tokens' | 'aborted';

/** `model-missing` is a 404 for one file of the model folder; `file` then names it. */
export type ErrorCode = 'model-missing' | 'no-model' | 'busy' | 'load-failed' | 'generate-failed' | 'backend-failed';

export interface RuntimeError {
  code: ErrorCode;
  message: string;
  file?: string;
}

export type WorkerRequest =
  | { type: 'init'; backend: BackendPreference }
  | { type: 'load'; requestId: number; baseUrl: string }
  | { type: 'generate'; requestId: number; params: GenerateParams }
  | { type: 'stop' };

export type WorkerEvent =
  | { type: 'backend'; backend: BackendInfo }
  | { type: 'load-progress'; requestId: number; file: string; loaded: number; total: number | undefined }
  | { type: 'loaded'; requestId: number; model: ModelInfo }
  /** `text` is what this token appends to the output (may be empty inside a multi-byte character). */
  | { type: 'token'; requestId: number; id: number; text: string }
  /** `text` is the held-back remainder of the output, if any. */
  | { type: 'done'; requestId: number; stopReason: StopReason; tokens: number; text: string; elapsedMs: number }
  | { type: 'error'; requestId?: number; error: RuntimeError };
