import type { BackendPreference } from './protocol';
import type { StudioEvent, StudioRequest } from './studio-protocol';

export interface StudioClient {
  send(request: StudioRequest): void;
  /** A fresh id for a request's events. */
  nextId(): number;
  subscribe(listener: (event: StudioEvent) => void): () => void;
}

/** Starts the studio worker and picks its backend (`?backend=wasm` forces WASM). */
export function createStudioClient(backend: BackendPreference): StudioClient {
  const worker = new Worker(new URL('./studio.worker.ts', import.meta.url), { type: 'module', name: 'studio' });
  const listeners = new Set<(event: StudioEvent) => void>();
  worker.onmessage = ({ data }: MessageEvent<StudioEvent>) => listeners.forEach((listener) => listener(data));
  worker.onerror = (event) => listeners.forEach((listener) => listener({ type: 'error', message: event.message || 'The studio worker failed to start.' }));
  let id = 1;
  const client: StudioClient = {
    send: (request) => worker.postMessage(request),
    nextId: () => id++,
    subscribe(listener) {
      listeners.add(listener);
      return () => listeners.delete(listener);
    },
  };
  client.send({ type: 'init', backend });
  return client;
}
