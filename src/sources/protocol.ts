/** Messages between the page and the sources worker (structured-clone safe: Blobs and Files travel by reference). */
import type { MemoryLimits, MemoryVerdict } from '../model/memory-estimate';
import type { ModelCard } from '../model/model-card';
import type { BundleFiles } from './bundle-files';
import type { FileStore } from './file-store';
import type { Inspection } from './inspect';
import type { LocalFile } from './local-folder';
import type { ProgressSnapshot } from './progress';

export type SourceSpec =
  /** A folder served over HTTP; `cache: false` for the app's own built-in model. */
  | { kind: 'url'; baseUrl: string; label: string; cache: boolean }
  | { kind: 'hub'; hubUrl: string; repo: string; revision: string }
  | { kind: 'folder'; name: string; files: LocalFile[] }
  | { kind: 'gguf'; file: File };

/** `auto`: OPFS, else the Cache API, else memory. The others force one (tests use `cache-api`). */
export type StorePreference = 'auto' | FileStore['kind'];

export interface MemoryRequest {
  limits: MemoryLimits;
  batchTokens: number;
}

export interface CachedSource {
  /** The cache folder; pass it to `cache-delete`. */
  dir: string;
  label: string;
  /** Bytes of complete files. */
  bytes: number;
  /** Bytes kept from interrupted downloads. */
  partialBytes: number;
  files: { path: string; size: number; partial: boolean }[];
}

export interface CacheReport {
  store: FileStore['kind'];
  sources: CachedSource[];
  /** navigator.storage.estimate(), when the browser has it. */
  usage?: number;
  quota?: number;
}

export type SourceErrorCode = 'cancelled' | 'not-found' | 'missing-file' | 'unusable' | 'too-big' | 'incomplete' | 'storage-full' | 'failed';

export interface SourceError {
  code: SourceErrorCode;
  message: string;
  verdict?: MemoryVerdict;
}

export type SourcesRequest =
  | { type: 'init'; store: StorePreference }
  | { type: 'inspect'; requestId: number; source: SourceSpec }
  | { type: 'open'; requestId: number; source: SourceSpec; variantId: string; memory: MemoryRequest }
  | { type: 'cancel'; requestId: number }
  | { type: 'cache-list'; requestId: number }
  /** Without `dir`, everything cached goes. */
  | { type: 'cache-delete'; requestId: number; dir?: string };

export type SourcesEvent =
  | { type: 'inspected'; requestId: number; inspection: Inspection }
  | { type: 'progress'; requestId: number; progress: ProgressSnapshot }
  | { type: 'opened'; requestId: number; files: BundleFiles; card: ModelCard; verdict?: MemoryVerdict }
  | { type: 'cache'; requestId: number; report: CacheReport }
  | { type: 'error'; requestId: number; error: SourceError };
