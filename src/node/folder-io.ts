/** Writing whole model folders atomically (Node only). */
import { mkdir, open, rename, rm, stat } from 'node:fs/promises';
import { dirname, join, resolve } from 'node:path';
import type { FolderFile } from '../import/import-gguf';

export async function exists(path: string): Promise<boolean> {
  return stat(path).then(
    () => true,
    () => false,
  );
}

/**
 * Writes every file into a sibling temporary folder and renames it into place at the end, so a
 * failure (bad input, full disk, Ctrl-C between files) never leaves a partial model folder behind.
 */
export async function writeFolderAtomic(outDir: string, files: readonly FolderFile[], { overwrite = false } = {}): Promise<void> {
  const target = resolve(outDir);
  if (!overwrite && (await exists(target))) throw new Error(`${outDir} already exists; choose another folder or remove it first`);
  const temp = `${target}.partial-${process.pid}`;
  await rm(temp, { recursive: true, force: true });
  try {
    for (const file of files) {
      const path = join(temp, file.path);
      await mkdir(dirname(path), { recursive: true });
      const handle = await open(path, 'w');
      try {
        for (const chunk of file.chunks) await handle.write(chunk);
      } finally {
        await handle.close();
      }
    }
    await mkdir(dirname(target), { recursive: true });
    if (overwrite) await rm(target, { recursive: true, force: true });
    await rename(temp, target);
  } catch (error) {
    await rm(temp, { recursive: true, force: true });
    throw error;
  }
}
