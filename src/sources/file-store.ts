/**
 * Where downloaded model files are kept. A file is either committed (complete, size verified) or
 * partial (an interrupted download, kept so the next attempt asks only for the rest). Only `commit`
 * turns a partial file into a committed one, so a failed or cut download never looks complete.
 *
 * Implementations: OPFS (opfs-store.ts, preferred), the Cache API (cache-api-store.ts, fallback) and
 * memory (below: for sources that are not cached, and for tests).
 */

export interface PartialInfo {
  /** Bytes kept so far. */
  size: number;
  /** The server's strong ETag when the bytes were fetched, to resume only the same file. */
  etag?: string;
  /** The file's full size, when the server said it. */
  total?: number;
}

export interface PartialWriter {
  write(chunk: Uint8Array): Promise<void>;
  /** Persists what was written (also after a failure, so it can be resumed). */
  close(): Promise<void>;
  /** Bytes in the partial file, including those kept from before. */
  readonly size: number;
}

export interface StoredFile {
  dir: string;
  path: string;
  size: number;
  partial: boolean;
}

export interface FileStore {
  readonly kind: 'opfs' | 'cache-api' | 'memory';
  /** A committed file, or undefined. */
  read(dir: string, path: string): Promise<Blob | undefined>;
  partial(dir: string, path: string): Promise<PartialInfo | undefined>;
  /** Continues the partial file at `offset` (anything after it is dropped; 0 starts afresh). */
  openPartial(dir: string, path: string, offset: number, info: Omit<PartialInfo, 'size'>): Promise<PartialWriter>;
  /** Makes the partial file the committed one; throws, keeping nothing committed, unless it has exactly `size` bytes. */
  commit(dir: string, path: string, size: number): Promise<Blob>;
  /** Removes one file (committed and partial), or the whole folder when `path` is omitted. */
  remove(dir: string, path?: string): Promise<void>;
  list(): Promise<StoredFile[]>;
}

export class CommitSizeError extends Error {
  override name = 'CommitSizeError';
  constructor(
    readonly path: string,
    readonly actual: number,
    readonly expected: number,
  ) {
    super(`${path} has ${actual} bytes, but ${expected} were expected: it was not stored.`);
  }
}

/** Stores a small file in one go (listings, JSON files). */
export async function writeWhole(store: FileStore, dir: string, path: string, bytes: Uint8Array): Promise<Blob> {
  const writer = await store.openPartial(dir, path, 0, {});
  try {
    await writer.write(bytes);
  } finally {
    await writer.close();
  }
  return store.commit(dir, path, bytes.byteLength);
}

interface MemoryPartial extends Omit<PartialInfo, 'size'> {
  chunks: Uint8Array[];
  size: number;
}

/** Keeps files in memory for the page's lifetime. Chunks are copied: callers may reuse their buffers. */
export class MemoryFileStore implements FileStore {
  readonly kind = 'memory';
  private readonly committed = new Map<string, Blob>();
  private readonly partials = new Map<string, MemoryPartial>();

  private static key = (dir: string, path: string) => `${dir}\n${path}`;

  async read(dir: string, path: string) {
    return this.committed.get(MemoryFileStore.key(dir, path));
  }

  async partial(dir: string, path: string) {
    const p = this.partials.get(MemoryFileStore.key(dir, path));
    return p && { size: p.size, ...(p.etag ? { etag: p.etag } : {}), ...(p.total !== undefined ? { total: p.total } : {}) };
  }

  async openPartial(dir: string, path: string, offset: number, info: Omit<PartialInfo, 'size'>): Promise<PartialWriter> {
    const key = MemoryFileStore.key(dir, path);
    const kept = truncate(this.partials.get(key)?.chunks ?? [], offset);
    const partial: MemoryPartial = { ...info, chunks: kept, size: offset };
    this.partials.set(key, partial);
    return {
      async write(chunk) {
        partial.chunks.push(chunk.slice());
        partial.size += chunk.byteLength;
      },
      async close() {},
      get size() {
        return partial.size;
      },
    };
  }

  async commit(dir: string, path: string, size: number) {
    const key = MemoryFileStore.key(dir, path);
    const partial = this.partials.get(key);
    this.partials.delete(key);
    if (!partial || partial.size !== size) throw new CommitSizeError(path, partial?.size ?? 0, size);
    const blob = new Blob(partial.chunks as BlobPart[]);
    this.committed.set(key, blob);
    return blob;
  }

  async remove(dir: string, path?: string) {
    for (const map of [this.committed, this.partials] as Map<string, unknown>[]) {
      for (const key of [...map.keys()]) {
        const [d, p] = key.split('\n');
        if (d === dir && (path === undefined || p === path)) map.delete(key);
      }
    }
  }

  async list() {
    const entries = (map: Map<string, { size: number }>, partial: boolean) =>
      [...map].map(([key, value]) => {
        const [dir, path] = key.split('\n') as [string, string];
        return { dir, path, size: value.size, partial };
      });
    return [...entries(this.committed, false), ...entries(this.partials, true)];
  }
}

/** The first `length` bytes of a chunk list. */
function truncate(chunks: Uint8Array[], length: number): Uint8Array[] {
  const kept: Uint8Array[] = [];
  let size = 0;
  for (const chunk of chunks) {
    if (size >= length) break;
    kept.push(chunk.subarray(0, Math.min(chunk.byteLength, length - size)));
    size += kept[kept.length - 1]!.byteLength;
  }
  if (size < length) throw new Error(`Cannot continue at byte ${length}: only ${size} bytes are kept`);
  return kept;
}
