/** The store's side of the studio worker: one promise per request, its progress through callbacks. */
import type { CalibrationCheckpoint } from '../calibration/engine-checkpoint';
import type { BackendInfo, BackendPreference } from '../gpu/backend';
import type { GgufWeightType } from '../gguf/llama-gguf';
import type { PruneRequest } from '../pipeline/request';
import type {
  CalibrationData,
  CompareRow,
  ExportResult,
  GgufResult,
  PlanParams,
  PlanSummary,
  RefinedPlan,
  StudioEvent,
  StudioModelSource,
  StudioProgress,
  StudioRequest,
  TrialParams,
} from './studio-protocol';

/** A request stopped by cancel() or stop() before it finished. */
export class StudioCancelled extends Error {
  override name = 'StudioCancelled';
  constructor() {
    super('cancelled');
  }
}

type EventOf<T extends StudioEvent['type']> = Omit<Extract<StudioEvent, { type: T }>, 'type' | 'requestId'>;

export interface StudioClient {
  /** The backend: once chosen, and again when a model runs elsewhere than asked (e.g. fp16 without shader-f16). */
  onBackend(listener: (backend: BackendInfo) => void): void;
  /** Each checkpoint the running calibration writes (a reload resumes from the latest). */
  onCheckpoint(listener: (checkpoint: CalibrationCheckpoint) => void): void;
  /** A failure that belongs to no request (the worker did not start). */
  onError(listener: (message: string) => void): void;
  load(source: StudioModelSource): Promise<EventOf<'loaded'>>;
  /** Statistics, refined plan and checkpoint saved before a reload, back into the loaded model's worker. */
  restore(saved: { data?: CalibrationData; refined?: RefinedPlan; checkpoint?: CalibrationCheckpoint }): void;
  calibrate(
    request: PruneRequest,
    on: { progress(p: StudioProgress): void; answer(text: string): void; resumed(checkpoint: CalibrationCheckpoint): void },
  ): Promise<EventOf<'calibrated'>>;
  refine(params: PlanParams, onProgress: (p: StudioProgress) => void): Promise<EventOf<'refined'>>;
  /** Stops the running calibration or refine: its promise rejects with StudioCancelled. */
  cancel(): void;
  generate(params: TrialParams, onText: (text: string) => void): Promise<EventOf<'generated'>>;
  /** Stops the running generate(). */
  stop(): void;
  plan(params: PlanParams): Promise<PlanSummary>;
  compare(levels: { label: string; params: PlanParams }[], prompt: string, onRow: (row: CompareRow) => void): Promise<void>;
  chat(request: { text: string; persona: string; params: PlanParams | null; maxNewTokens: number }, onText: (text: string) => void): Promise<EventOf<'chat-done'>>;
  export(
    request: { params: PlanParams; folderName: string; quantize?: 'int4' },
    onStep: (step: 'build' | 'verify' | 'zip', state: 'running' | 'done') => void,
  ): Promise<ExportResult>;
  exportGguf(request: { files: { path: string; data: Uint8Array }[]; fileName: string; ggufType: GgufWeightType }, onProgress: (done: number, total: number) => void): Promise<GgufResult>;
}

/** What the client talks to: the worker, or in tests anything that answers like it. */
export interface StudioPort {
  postMessage(request: StudioRequest): void;
  onmessage: ((event: MessageEvent<StudioEvent>) => void) | null;
  onerror: ((event: ErrorEvent) => void) | null;
}

/** The events that end a request (besides `error` and `cancelled`). */
const FINAL = new Set<StudioEvent['type']>(['loaded', 'calibrated', 'refined', 'plan', 'compare-done', 'generated', 'chat-done', 'exported', 'exported-gguf']);

interface Pending {
  /** With the final event's fields, less its type and id. */
  resolve(payload: object): void;
  reject(error: Error): void;
  /** The request's progress events. */
  onEvent(event: StudioEvent): void;
}

/** Starts the studio worker and picks its backend (`?backend=wasm` forces WASM). */
export function createStudioClient(backend: BackendPreference): StudioClient {
  return connectStudio(new Worker(new URL('./studio.worker.ts', import.meta.url), { type: 'module', name: 'studio' }), backend);
}

