/**
 * {@link FileStore} in the Origin Private File System, for a dedicated worker: partial files are
 * written in place through sync access handles (flushed every few MB), so the bytes of a download
 * survive a cancel, a crash or a closed tab, and a large file is never copied to resume it. Layout:
 * `pps-models/<dir>/files/<path>` (committed), `.../partial/<path>` and `.../meta/<path>.json`.
 */
import { CommitSizeError, type FileStore, type PartialInfo, type PartialWriter, type StoredFile } from './file-store';

const ROOT = 'pps-models';
/** Flush to disk at least this often, bounding what a crash can lose. */
const FLUSH_BYTES = 8 * 2 ** 20;

type Area = 'files' | 'partial' | 'meta';

const isNotFound = (error: unknown) => error instanceof DOMException && (error.name === 'NotFoundError' || error.name === 'TypeMismatchError');

/** `FileSystemHandle.move` (Chromium, Safari) is not in TypeScript's DOM types yet. */
type MovableHandle = FileSystemFileHandle & { move?(parent: FileSystemDirectoryHandle, name: string): Promise<void> };
/** Async iteration of a folder lives in TypeScript's DOM.AsyncIterable lib, which this project does not load. */
const entries = (folder: FileSystemDirectoryHandle) =>
  (folder as FileSystemDirectoryHandle & { entries(): AsyncIterable<[string, FileSystemHandle]> }).entries();

export function opfsAvailable(): boolean {
  return (
    typeof navigator !== 'undefined' &&
    typeof navigator.storage?.getDirectory === 'function' &&
    typeof FileSystemFileHandle !== 'undefined' &&
    'createSyncAccessHandle' in FileSystemFileHandle.prototype
  );
}

export class OpfsFileStore implements FileStore {
  readonly kind = 'opfs';
  private rootHandle: Promise<FileSystemDirectoryHandle> | undefined;

  private root() {
    this.rootHandle ??= navigator.storage.getDirectory().then((d) => d.getDirectoryHandle(ROOT, { create: true }));
    return this.rootHandle;
  }

  /** The folder holding `path`'s file in `area`, and the file's name. */
  private async parent(dir: string, area: Area, path: string, create: boolean): Promise<{ folder: FileSystemDirectoryHandle; name: string } | undefined> {
    const segments = [dir, area, ...path.split('/')];
    const name = segments.pop()!;
    let folder = await this.root();
    try {
      for (const segment of segments) folder = await folder.getDirectoryHandle(segment, { create });
    } catch (error) {
      if (isNotFound(error)) return undefined;
      throw error;
    }
    return { folder, name: area === 'meta' ? `${name}.json` : name };
  }

  private async handle(dir: string, area: Area, path: string, create = false): Promise<FileSystemFileHandle | undefined> {
    const at = await this.parent(dir, area, path, create);
    if (!at) return undefined;
    try {
      return await at.folder.getFileHandle(at.name, { create });
    } catch (error) {
      if (isNotFound(error)) return undefined;
      throw error;
    }
  }

  async read(dir: string, path: string) {
    return (await this.handle(dir, 'files', path))?.getFile();
  }

  async partial(dir: string, path: string): Promise<PartialInfo | undefined> {
    const file = await (await this.handle(dir, 'partial', path))?.getFile();
    if (!file) return undefined;
    const meta = await (await this.handle(dir, 'meta', path))?.getFile();
    const info = meta ? (JSON.parse(await meta.text()) as Omit<PartialInfo, 'size'>) : {};
    return { ...info, size: file.size };
  }

  async openPartial(dir: string, path: string, offset: number, info: Omit<PartialInfo, 'size'>): Promise<PartialWriter> {
    await this.writeMeta(dir, path, info);
    const access = await (await this.handle(dir, 'partial', path, true))!.createSyncAccessHandle();
    const kept = access.getSize();
    if (kept < offset) {
      access.close();
      throw new Error(`Cannot continue ${path} at byte ${offset}: only ${kept} bytes are kept`);
    }
    access.truncate(offset);
    let position = offset;
    let unflushed = 0;
    return {
      async write(chunk) {
        position += access.write(chunk, { at: position });
        unflushed += chunk.byteLength;
        if (unflushed >= FLUSH_BYTES) {
          access.flush();
          unflushed = 0;
        }
      },
      async close() {
        access.flush();
        access.close();
      },
      get size() {
        return position;
      },
    };
  }

  private async writeMeta(dir: string, path: string, info: Omit<PartialInfo, 'size'>) {
    const access = await (await this.handle(dir, 'meta', path, true))!.createSyncAccessHandle();
    const bytes = new TextEncoder().encode(JSON.stringify(info));
    access.truncate(0);
    access.write(bytes, { at: 0 });
    access.flush();
    access.close();
  }

  async commit(dir: string, path: string, size: number) {
    const partial = (await this.handle(dir, 'partial', path)) as MovableHandle | undefined;
    const file = await partial?.getFile();
    if (!partial || !file || file.size !== size) {
      await this.remove(dir, path);
      throw new CommitSizeError(path, file?.size ?? 0, size);
    }
    const target = (await this.parent(dir, 'files', path, true))!;
    if (partial.move) await partial.move(target.folder, target.name);
    else {
      // Without move(): copy by streaming, then drop the partial file.
      const writable = await (await target.folder.getFileHandle(target.name, { create: true })).createWritable();
      await file.stream().pipeTo(writable);
      await this.removeEntry(dir, 'partial', path);
    }
    await this.removeEntry(dir, 'meta', path);
    return (await this.read(dir, path))!;
  }

  private async removeEntry(dir: string, area: Area, path: string) {
    const at = await this.parent(dir, area, path, false);
    await at?.folder.removeEntry(at.name).catch((error: unknown) => {
      if (!isNotFound(error)) throw error;
    });
  }

  async remove(dir: string, path?: string) {
    if (path === undefined) {
      await (await this.root()).removeEntry(dir, { recursive: true }).catch((error: unknown) => {
        if (!isNotFound(error)) throw error;
      });
      return;
    }
    for (const area of ['files', 'partial', 'meta'] as const) await this.removeEntry(dir, area, path);
  }

  async list(): Promise<StoredFile[]> {
    const found: StoredFile[] = [];
    for await (const [dir, handle] of entries(await this.root())) {
      if (handle.kind !== 'directory') continue;
      for (const area of ['files', 'partial'] as const) {
        const folder = await (handle as FileSystemDirectoryHandle).getDirectoryHandle(area).catch(() => undefined);
        if (!folder) continue;
        for (const { path, file } of await walk(folder)) found.push({ dir, path, size: file.size, partial: area === 'partial' });
      }
    }
    return found;
  }
}

async function walk(folder: FileSystemDirectoryHandle, prefix = ''): Promise<{ path: string; file: File }[]> {
  const out: { path: string; file: File }[] = [];
  for await (const [name, handle] of entries(folder)) {
    if (handle.kind === 'directory') out.push(...(await walk(handle as FileSystemDirectoryHandle, `${prefix}${name}/`)));
    else out.push({ path: prefix + name, file: await (handle as FileSystemFileHandle).getFile() });
  }
  return out;
}
