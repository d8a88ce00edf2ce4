/**
 * Node side of streaming model rewrites: open a .onnx file without loading its external data, read
 * single tensors on demand, and write a ModelPieces plan by copying source byte ranges through one
 * reusable buffer. Memory stays at the protobuf plus the tensors that were actually changed.
 */
import { open, type FileHandle } from 'node:fs/promises';
import { dirname, join } from 'node:path';
import { checkExternalLocation, externalDataLocations, parseModel, tensorBytes, type OnnxModel } from '../onnx/model-io';
import { externalSource, type DataPiece, type ModelPieces } from '../onnx/model-pieces';
import type { TensorProto } from '../onnx/proto';

/** Copy buffer size: large enough that syscalls do not dominate, small next to any model. */
const COPY_CHUNK = 16 * 1024 * 1024;

export class ModelFileSource {
  private readonly handles = new Map<string, Promise<FileHandle>>();

  private constructor(
    readonly path: string,
    /** The parsed graph; external tensors keep their references (see externalSource). */
    readonly model: OnnxModel,
  ) {}

  static async open(path: string): Promise<ModelFileSource> {
    const handle = await open(path, 'r');
    try {
      const { size } = await handle.stat();
      const bytes = new Uint8Array(size);
      for (let done = 0; done < size; ) {
        const { bytesRead } = await handle.read(bytes, done, Math.min(1 << 30, size - done), done);
        if (bytesRead === 0) throw new Error(`${path} shrank while being read`);
        done += bytesRead;
      }
      return new ModelFileSource(path, parseModel(bytes));
    } finally {
      await handle.close();
    }
  }

  /** External data files the graph refers to, relative to its folder. */
  get externalFiles(): string[] {
    return externalDataLocations(this.model);
  }

  private file(location: string): Promise<FileHandle> {
    let handle = this.handles.get(location);
    if (!handle) {
      checkExternalLocation(location);
      const path = join(dirname(this.path), location);
      handle = open(path, 'r').catch((error: NodeJS.ErrnoException) => {
        throw new Error(error.code === 'ENOENT' ? `External data file "${location}" of ${this.path} was not found` : `${path}: ${error.message}`);
      });
      this.handles.set(location, handle);
    }
    return handle;
  }

  /** `length` bytes at `offset` of external file `location` (into `into` when given). */
  async read(location: string, offset: number, length: number, into?: Uint8Array): Promise<Uint8Array> {
    const handle = await this.file(location);
    const bytes = into ? into.subarray(0, length) : new Uint8Array(length);
    for (let done = 0; done < length; ) {
      const { bytesRead } = await handle.read(bytes, done, length - done, offset + done);
      if (bytesRead === 0) throw new Error(`"${location}" ends before byte ${offset + length} (truncated data file?)`);
      done += bytesRead;
    }
    return bytes;
  }

  /** A tensor's raw bytes: inline ones as they are, external ones read from disk. */
  async tensorData(tensor: TensorProto): Promise<Uint8Array> {
    const source = externalSource(tensor);
    return source ? this.read(source.location, source.offset, source.length) : tensorBytes(tensor);
  }

  async close(): Promise<void> {
    const handles = [...this.handles.values()];
    this.handles.clear();
    await Promise.all(handles.map(async (h) => (await h.catch(() => undefined))?.close()));
  }
}

/**
 * Writes `pieces` as `modelPath` and its data files beside it, copying `source` ranges in chunks;
 * the next chunk is read while the current one is written (two buffers), which keeps the disk busy.
 * Files are written in place: write into a fresh folder and rename it (see prune-folder.ts).
 */
export async function writeModelPieces(modelPath: string, pieces: ModelPieces, source?: ModelFileSource): Promise<void> {
  const buffers: Uint8Array[] = [];
  for (const file of pieces.dataFiles) {
    const tasks = file.pieces.flatMap((piece): DataPiece[] => {
      if (piece.kind === 'bytes') return [piece];
      if (!source) throw new Error(`Data file ${file.location} copies from "${piece.location}", but no source model was given`);
      return Array.from({ length: Math.ceil(piece.length / COPY_CHUNK) }, (_, i): DataPiece => ({
        ...piece,
        offset: piece.offset + i * COPY_CHUNK,
        length: Math.min(COPY_CHUNK, piece.length - i * COPY_CHUNK),
      }));
    });
    let reads = 0;
    const start = (i: number): Promise<Uint8Array> => {
      const task = tasks[i]!;
      if (task.kind === 'bytes') return Promise.resolve(task.bytes);
      const buffer = (buffers[reads++ % 2] ??= new Uint8Array(COPY_CHUNK));
      return source!.read(task.location, task.offset, task.length, buffer);
    };
    const out = await open(join(dirname(modelPath), file.location), 'wx');
    try {
      let next = tasks.length ? start(0) : undefined;
      for (let i = 0; next; i++) {
        const current = await next;
        next = i + 1 < tasks.length ? start(i + 1) : undefined;
        await writeAll(out, current);
      }
    } finally {
      await out.close();
    }
  }
  const out = await open(modelPath, 'wx');
  try {
    await writeAll(out, pieces.model);
  } finally {
    await out.close();
  }
}

async function writeAll(handle: FileHandle, bytes: Uint8Array): Promise<void> {
  for (let done = 0; done < bytes.byteLength; ) {
    const { bytesWritten } = await handle.write(bytes, done, Math.min(1 << 30, bytes.byteLength - done));
    done += bytesWritten;
  }
}
