/**
 * {@link FileStore} in the Cache API, for browsers without OPFS sync access handles. A cache entry
 * cannot be appended to, so a partial download is a run of segments (one entry per few MB, keyed by
 * its offset); committing joins them as one Blob (Blobs concatenate without copying into memory) and
 * stores that. At most one segment is ever held in memory.
 */
import { encodePath } from './hub-urls';
import { CommitSizeError, type FileStore, type PartialInfo, type PartialWriter, type StoredFile } from './file-store';

const CACHE = 'pps-models';
/** Cache keys must be URLs; this host never resolves, so no key can collide with a real request. */
const BASE = 'https://pps-cache.invalid/';
const SEGMENT_BYTES = 4 * 2 ** 20;

type Area = 'files' | 'partial' | 'meta';

const keyOf = (area: Area, dir: string, path: string) => `${BASE}${area}/${encodeURIComponent(dir)}/${encodePath(path)}`;

function parseKey(url: string): { area: Area; dir: string; path: string; at?: number } | undefined {
  if (!url.startsWith(BASE)) return undefined;
  const { pathname, searchParams } = new URL(url);
  const [area, dir, ...rest] = pathname.slice(1).split('/').map(decodeURIComponent);
  const at = searchParams.get('at');
  return { area: area as Area, dir: dir!, path: rest.join('/'), ...(at !== null ? { at: Number(at) } : {}) };
}

const sized = (blob: Blob) => new Response(blob, { headers: { 'content-length': String(blob.size) } });

export class CacheApiFileStore implements FileStore {
  readonly kind = 'cache-api';
  private readonly cache = caches.open(CACHE);

  async read(dir: string, path: string) {
    const response = await (await this.cache).match(keyOf('files', dir, path));
    return response?.blob();
  }

  /** The partial file's segments in order, as far as they are contiguous. */
  private async segments(dir: string, path: string) {
    const contiguous = [];
    let end = 0;
    for (const s of await this.allSegments(dir, path)) {
      if (s.at !== end) break;
      contiguous.push(s);
      end += s.size;
    }
    return contiguous;
  }

  async partial(dir: string, path: string): Promise<PartialInfo | undefined> {
    const segments = await this.segments(dir, path);
    if (segments.length === 0) return undefined;
    const meta = await (await this.cache).match(keyOf('meta', dir, path));
    const info = meta ? ((await meta.json()) as Omit<PartialInfo, 'size'>) : {};
    return { ...info, size: segments.reduce((n, s) => n + s.size, 0) };
  }

  async openPartial(dir: string, path: string, offset: number, info: Omit<PartialInfo, 'size'>): Promise<PartialWriter> {
    const cache = await this.cache;
    await cache.put(keyOf('meta', dir, path), new Response(JSON.stringify(info)));
    // Keep the segments before `offset` (cutting the one that spans it), drop everything else.
    let kept = 0;
    for (const s of await this.allSegments(dir, path)) {
      if (s.at >= offset || s.at !== kept) await cache.delete(s.key);
      else if (s.at + s.size > offset) {
        const blob = (await (await cache.match(s.key))!.blob()).slice(0, offset - s.at);
        await cache.put(s.key, sized(blob));
        kept = offset;
      } else kept = s.at + s.size;
    }
    if (kept < offset) throw new Error(`Cannot continue ${path} at byte ${offset}: only ${kept} bytes are kept`);

    let buffered: Uint8Array[] = [];
    let bufferedBytes = 0;
    let position = offset;
    const flush = async () => {
      if (bufferedBytes === 0) return;
      await cache.put(`${keyOf('partial', dir, path)}?at=${position - bufferedBytes}`, sized(new Blob(buffered as BlobPart[])));
      buffered = [];
      bufferedBytes = 0;
    };
    return {
      async write(chunk) {
        buffered.push(chunk.slice());
        bufferedBytes += chunk.byteLength;
        position += chunk.byteLength;
        if (bufferedBytes >= SEGMENT_BYTES) await flush();
      },
      close: flush,
      get size() {
        return position;
      },
    };
  }

  /** Every segment key, contiguous or not. */
  private async allSegments(dir: string, path: string) {
    const cache = await this.cache;
    const prefix = `${keyOf('partial', dir, path)}?at=`;
    const keys = (await cache.keys()).filter((k) => k.url.startsWith(prefix));
    const segments = await Promise.all(
      keys.map(async (key) => ({ key, at: parseKey(key.url)!.at!, size: Number((await cache.match(key))?.headers.get('content-length') ?? 0) })),
    );
    return segments.sort((a, b) => a.at - b.at);
  }

  async commit(dir: string, path: string, size: number) {
    const cache = await this.cache;
    const segments = await this.segments(dir, path);
    const blob = new Blob(await Promise.all(segments.map(async (s) => (await cache.match(s.key))!.blob())));
    if (blob.size !== size) {
      await this.remove(dir, path);
      throw new CommitSizeError(path, blob.size, size);
    }
    await cache.put(keyOf('files', dir, path), sized(blob));
    await this.removeArea(dir, path, ['partial', 'meta']);
    return (await this.read(dir, path))!;
  }

  private async removeArea(dir: string, path: string | undefined, areas: Area[]) {
    const cache = await this.cache;
    for (const key of await cache.keys()) {
      const k = parseKey(key.url);
      if (k && k.dir === dir && areas.includes(k.area) && (path === undefined || k.path === path)) await cache.delete(key);
    }
  }

  remove(dir: string, path?: string) {
    return this.removeArea(dir, path, ['files', 'partial', 'meta']);
  }

  async list(): Promise<StoredFile[]> {
    const cache = await this.cache;
    const files = new Map<string, StoredFile>();
    for (const key of await cache.keys()) {
      const k = parseKey(key.url);
      if (!k || k.area === 'meta') continue;
      const size = Number((await cache.match(key))?.headers.get('content-length') ?? 0);
      const id = `${k.area}\n${k.dir}\n${k.path}`;
      const entry = files.get(id) ?? { dir: k.dir, path: k.path, size: 0, partial: k.area === 'partial' };
      entry.size += size;
      files.set(id, entry);
    }
    return [...files.values()];
  }
}
