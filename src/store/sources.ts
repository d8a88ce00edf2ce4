/**
 * Where the model comes from: the chosen source, its variants, the download, the memory verdict, the
 * model card and the cache. The work happens in the sources worker (src/sources/); this store
 * only sequences it and hands the fetched files to the model's consumer (the studio, see connectSources).
 */
import { create } from 'zustand';
import { persist } from 'zustand/middleware';
import type { MemoryVerdict } from '../model/memory-estimate';
import type { ModelCard } from '../model/model-card';
import { createSourcesClient, SourceRequestError, type SourcesClient } from '../sources/client';
import { DEFAULT_HUB_URL, DEFAULT_REVISION, parseRepoRef } from '../sources/hub-urls';
import type { Inspection } from '../sources/inspect';
import type { LocalFolder } from '../sources/local-folder';
import type { ProgressSnapshot } from '../sources/progress';
import type { CacheReport, SourceSpec, StorePreference } from '../sources/protocol';
import { fittingAlternatives, limitsFor, listingVerdict, pickVariant } from '../sources/variant-choice';
import { BUILTIN_MODEL_URL } from '../model/builtin';
import type { BundleFiles } from '../sources/bundle-files';
import type { BackendInfo } from '../gpu/backend';

export type SourceKind = 'builtin' | 'hub' | 'url' | 'folder' | 'gguf';

export const BUILTIN_LABEL = 'Built-in: TinyStories 260K';

/** Tokens in one calibration batch by default: a few prompts with their answers. */
const DEFAULT_BATCH_TOKENS = 1024;

export type SourcesPhase = 'idle' | 'inspecting' | 'downloading' | 'handed-over' | 'failed';

interface SourcesState {
  kind: SourceKind;
  hubRepo: string;
  hubRevision: string;
  hubUrl: string;
  url: string;
  folder: LocalFolder | null;
  ggufFile: File | null;
  batchTokens: number;
  inspection: Inspection | null;
  /** The source the inspection belongs to (see {@link specKey}). */
  inspectedKey: string | null;
  variantId: string | null;
  phase: SourcesPhase;
  progress: ProgressSnapshot | null;
  /** What went wrong, in words for the user. */
  message: string | null;
  /** The verdict from the graph header (exact), once a fetch got that far. */
  verdict: MemoryVerdict | null;
  card: ModelCard | null;
  cache: CacheReport | null;

  setKind(kind: SourceKind): void;
  setHub(patch: Partial<Pick<SourcesState, 'hubRepo' | 'hubRevision' | 'hubUrl'>>): void;
  setUrl(url: string): void;
  setFolder(folder: LocalFolder | undefined): void;
  setGgufFile(file: File | undefined): void;
  setBatchTokens(tokens: number): void;
  chooseVariant(id: string): void;
  inspect(): Promise<Inspection | undefined>;
  load(): Promise<void>;
  cancel(): void;
  refreshCache(): Promise<void>;
  deleteCached(dir?: string): Promise<void>;
}

