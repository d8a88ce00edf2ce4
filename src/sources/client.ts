/** The page's side of the sources worker: one promise per request. */
import type { MemoryVerdict } from '../model/memory-estimate';
import type { ModelCard } from '../model/model-card';
import type { BundleFiles } from './bundle-files';
import type { Inspection } from './inspect';
import type { ProgressSnapshot } from './progress';
import type { CacheReport, MemoryRequest, SourceError, SourceSpec, SourcesEvent, SourcesRequest, StorePreference } from './protocol';

export class SourceRequestError extends Error {
  override name = 'SourceRequestError';
  constructor(readonly info: SourceError) {
    super(info.message);
  }
}

export interface OpenResult {
  files: BundleFiles;
  card: ModelCard;
  verdict: MemoryVerdict | undefined;
}

export interface SourcesClient {
  inspect(source: SourceSpec): Promise<Inspection>;
  /** Returns the id to cancel with, and the result. */
  open(source: SourceSpec, variantId: string, memory: MemoryRequest, onProgress: (p: ProgressSnapshot) => void): { requestId: number; result: Promise<OpenResult> };
  cancel(requestId: number): void;
  cacheReport(): Promise<CacheReport>;
  /** Without `dir`, clears the whole cache. */
  deleteCached(dir?: string): Promise<CacheReport>;
}

type Pending = { resolve(event: SourcesEvent): void; reject(error: SourceRequestError): void; onProgress?(p: ProgressSnapshot): void };

export function createSourcesClient(store: StorePreference): SourcesClient {
  const worker = new Worker(new URL('./sources.worker.ts', import.meta.url), { type: 'module', name: 'sources' });
  const pending = new Map<number, Pending>();
  worker.onmessage = ({ data }: MessageEvent<SourcesEvent>) => {
    const request = pending.get(data.requestId);
    if (!request) return;
    if (data.type === 'progress') return request.onProgress?.(data.progress);
    pending.delete(data.requestId);
    if (data.type === 'error') request.reject(new SourceRequestError(data.error));
    else request.resolve(data);
  };
  worker.onerror = (event) => {
    const error = new SourceRequestError({ code: 'failed', message: event.message || 'The download worker failed to start.' });
    for (const request of pending.values()) request.reject(error);
    pending.clear();
  };
  const send = (request: SourcesRequest) => worker.postMessage(request);
  send({ type: 'init', store });

  let nextId = 1;
  function request<T extends SourcesEvent['type']>(make: (requestId: number) => SourcesRequest, onProgress?: Pending['onProgress']) {
    const requestId = nextId++;
    const result = new Promise<Extract<SourcesEvent, { type: T }>>((resolve, reject) => {
      pending.set(requestId, { resolve: resolve as Pending['resolve'], reject, ...(onProgress ? { onProgress } : {}) });
    });
    send(make(requestId));
    return { requestId, result };
  }

  return {
    inspect: async (source) => (await request<'inspected'>((requestId) => ({ type: 'inspect', requestId, source })).result).inspection,
    open(source, variantId, memory, onProgress) {
      const { requestId, result } = request<'opened'>((id) => ({ type: 'open', requestId: id, source, variantId, memory }), onProgress);
      return { requestId, result: result.then(({ files, card, verdict }) => ({ files, card, verdict })) };
    },
    cancel: (requestId) => send({ type: 'cancel', requestId }),
    cacheReport: async () => (await request<'cache'>((requestId) => ({ type: 'cache-list', requestId })).result).report,
    deleteCached: async (dir) =>
      (await request<'cache'>((requestId) => ({ type: 'cache-delete', requestId, ...(dir !== undefined ? { dir } : {}) })).result).report,
  };
}
