/**
 * One interface over every place a model can come from. Remote sources (the hub, any URL with the same
 * layout) download into a {@link FileStore} and keep their listing there too, so a cached model opens
 * with no network request at all. Local sources (a folder, an imported GGUF) hand out their files as
 * they are.
 */
import { download } from './download';
import { writeWhole, type FileStore } from './file-store';
import { folderFileUrl, hubFileUrl } from './hub-urls';
import { fetchHubListing, probeListing, type SourceListing } from './listing';

export interface FileRequest {
  /** From the listing, when known: the file must have exactly this size. */
  size?: number;
  signal?: AbortSignal;
  onStart?(info: { size: number | undefined; reused: number }): void;
  onBytes?(bytes: number): void;
}

export interface SourceAccess {
  /** Stable identity: the same model from the same place gets the same id (and cache folder). */
  readonly id: string;
  readonly label: string;
  readonly remote: boolean;
  list(signal?: AbortSignal): Promise<SourceListing>;
  /** The file's bytes; a remote source downloads (resuming, caching) first. */
  file(path: string, request?: FileRequest): Promise<Blob>;
  /** Whether the file is complete at hand, without asking the network. */
  isAvailable(path: string): Promise<boolean>;
  /** Drops a stored file found to be unusable (e.g. truncated on the server). */
  forget(path: string): Promise<void>;
  /** Drops everything stored for this source, its listing included, so the next look asks the server again. */
  discard(): Promise<void>;
}

/** What the cache view shows about a cached source; stored beside its files. */
export interface SourceRecord {
  id: string;
  label: string;
  listing: SourceListing;
}

/** Holds the source's record and listing; files beside it use their own paths, which never start with '.pps/'. */
export const RECORD_PATH = '.pps/source.json';

/** A file/folder name for the cache: readable, short, and unique through a hash of the full id. */
function cacheDirName(id: string): string {
  let hash = 0x811c9dc5;
  for (let i = 0; i < id.length; i++) hash = Math.imul(hash ^ id.charCodeAt(i), 0x01000193);
  const slug = id.replace(/^[a-z]+:\/\/|^[a-z]+:/i, '').replace(/[^A-Za-z0-9._-]+/g, '_').slice(0, 60);
  return `${slug}-${(hash >>> 0).toString(16).padStart(8, '0')}`;
}

interface RemoteOptions {
  store: FileStore;
  fetch: typeof fetch;
}

export function hubAccess(hubUrl: string, repo: string, revision: string, options: RemoteOptions): SourceAccess {
  const id = `hub:${hubUrl.replace(/\/+$/, '')}/${repo}@${revision}`;
  const label = `${repo}${revision === 'main' ? '' : `@${revision}`}`;
  return remoteAccess(id, label, options, {
    list: async (signal) =>
      (await fetchHubListing(options.fetch, hubUrl, repo, revision, signal)) ??
      (await probeListing(options.fetch, (path) => hubFileUrl(hubUrl, repo, revision, path), signal)),
    // Pinned to the commit the listing came from, so a push during the download cannot mix two versions.
    url: (path, listing) => hubFileUrl(hubUrl, repo, listing.commit ?? revision, path),
  });
}

export function urlAccess(baseUrl: string, label: string, options: RemoteOptions): SourceAccess {
  return remoteAccess(`url:${folderFileUrl(baseUrl, '')}`, label, options, {
    list: (signal) => probeListing(options.fetch, (path) => folderFileUrl(baseUrl, path), signal),
    url: (path) => folderFileUrl(baseUrl, path),
  });
}

interface RemoteLayout {
  list(signal?: AbortSignal): Promise<SourceListing>;
  url(path: string, listing: SourceListing): string;
}

function remoteAccess(id: string, label: string, { store, fetch }: RemoteOptions, layout: RemoteLayout): SourceAccess {
  const dir = cacheDirName(id);
  let listing: SourceListing | undefined;
  const list = async (signal?: AbortSignal) => {
    if (listing) return listing;
    const saved = await store.read(dir, RECORD_PATH);
    if (saved) return (listing = (JSON.parse(await saved.text()) as SourceRecord).listing);
    const fresh = await layout.list(signal);
    if (fresh.files.length === 0) throw new Error(`No model files were found at ${label}.`);
    const record: SourceRecord = { id, label, listing: fresh };
    await writeWhole(store, dir, RECORD_PATH, new TextEncoder().encode(JSON.stringify(record)));
    return (listing = fresh);
  };
  return {
    id,
    label,
    remote: true,
    list,
    async file(path, { size, signal, onStart, onBytes } = {}) {
      const url = layout.url(path, await list(signal));
      return download({ store, dir, path, url, fetch, expectedSize: size, signal, onStart, onBytes });
    },
    isAvailable: async (path) => (await store.read(dir, path)) !== undefined,
    forget: (path) => store.remove(dir, path),
    async discard() {
      listing = undefined;
      await store.remove(dir);
    },
  };
}

/** Files already at hand (a picked folder, an imported GGUF), by path. */
export function localAccess(label: string, files: ReadonlyMap<string, Blob>): SourceAccess {
  const listing: SourceListing = { files: [...files].map(([path, blob]) => ({ path, size: blob.size })), via: 'local' };
  return {
    id: `local:${label}`,
    label,
    remote: false,
    list: async () => listing,
    async file(path, request = {}) {
      const blob = files.get(path);
      if (!blob) throw new Error(`${label} has no ${path}.`);
      request.onStart?.({ size: blob.size, reused: blob.size });
      return blob;
    },
    isAvailable: async (path) => files.has(path),
    forget: async () => {},
    discard: async () => {},
  };
}