/** The source the current inputs describe, or what the user still has to fill in. */
export function specFor(state: Pick<SourcesState, 'kind' | 'hubRepo' | 'hubRevision' | 'hubUrl' | 'url' | 'folder' | 'ggufFile'>): SourceSpec | string {
  switch (state.kind) {
    case 'builtin':
      return { kind: 'url', baseUrl: BUILTIN_MODEL_URL, label: BUILTIN_LABEL, cache: false };
    case 'hub': {
      if (!state.hubRepo.trim()) return 'Enter a model id, e.g. HuggingFaceTB/SmolLM2-135M-Instruct.';
      try {
        const ref = parseRepoRef(state.hubRepo);
        return { kind: 'hub', hubUrl: state.hubUrl || DEFAULT_HUB_URL, repo: ref.repo, revision: state.hubRevision.trim() || ref.revision || DEFAULT_REVISION };
      } catch (error) {
        return (error as Error).message;
      }
    }
    case 'url': {
      const url = state.url.trim();
      if (!/^https?:\/\//i.test(url) && !url.startsWith('/')) return 'Enter the address of a model folder (https://… or /path/on/this/site/).';
      return { kind: 'url', baseUrl: url, label: url, cache: true };
    }
    case 'folder':
      return state.folder ? { kind: 'folder', name: state.folder.name, files: state.folder.files } : 'Choose or drop a model folder first.';
    case 'gguf':
      return state.ggufFile ? { kind: 'gguf', file: state.ggufFile } : 'Choose or drop a .gguf file first.';
  }
}

/** Identifies a source, so an inspection is reused only for the same one. */
export function specKey(spec: SourceSpec): string {
  switch (spec.kind) {
    case 'url':
      return `url:${spec.baseUrl}`;
    case 'hub':
      return `hub:${spec.hubUrl}/${spec.repo}@${spec.revision}`;
    case 'folder':
      return `folder:${spec.name}:${spec.files.length}:${spec.files.reduce((n, f) => n + f.file.size, 0)}`;
    case 'gguf':
      return `gguf:${spec.file.name}:${spec.file.size}:${spec.file.lastModified}`;
  }
}

/** Who runs the opened model: its backend decides the memory limits, and it receives the files. */
export interface ModelConsumer {
  backend(): BackendInfo | null;
  open(files: BundleFiles, label: string): void;
}

let consumer: ModelConsumer | undefined;
/** Connects the page's runtime (the studio store) once; before that, loads have nowhere to go. */
export function connectSources(next: ModelConsumer): void {
  consumer = next;
}
const backendInfo = () => consumer?.backend() ?? null;

const params = () => new URLSearchParams(globalThis.location?.search ?? '');
/** `?hub=<url>` points hub ids at a mirror (the tests' local hub); `?cache=cache-api|memory` forces a cache. */
const hubFromUrl = () => params().get('hub') ?? undefined;
const storeFromUrl = (): StorePreference => {
  const value = params().get('cache');
  return value === 'cache-api' || value === 'memory' || value === 'opfs' ? value : 'auto';
};

let client: SourcesClient | undefined;
const sources = () => (client ??= createSourcesClient(storeFromUrl()));
let openRequest: number | undefined;
let inspecting: { key: string; result: Promise<Inspection> } | undefined;

const messageOf = (error: unknown) => (error instanceof Error ? error.message : String(error));

export const useSources = create<SourcesState>()(
  persist(
    (set, get) => {
      const resetSelection = { inspection: null, inspectedKey: null, variantId: null, verdict: null, message: null, phase: 'idle' as const, progress: null };
      /** A new source: a download still running for the old one is cancelled and its outcome ignored. */
      const changeSource = (patch: Partial<SourcesState>) => {
        if (openRequest !== undefined) sources().cancel(openRequest);
        openRequest = undefined;
        set({ ...patch, ...resetSelection });
      };

      /** Whether the inputs still describe the source `key` (the user may have moved on meanwhile). */
      const stillChosen = (key: string) => {
        const spec = specFor(get());
        return typeof spec !== 'string' && specKey(spec) === key;
      };

      /** The inspection of `spec`, reusing the current one or one in flight. */
      const inspectionOf = (spec: SourceSpec): Promise<Inspection> => {
        const key = specKey(spec);
        const { inspection, inspectedKey } = get();
        if (inspection && inspectedKey === key) return Promise.resolve(inspection);
        if (inspecting?.key !== key) {
          const result = sources().inspect(spec);
          inspecting = { key, result };
          void result.finally(() => {
            if (inspecting?.result === result) inspecting = undefined;
          });
        }
        return inspecting.result.then((found) => {
          if (!stillChosen(key)) return found;
          const { batchTokens, variantId } = get();
          const keep = variantId && found.variants.some((v) => v.id === variantId);
          set({
            inspection: found,
            // A source with problems was not cached either: look again next time (it may have been fixed).
            inspectedKey: found.problems.length ? null : key,
            variantId: keep ? variantId : (pickVariant(found, limitsFor(backendInfo()), batchTokens) ?? null),
          });
          return found;
        });
      };

      const fail = (message: string, verdict: MemoryVerdict | null = null): void => {
        set({ phase: 'failed', message, verdict, progress: null });
      };

      return {
        kind: 'builtin',
        hubRepo: '',
        hubRevision: DEFAULT_REVISION,
        hubUrl: hubFromUrl() ?? DEFAULT_HUB_URL,
        url: '',
        folder: null,
        ggufFile: null,
        batchTokens: DEFAULT_BATCH_TOKENS,
        inspection: null,
        inspectedKey: null,
        variantId: null,
        phase: 'idle',
        progress: null,
        message: null,
        verdict: null,
        card: null,
        cache: null,

        setKind: (kind) => changeSource({ kind }),
        setHub: (patch) => changeSource(patch),
        setUrl: (url) => changeSource({ url }),
        setFolder: (folder) => changeSource({ folder: folder ?? null }),
        setGgufFile: (file) => changeSource({ ggufFile: file ?? null }),
        setBatchTokens: (batchTokens) => set({ batchTokens, verdict: null }),
        chooseVariant: (variantId) => set({ variantId, verdict: null }),

        async inspect() {
          const spec = specFor(get());
          if (typeof spec === 'string') return void fail(spec);
          set({ phase: 'inspecting', message: null });
          const key = specKey(spec);
          try {
            const inspection = await inspectionOf(spec);
            if (!stillChosen(key)) return undefined;
            set({ phase: 'idle', message: inspection.problems.length ? inspection.problems.join(' ') : null });
            return inspection;
          } catch (error) {
            if (stillChosen(key)) fail(describeFailure(get().kind, error));
            return undefined;
          }
        },

        async load() {
          if (get().phase === 'inspecting' || get().phase === 'downloading') return;
          const inspection = await get().inspect();
          if (!inspection) return;
          if (inspection.problems.length) return fail(inspection.problems.join(' '));
          const { variantId, batchTokens } = get();
          if (!variantId) return fail(`${inspection.label} has no ONNX model to load.`);
          const spec = specFor(get()) as SourceSpec;
          const limits = limitsFor(backendInfo());
          const before = listingVerdict(inspection, variantId, limits, batchTokens);
          const alternatives = () => fittingAlternatives(inspection, variantId, limits, batchTokens);
          if (before && !before.fits) return fail(before.summary + alternatives(), before);

          set({ phase: 'downloading', message: null, progress: null, verdict: null, card: null });
          const request = sources().open(spec, variantId, { limits, batchTokens }, (progress) => current() && set({ progress }));
          openRequest = request.requestId;
          const current = () => openRequest === request.requestId;
          try {
            const opened = await request.result;
            if (!current()) return;
            set({ phase: 'handed-over', card: opened.card, verdict: opened.verdict ?? null });
            if (!consumer) throw new Error('internal: no runtime is connected to the model sources');
            consumer.open(opened.files, inspection.label);
            if (spec.kind === 'hub' || (spec.kind === 'url' && spec.cache)) {
              const variants = inspection.variants.map((v) => (v.id === variantId ? { ...v, available: true } : v));
              set({ inspection: { ...inspection, variants } });
              // Ask the browser not to evict downloaded models under storage pressure (Chromium decides silently).
              void navigator.storage?.persist?.();
            }
          } catch (error) {
            if (!current()) return;
            const verdict = error instanceof SourceRequestError ? (error.info.verdict ?? null) : null;
            fail(describeFailure(get().kind, error) + (verdict ? alternatives() : ''), verdict);
          } finally {
            if (current()) openRequest = undefined;
            void get().refreshCache();
          }
        },

        cancel() {
          if (openRequest !== undefined) sources().cancel(openRequest);
        },

        async refreshCache() {
          set({ cache: await sources().cacheReport() });
        },

        async deleteCached(dir) {
          set({ cache: await sources().deleteCached(dir) });
          // Variants shown as cached may not be any more.
          set({ inspection: null, inspectedKey: null });
        },
      };
    },
    {
      name: 'pps-model-source',
      partialize: ({ kind, hubRepo, hubRevision, hubUrl, url, batchTokens }) => ({
        // Picked files cannot be kept across a reload: fall back to the built-in model then.
        kind: kind === 'folder' || kind === 'gguf' ? 'builtin' : kind,
        hubRepo,
        hubRevision,
        hubUrl,
        url,
        batchTokens,
      }),
      merge: (saved, current) => ({ ...current, ...(saved as Partial<SourcesState>), ...(hubFromUrl() ? { hubUrl: hubFromUrl()! } : {}) }),
    },
  ),
);

function describeFailure(kind: SourceKind, error: unknown): string {
  if (kind === 'builtin' && error instanceof SourceRequestError && error.info.code !== 'cancelled') {
    return `The built-in model could not be opened (${error.message}). Run \`npm start\`, which prepares it.`;
  }
  return messageOf(error);
}
