/** Reading and writing ONNX models with their external data files (Node only). */
import { open, rename, rm } from 'node:fs/promises';
import { dirname, join } from 'node:path';
import {
  checkExternalLocation,
  encodeModel,
  externalDataLocations,
  parseModel,
  resolveExternalData,
  type EncodeOptions,
  type OnnxModel,
} from '../onnx/model-io';

/** fs reads and writes at most ~2 GiB per call; larger files are moved in pieces of this size. */
const IO_CHUNK = 1 << 30;

/**
 * Reads a .onnx file and every external data file its tensors name (from the same folder, each
 * file read once however many tensors use it). External tensors end up as views into those files.
 */
export async function readModelFile(path: string): Promise<OnnxModel> {
  const model = parseModel(await readWholeFile(path));
  const files = new Map<string, Uint8Array>();
  for (const location of externalDataLocations(model)) {
    checkExternalLocation(location);
    try {
      files.set(location, await readWholeFile(join(dirname(path), location)));
    } catch (error) {
      // A missing file is reported by resolveExternalData, which names the tensor that needs it.
      if ((error as NodeJS.ErrnoException).code !== 'ENOENT') throw error;
    }
  }
  return resolveExternalData(model, (location) => files.get(location));
}

/** Reads a file into one plain Uint8Array (fs.readFile refuses files over 2 GiB). */
async function readWholeFile(path: string): Promise<Uint8Array> {
  const handle = await open(path, 'r');
  try {
    const { size } = await handle.stat();
    const bytes = new Uint8Array(size);
    for (let done = 0; done < size; ) {
      const { bytesRead } = await handle.read(bytes, done, Math.min(IO_CHUNK, size - done), done);
      if (bytesRead === 0) throw new Error(`${path} shrank while being read`);
      done += bytesRead;
    }
    return bytes;
  } finally {
    await handle.close();
  }
}

/**
 * Writes `path` and, when options.externalData moves tensors out, the data file next to it. Each
 * file is written under a temporary name, flushed, then renamed into place (data file first), so a
 * failure never leaves a half-written file behind; temporaries are removed on error.
 */
export async function writeModelFile(path: string, model: OnnxModel, options: EncodeOptions = {}): Promise<void> {
  const encoded = encodeModel(model, options);
  const pending: { temp: string; target: string }[] = [];
  try {
    if (encoded.external) {
      const target = join(dirname(path), encoded.external.location);
      pending.push({ temp: await writeTemp(target, encoded.external.chunks), target });
    }
    pending.push({ temp: await writeTemp(path, [encoded.model]), target: path });
    for (const { temp, target } of pending) await rename(temp, target);
  } catch (error) {
    await Promise.all(pending.map(({ temp }) => rm(temp, { force: true })));
    throw error;
  }
}

let tempCounter = 0;

/** Streams `chunks` sequentially into a fresh temporary file beside `target`; returns its path. */
async function writeTemp(target: string, chunks: readonly Uint8Array[]): Promise<string> {
  const temp = `${target}.${process.pid}.${++tempCounter}.tmp`;
  const handle = await open(temp, 'wx');
  try {
    for (const chunk of chunks) {
      for (let done = 0; done < chunk.byteLength; ) {
        const { bytesWritten } = await handle.write(chunk, done, Math.min(IO_CHUNK, chunk.byteLength - done));
        done += bytesWritten;
      }
    }
    await handle.sync();
  } catch (error) {
    await handle.close();
    await rm(temp, { force: true });
    throw error;
  }
  await handle.close();
  return temp;
}
