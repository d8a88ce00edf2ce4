/** Node-only helpers for the src/import tests: the built-in model and rewritten variants of it. */
import { readFileSync } from 'node:fs';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { GGMLQuantizationType } from '@huggingface/gguf';
import type { GGUFTypedMetadata } from '@huggingface/gguf';
import { readGguf } from './gguf-file';
import type { GgufModel } from './gguf-file';
import { encodeF32, writeGguf } from './gguf-writer';
import type { GgufWriterTensor } from './gguf-writer';

const repoRoot = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '../..');

export const builtinGgufPath =
  process.env.PPS_BUILTIN_GGUF ?? path.resolve(repoRoot, '../shared/models/stories260K/stories260K.gguf');

let builtinBytes: Uint8Array<ArrayBuffer> | undefined;

/** A fresh copy each call, so tests may patch it. */
export function builtinBytesCopy(): Uint8Array<ArrayBuffer> {
  builtinBytes ??= new Uint8Array(readFileSync(builtinGgufPath));
  return builtinBytes.slice();
}

export function loadBuiltin(): Promise<GgufModel> {
  return readGguf(builtinBytesCopy());
}

export interface Rewrite {
  /** Metadata entries to add or replace (undefined removes the key). */
  metadata?: Record<string, GGUFTypedMetadata[string] | undefined>;
  /** Tensors to leave out. */
  drop?: string[];
  /** Re-encodes (and may reshape) a tensor; the default keeps it as F32. */
  encode?: (name: string, values: Float32Array, shape: number[]) => Omit<GgufWriterTensor, 'name' | 'shape'> & { shape?: number[] };
}

/** Writes `model` back out as a GGUF v3 file with the given changes. */
export function rewriteGguf(model: GgufModel, change: Rewrite = {}): Uint8Array {
  const metadata = { ...model.typedMetadata } as Record<string, GGUFTypedMetadata[string] | undefined>;
  for (const [key, entry] of Object.entries(change.metadata ?? {})) {
    if (entry === undefined) delete metadata[key];
    else metadata[key] = entry;
  }
  const tensors = [...model.tensors.values()]
    .filter((t) => !change.drop?.includes(t.name))
    .map((t): GgufWriterTensor => {
      const values = model.tensorF32(t.name);
      const encoded = change.encode?.(t.name, values, t.shape) ?? {
        type: GGMLQuantizationType.F32,
        data: encodeF32(values),
      };
      return { name: t.name, shape: encoded.shape ?? t.shape, type: encoded.type, data: encoded.data };
    });
  return writeGguf(metadata as GGUFTypedMetadata, tensors);
}