export function connectStudio(port: StudioPort, backend: BackendPreference): StudioClient {
  const pending = new Map<number, Pending>();
  const backendListeners: ((backend: BackendInfo) => void)[] = [];
  const checkpointListeners: ((checkpoint: CalibrationCheckpoint) => void)[] = [];
  const errorListeners: ((message: string) => void)[] = [];

  port.onmessage = ({ data: event }) => {
    if (event.type === 'backend') return backendListeners.forEach((l) => l(event.backend));
    if (event.type === 'checkpoint') return checkpointListeners.forEach((l) => l(event.checkpoint));
    const request = event.requestId === undefined ? undefined : pending.get(event.requestId);
    if (!request) {
      if (event.type === 'error') errorListeners.forEach((l) => l(event.message));
      return;
    }
    if (event.type === 'error' || event.type === 'cancelled' || FINAL.has(event.type)) pending.delete(event.requestId!);
    if (event.type === 'error') request.reject(new Error(event.message));
    else if (event.type === 'cancelled') request.reject(new StudioCancelled());
    else if (FINAL.has(event.type)) {
      const { type: _type, requestId: _id, ...payload } = event;
      request.resolve(payload);
    }
    else request.onEvent(event);
  };
  // A worker that fails to start reports nothing else: every request waiting on it fails with that.
  port.onerror = (event) => {
    const message = event.message || 'The studio worker failed to start.';
    if (pending.size === 0) errorListeners.forEach((l) => l(message));
    for (const request of pending.values()) request.reject(new Error(message));
    pending.clear();
  };

  let nextId = 1;
  function request<T extends StudioEvent['type']>(make: (requestId: number) => StudioRequest, onEvent: (event: StudioEvent) => void = () => {}): Promise<EventOf<T>> {
    const requestId = nextId++;
    const result = new Promise<EventOf<T>>((resolve, reject) => {
      pending.set(requestId, { resolve: resolve as Pending['resolve'], reject, onEvent });
    });
    port.postMessage(make(requestId));
    return result;
  }

  port.postMessage({ type: 'init', backend });
  return {
    onBackend: (listener) => void backendListeners.push(listener),
    onCheckpoint: (listener) => void checkpointListeners.push(listener),
    onError: (listener) => void errorListeners.push(listener),
    load: (source) => request<'loaded'>((requestId) => ({ type: 'load', requestId, source })),
    restore: (saved) => port.postMessage({ type: 'restore', ...saved }),
    calibrate: (pruneRequest, on) =>
      request<'calibrated'>(
        (requestId) => ({ type: 'calibrate', requestId, request: pruneRequest }),
        (event) => {
          if (event.type === 'progress') on.progress(event.progress);
          else if (event.type === 'answer') on.answer(event.text);
          else if (event.type === 'resumed') on.resumed(event.checkpoint);
        },
      ),
    refine: (params, onProgress) =>
      request<'refined'>((requestId) => ({ type: 'refine', requestId, params }), (event) => event.type === 'progress' && onProgress(event.progress)),
    cancel: () => port.postMessage({ type: 'cancel' }),
    generate: (params, onText) => request<'generated'>((requestId) => ({ type: 'generate', requestId, params }), (event) => event.type === 'token' && onText(event.text)),
    stop: () => port.postMessage({ type: 'stop' }),
    plan: async (params) => (await request<'plan'>((requestId) => ({ type: 'plan', requestId, params }))).plan,
    compare: async (levels, prompt, onRow) =>
      void (await request<'compare-done'>((requestId) => ({ type: 'compare', requestId, levels, prompt }), (event) => event.type === 'compare-row' && onRow(event.row))),
    chat: (chat, onText) => request<'chat-done'>((requestId) => ({ type: 'chat', requestId, ...chat }), (event) => event.type === 'token' && onText(event.text)),
    export: async (exportRequest, onStep) =>
      (await request<'exported'>((requestId) => ({ type: 'export', requestId, ...exportRequest }), (event) => event.type === 'export-progress' && onStep(event.step, event.state))).result,
    exportGguf: async (gguf, onProgress) =>
      (await request<'exported-gguf'>((requestId) => ({ type: 'export-gguf', requestId, ...gguf }), (event) => event.type === 'gguf-progress' && onProgress(event.done, event.total))).result,
  };
}
