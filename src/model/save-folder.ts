/**
 * The studio's "Save to a folder…" (File System Access): the same guards as the CLI's output check. The
 * pruned folder never goes into the loaded model's own folder (nor replaces a folder holding it), compared
 * by entry identity (`isSameEntry`, `resolve`), which sees through names; an existing folder is replaced only
 * after the user agrees, and only when it is empty or one of our model folders. Browser only.
 */
import { looksLikeModelFolder, NOT_A_MODEL_FOLDER } from './output-folder';

type Directory = FileSystemDirectoryHandle & { keys(): AsyncIterable<string> };

export class SaveRefusedError extends Error {
  override name = 'SaveRefusedError';
}

async function names(dir: FileSystemDirectoryHandle): Promise<string[]> {
  const out: string[] = [];
  for await (const name of (dir as Directory).keys()) out.push(name);
  return out;
}

async function existingFolder(parent: FileSystemDirectoryHandle, name: string): Promise<FileSystemDirectoryHandle | undefined> {
  try {
    return await parent.getDirectoryHandle(name);
  } catch (error) {
    if (error instanceof DOMException && error.name === 'NotFoundError') return undefined;
    if (error instanceof DOMException && error.name === 'TypeMismatchError') throw new SaveRefusedError(`"${name}" in the chosen folder is a file, not a folder; choose another place`);
    throw error;
  }
}

/** Refuses (SaveRefusedError) a place that is in or around the model; says whether `name` already exists there. */
export async function checkSaveTarget(parent: FileSystemDirectoryHandle, name: string, model?: FileSystemDirectoryHandle): Promise<{ replaces: boolean }> {
  if (model) {
    if ((await parent.isSameEntry(model)) || (await model.resolve(parent)) !== null) {
      throw new SaveRefusedError(`The chosen folder "${parent.name}" is the model's own folder (or inside it); choose a folder outside "${model.name}".`);
    }
    const path = await parent.resolve(model);
    if (path !== null && path[0] === name) {
      throw new SaveRefusedError(`"${name}" in the chosen folder holds the loaded model "${model.name}"; saving there would replace it. Choose another folder.`);
    }
  }
  const existing = await existingFolder(parent, name);
  if (!existing) return { replaces: false };
  const top = await names(existing);
  const ours = await looksLikeModelFolder(top, async () => (top.includes('onnx') ? names(await existing.getDirectoryHandle('onnx')) : []));
  if (!ours) throw new SaveRefusedError(`Not replacing "${name}" in the chosen folder: ${NOT_A_MODEL_FOLDER}. Choose another folder or remove it yourself.`);
  return { replaces: true };
}

export interface SaveOptions {
  /** The loaded model's folder, when it was opened through the folder picker. */
  model?: FileSystemDirectoryHandle;
  /** Asked before an existing folder is replaced; false keeps it and saves nothing. */
  confirmReplace: (name: string) => boolean | Promise<boolean>;
}

/** Writes `files` into `parent/name`; 'cancelled' when the user chose not to replace an existing folder. */
export async function saveFolder(parent: FileSystemDirectoryHandle, name: string, files: readonly { path: string; data: Uint8Array }[], options: SaveOptions): Promise<'saved' | 'cancelled'> {
  const { replaces } = await checkSaveTarget(parent, name, options.model);
  if (replaces) {
    if (!(await options.confirmReplace(name))) return 'cancelled';
    // Whole, so no file of an earlier export (a data file this one does not have) stays behind.
    await parent.removeEntry(name, { recursive: true });
  }
  const root = await parent.getDirectoryHandle(name, { create: true });
  for (const file of files) {
    const parts = file.path.split('/');
    let dir = root;
    for (const part of parts.slice(0, -1)) dir = await dir.getDirectoryHandle(part, { create: true });
    const writable = await (await dir.getFileHandle(parts.at(-1)!, { create: true })).createWritable();
    await writable.write(file.data as Uint8Array<ArrayBuffer>);
    await writable.close();
  }
  return 'saved';
}
