/// <reference lib="webworker" />
// Downloads, caching and the checks before a model reaches onnxruntime run here, off the page's thread:
// only a dedicated worker can write OPFS files in place (sync access handles), which is what lets a
// multi-GB download be resumed without copying it, and parsing a graph header never stalls the UI.
import { CacheApiFileStore } from './cache-api-store';
import { MemoryFileStore, type FileStore } from './file-store';
import { ggufAccess } from './gguf-source';
import { inspectSource } from './inspect';
import { openVariant } from './open-variant';
import { OpfsFileStore, opfsAvailable } from './opfs-store';
import type { CacheReport, SourceSpec, SourcesEvent, SourcesRequest, StorePreference } from './protocol';
import { RECORD_PATH, hubAccess, localAccess, urlAccess, type SourceAccess, type SourceRecord } from './source-access';
import { describeSourceError } from './source-errors';

declare const self: DedicatedWorkerGlobalScope;

let store: FileStore = new MemoryFileStore();
const controllers = new Map<number, AbortController>();
/** Opens run one after another: two downloads must never hold the same partial file. */
let opening: Promise<unknown> = Promise.resolve();
/** Importing a GGUF takes a while; inspect and open of the same file share one import. */
let lastGguf: { key: string; access: Promise<SourceAccess> } | undefined;

const post = (event: SourcesEvent) => self.postMessage(event);

function chooseStore(preference: StorePreference): FileStore {
  if ((preference === 'auto' || preference === 'opfs') && opfsAvailable()) return new OpfsFileStore();
  if ((preference === 'auto' || preference === 'cache-api') && typeof caches !== 'undefined') return new CacheApiFileStore();
  return new MemoryFileStore();
}

function accessFor(source: SourceSpec): Promise<SourceAccess> {
  switch (source.kind) {
    case 'hub':
      return Promise.resolve(hubAccess(source.hubUrl, source.repo, source.revision, { store, fetch }));
    case 'url':
      // The app's own model is not cached: a new app version may ship a new one at the same address.
      return Promise.resolve(urlAccess(source.baseUrl, source.label, { store: source.cache ? store : new MemoryFileStore(), fetch }));
    case 'folder':
      return Promise.resolve(localAccess(source.name, new Map(source.files.map((f) => [f.path, f.file]))));
    case 'gguf': {
      const key = `${source.file.name}:${source.file.size}:${source.file.lastModified}`;
      if (lastGguf?.key !== key) lastGguf = { key, access: ggufAccess(source.file, source.file.name) };
      return lastGguf.access;
    }
  }
}

/** Registered when the request arrives, so a cancel reaches an open still waiting its turn. */
function controllerFor(requestId: number): AbortController {
  const controller = new AbortController();
  controllers.set(requestId, controller);
  return controller;
}

async function run(requestId: number, task: (signal: AbortSignal) => Promise<void>, controller = controllerFor(requestId)) {
  try {
    controller.signal.throwIfAborted();
    await task(controller.signal);
  } catch (error) {
    post({ type: 'error', requestId, error: describeSourceError(controller.signal.aborted ? controller.signal.reason : error) });
  } finally {
    controllers.delete(requestId);
  }
}

async function cacheReport(): Promise<CacheReport> {
  const byDir = new Map<string, CacheReport['sources'][number]>();
  for (const file of await store.list()) {
    const entry = byDir.get(file.dir) ?? { dir: file.dir, label: file.dir, bytes: 0, partialBytes: 0, files: [] };
    if (file.path === RECORD_PATH) {
      const record = await store.read(file.dir, RECORD_PATH);
      if (record) entry.label = (JSON.parse(await record.text()) as SourceRecord).label;
    } else {
      entry.files.push({ path: file.path, size: file.size, partial: file.partial });
      if (file.partial) entry.partialBytes += file.size;
      else entry.bytes += file.size;
    }
    byDir.set(file.dir, entry);
  }
  const estimate = await navigator.storage?.estimate?.().catch(() => undefined);
  return {
    store: store.kind,
    sources: [...byDir.values()].sort((a, b) => a.label.localeCompare(b.label)),
    ...(estimate?.usage !== undefined ? { usage: estimate.usage } : {}),
    ...(estimate?.quota !== undefined ? { quota: estimate.quota } : {}),
  };
}

self.onmessage = ({ data }: MessageEvent<SourcesRequest>) => {
  switch (data.type) {
    case 'init':
      store = chooseStore(data.store);
      break;
    case 'inspect':
      void run(data.requestId, async (signal) => {
        const inspection = await inspectSource(await accessFor(data.source), signal);
        post({ type: 'inspected', requestId: data.requestId, inspection });
      });
      break;
    case 'open': {
      const { requestId } = data;
      const controller = controllerFor(requestId);
      opening = opening.then(() =>
        run(requestId, async (signal) => {
          const access = await accessFor(data.source);
          const inspection = await inspectSource(access, signal);
          const opened = await openVariant(access, inspection, data.variantId, {
            signal,
            memory: data.memory,
            onProgress: (progress) => post({ type: 'progress', requestId, progress }),
          });
          post({ type: 'opened', requestId, ...opened });
        }, controller),
      );
      break;
    }
    case 'cancel':
      controllers.get(data.requestId)?.abort(new DOMException('The user cancelled.', 'AbortError'));
      break;
    case 'cache-list':
      void run(data.requestId, async () => post({ type: 'cache', requestId: data.requestId, report: await cacheReport() }));
      break;
    case 'cache-delete':
      void run(data.requestId, async () => {
        const dirs = data.dir !== undefined ? [data.dir] : [...new Set((await store.list()).map((f) => f.dir))];
        for (const dir of dirs) await store.remove(dir);
        post({ type: 'cache', requestId: data.requestId, report: await cacheReport() });
      });
      break;
  }
};
