/** Writing whole model folders atomically (Node only). */
import { mkdir, open, rename, rm, stat } from 'node:fs/promises';
import { dirname, join, resolve } from 'node:path';
import type { FolderFile } from '../import/import-gguf';
import { checkOutput, type OutputCheck } from './output-guard';

export async function exists(path: string): Promise<boolean> {
  return stat(path).then(
    () => true,
    () => false,
  );
}

/**
 * Puts a finished staging folder at `target`. The output guard runs again right before anything is
 * replaced, so a folder that changed while the work ran (or a link swapped in) is still refused.
 */
export async function moveIntoPlace(staging: string, target: string, check: OutputCheck = {}): Promise<void> {
  await checkOutput(target, check);
  if (check.overwrite) await rm(target, { recursive: true, force: true });
  await mkdir(dirname(resolve(target)), { recursive: true });
  await rename(staging, target);
}

/**
 * Writes every file into a sibling temporary folder and renames it into place at the end, so a
 * failure (bad input, full disk, Ctrl-C between files) never leaves a partial model folder behind.
 */
export async function writeFolderAtomic(outDir: string, files: readonly FolderFile[], check: OutputCheck = {}): Promise<void> {
  await checkOutput(outDir, check);
  const target = resolve(outDir);
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
    await moveIntoPlace(temp, target, check);
  } catch (error) {
    await rm(temp, { recursive: true, force: true });
    throw error;
  }
}
