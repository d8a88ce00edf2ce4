/**
 * A model folder on the user's disk, however the browser lets us reach it: the File System Access
 * picker (`showDirectoryPicker`, Chromium), `<input webkitdirectory>`, or a dropped folder. All give
 * File objects (disk-backed: nothing is read until the model is opened) with folder-relative paths.
 */

export interface LocalFile {
  /** '/'-separated, relative to the chosen folder. */
  path: string;
  file: File;
}

export interface LocalFolder {
  name: string;
  files: LocalFile[];
  /** The folder itself, when the picker gave one: lets a save refuse to write into the model's own folder. */
  handle?: FileSystemDirectoryHandle;
}

/** Hidden folders (.git, .cache) can be huge and never hold the model. */
const skipped = (name: string) => name.startsWith('.');

type IterableDirectory = FileSystemDirectoryHandle & { values(): AsyncIterable<FileSystemHandle> };

export function canPickDirectory(): boolean {
  return typeof (globalThis as { showDirectoryPicker?: unknown }).showDirectoryPicker === 'function';
}

/** Opens the browser's folder picker; undefined when the user closes it. */
export async function pickDirectory(): Promise<LocalFolder | undefined> {
  const picker = (globalThis as unknown as { showDirectoryPicker(options?: { mode?: 'read' }): Promise<FileSystemDirectoryHandle> }).showDirectoryPicker;
  try {
    return await readDirectoryHandle(await picker({ mode: 'read' }));
  } catch (error) {
    if (error instanceof DOMException && error.name === 'AbortError') return undefined;
    throw error;
  }
}

async function readDirectoryHandle(handle: FileSystemDirectoryHandle, prefix = ''): Promise<LocalFolder> {
  const files: LocalFile[] = [];
  for await (const entry of (handle as IterableDirectory).values()) {
    if (skipped(entry.name)) continue;
    if (entry.kind === 'directory') files.push(...(await readDirectoryHandle(entry as FileSystemDirectoryHandle, `${prefix}${entry.name}/`)).files);
    else files.push({ path: prefix + entry.name, file: await (entry as FileSystemFileHandle).getFile() });
  }
  return { name: handle.name, files, handle };
}

/** `<input webkitdirectory>`: each file's webkitRelativePath starts with the chosen folder's name. */
export function readFileInput(list: FileList | readonly File[]): LocalFolder | undefined {
  const all = [...list];
  if (all.length === 0) return undefined;
  const name = all[0]!.webkitRelativePath.split('/')[0] ?? '';
  const files = all
    .map((file) => ({ path: file.webkitRelativePath.split('/').slice(1).join('/'), file }))
    .filter((f) => f.path && !f.path.split('/').some(skipped));
  return { name, files };
}

/** What was dropped: a folder, or a single file (a .gguf), or nothing usable. */
export type Dropped = { folder: LocalFolder } | { file: File } | undefined;

export async function readDrop(data: DataTransfer): Promise<Dropped> {
  const item = [...data.items].find((i) => i.kind === 'file');
  if (!item) return undefined;
  const entry = item.webkitGetAsEntry?.();
  if (entry?.isDirectory) return { folder: { name: entry.name, files: await readEntry(entry as FileSystemDirectoryEntry, '') } };
  const file = item.getAsFile();
  return file ? { file } : undefined;
}

async function readEntry(dir: FileSystemDirectoryEntry, prefix: string): Promise<LocalFile[]> {
  const reader = dir.createReader();
  const entries: FileSystemEntry[] = [];
  // readEntries returns at most ~100 entries per call; call until it returns none.
  for (;;) {
    const batch = await new Promise<FileSystemEntry[]>((ok, fail) => reader.readEntries(ok, fail));
    if (batch.length === 0) break;
    entries.push(...batch);
  }
  const files: LocalFile[] = [];
  for (const entry of entries) {
    if (skipped(entry.name)) continue;
    if (entry.isDirectory) files.push(...(await readEntry(entry as FileSystemDirectoryEntry, `${prefix}${entry.name}/`)));
    else files.push({ path: prefix + entry.name, file: await new Promise<File>((ok, fail) => (entry as FileSystemFileEntry).file(ok, fail)) });
  }
  return files;
}
