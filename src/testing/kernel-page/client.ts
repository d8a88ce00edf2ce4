import type { WorkerEvent, WorkerRequest } from './protocol';
import type { BackendPreference } from '../../gpu/backend';
import type { CalibrateParams } from '../../worker/calibration';

export interface RuntimeClient {
  /** Returns the request id that this request's events carry. */
  load(baseUrl: string): number;
  /** Calibrates the loaded model; answers with calibration-progress, then calibration-done or -cancelled. */
  calibrate(params: CalibrateParams): number;
  cancelCalibration(): void;
  subscribe(listener: (event: WorkerEvent) => void): () => void;
  terminate(): void;
}

/** Starts the runtime worker and picks its backend right away, so the UI can show it before any load. */
export function createRuntimeClient(backend: BackendPreference): RuntimeClient {
  const worker = new Worker(new URL('./runtime.worker.ts', import.meta.url), { type: 'module', name: 'runtime' });
  const listeners = new Set<(event: WorkerEvent) => void>();
  worker.onmessage = ({ data }: MessageEvent<WorkerEvent>) => listeners.forEach((listener) => listener(data));
  // A worker that fails to start (e.g. a module error) reports nothing else; surface it like a runtime error.
  worker.onerror = (event) => {
    const error = { code: 'backend-failed' as const, message: event.message || 'The runtime worker failed to start.' };
    listeners.forEach((listener) => listener({ type: 'error', error }));
  };

  let nextId = 1;
  const send = (request: WorkerRequest) => worker.postMessage(request);
  send({ type: 'init', backend });

  return {
    load(baseUrl) {
      const requestId = nextId++;
      send({ type: 'load', requestId, baseUrl });
      return requestId;
    },
    calibrate(params) {
      const requestId = nextId++;
      send({ type: 'calibrate', requestId, params });
      return requestId;
    },
    cancelCalibration: () => send({ type: 'cancel-calibration' }),
    subscribe(listener) {
      listeners.add(listener);
      return () => listeners.delete(listener);
    },
    terminate: () => worker.terminate(),
  };
}
