/**
 * The one check every command that writes runs before it writes (Node only): the output must not be, lie
 * inside, or contain a source (the model folder, a .gguf file), compared by real path so a symbolic link
 * cannot disguise the model folder; an existing output is replaced only with `overwrite`, and a folder only
 * when it is empty or looks like one of our outputs, so `--overwrite` never deletes a user's unrelated files.
 */
import { lstat, readdir, realpath, stat } from 'node:fs/promises';
import { looksLikeModelFolder, NOT_A_MODEL_FOLDER } from '../model/output-folder';
import { basename, dirname, isAbsolute, join, relative, resolve, sep } from 'node:path';

/** Bad output path: the CLI reports it as a usage error. */
export class OutputPathError extends Error {
  override name = 'OutputPathError';
}

export interface OutputCheck {
  /** Replace an existing output (still refused for a folder that is not one of ours). */
  overwrite?: boolean;
  /** Paths the command reads (model folders, a .gguf file): the output must be none of them, nor inside or around one. */
  sources?: readonly (string | undefined)[];
  /** A folder (default) or a single file (stats.json). */
  kind?: 'folder' | 'file';
  /** The option's name in messages (default "--out"). */
  option?: string;
}

/**
 * The real path of `path` even when it does not exist yet: its nearest existing ancestor resolved through
 * every link, then the missing rest.
 */
export async function realPathOf(path: string): Promise<string> {
  const absolute = resolve(path);
  try {
    return await realpath(absolute);
  } catch (error) {
    const code = (error as NodeJS.ErrnoException).code;
    if (code !== 'ENOENT' && code !== 'ENOTDIR') throw error;
    const parent = dirname(absolute);
    if (parent === absolute) return absolute;
    return join(await realPathOf(parent), basename(absolute));
  }
}

/** Whether `inner` is `outer` or lies below it (both absolute, real). */
function within(inner: string, outer: string): boolean {
  const rel = relative(outer, inner);
  return rel === '' || (rel !== '..' && !rel.startsWith(`..${sep}`) && !isAbsolute(rel));
}

/** Empty, or one of our outputs (see src/model/output-folder.ts). */
export async function looksLikeOurOutput(dir: string): Promise<boolean> {
  return looksLikeModelFolder(await readdir(dir), () => readdir(join(dir, 'onnx')).catch(() => []));
}

/** Refuses an output that is, lies inside, or contains one of `sources` (by real path). */
export async function checkNotSource(out: string, sources: OutputCheck['sources'] = [], option = '--out'): Promise<void> {
  const real = await realPathOf(out);
  for (const source of sources) {
    if (source === undefined) continue;
    const realSource = await realpath(resolve(source)).catch(() => undefined);
    if (realSource === undefined) continue;
    const shown = realSource === resolve(source) ? source : `${source} (really ${realSource})`;
    if (real === realSource) throw new OutputPathError(`${option} ${out} is the model itself, ${shown}; choose another folder`);
    if (within(real, realSource)) throw new OutputPathError(`${option} ${out} lies inside the model folder ${shown}; choose a folder outside it`);
    if (within(realSource, real)) throw new OutputPathError(`${option} ${out} contains the model ${shown}; choose a folder that does not hold the model`);
  }
}

export async function checkOutput(out: string, options: OutputCheck = {}): Promise<void> {
  const option = options.option ?? '--out';
  await checkNotSource(out, options.sources, option);
  const existing = await lstat(out).catch(() => undefined);
  if (!existing) return;
  if (!options.overwrite) throw new OutputPathError(`${out} already exists; choose another ${option} or pass --overwrite`);
  // A link is replaced, not followed: judge what it points at, as that is what the user sees there.
  const target = existing.isSymbolicLink() ? await stat(out).catch(() => undefined) : existing;
  if ((options.kind ?? 'folder') === 'file') {
    if (target?.isDirectory()) throw new OutputPathError(`${option} ${out} is a folder; name a file`);
    return;
  }
  if (target && !target.isDirectory()) throw new OutputPathError(`${option} ${out} is a file, not a folder; refusing to replace it`);
  if (target && !(await looksLikeOurOutput(out))) {
    throw new OutputPathError(
      `refusing to replace ${out}: ${NOT_A_MODEL_FOLDER}; remove it yourself or choose another ${option}`,
    );
  }
}
