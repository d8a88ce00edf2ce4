/**
 * `export --format gguf` in Node: a model folder (ONNX, Optimum or onnxruntime-genai layout) or a
 * .gguf file, optionally pruned by a keep-plan, written as one GGUF file. Tensors are converted and
 * written one at a time at their final offsets, into a temporary file renamed into place at the end,
 * so memory stays near one tensor (plus the source GGUF, which gguf-file.ts reads whole).
 */
import { open, readFile, rename, rm } from 'node:fs/promises';
import { join, resolve } from 'node:path';
import { readGguf } from '../import/gguf-file';
import { ggufLayout } from '../import/gguf-writer';
import { checkOutput } from './output-guard';
import { ModelFileSource } from './model-stream';
import { findGraphFile } from './model-folder';
import type { KeepPlan } from '../core/keep-plan';
import { ggufLlamaSource } from '../gguf/gguf-from-gguf';
import { folderGgufSource } from '../gguf/gguf-from-folder';
import { GgufExportError, planLlamaGguf, type GgufExportPlan, type GgufWeightType, type LlamaGgufSource } from '../gguf/llama-gguf';

export interface GgufFileOptions {
  /** A model folder or a .gguf file. */
  model: string;
  plan?: KeepPlan;
  out: string;
  type: GgufWeightType;
  overwrite?: boolean;
  onTensor?: (done: number, total: number) => void;
  /** tokenizer.ggml.pre for a byte-level BPE tokenizer, instead of the name read from tokenizer.json. */
  pre?: string;
}

export interface GgufFileResult {
  arch: GgufExportPlan['arch'];
  ffnDims: number[];
  tiedOutput: boolean;
  f16Fallbacks: string[];
  bytes: number;
}

/** Writes `plan` to `path` tensor by tensor (the file must not exist yet). */
export async function writeGgufFile(plan: GgufExportPlan, path: string, onTensor?: (done: number, total: number) => void): Promise<number> {
  const layout = ggufLayout(plan.metadata, plan.tensors);
  const handle = await open(path, 'wx');
  try {
    await handle.write(layout.header, 0, layout.header.length, 0);
    // the next tensor is read and converted while the previous one is written (at most two in memory)
    let writing: Promise<unknown> = Promise.resolve();
    for (const [i, t] of plan.tensors.entries()) {
      const data = await t.encode();
      await writing;
      writing = handle.write(data, 0, data.length, layout.offsets[i]!).then(() => onTensor?.(i + 1, plan.tensors.length));
    }
    await writing;
    // the last tensor ends the file; padding gaps before it are holes that read as zeros
    await handle.truncate(layout.size);
  } finally {
    await handle.close();
  }
  return layout.size;
}

async function openSource({ model, plan, pre }: GgufFileOptions): Promise<{ source: LlamaGgufSource; close: () => Promise<void> }> {
  if (model.toLowerCase().endsWith('.gguf')) {
    const bytes = await readFile(model);
    const gguf = await readGguf(new Uint8Array(bytes.buffer, bytes.byteOffset, bytes.byteLength));
    return { source: ggufLlamaSource(gguf, plan), close: async () => {} };
  }
  const graph = await ModelFileSource.open(join(model, await findGraphFile(model)));
  const readJson = async (name: string) => {
    const path = join(model, name);
    try {
      return JSON.parse(await readFile(path, 'utf8')) as Record<string, unknown>;
    } catch (error) {
      if ((error as NodeJS.ErrnoException).code === 'ENOENT') return undefined;
      throw new GgufExportError(`${path}: ${(error as Error).message}`);
    }
  };
  try {
    return { source: await folderGgufSource(graph.model, (t) => graph.tensorData(t), readJson, plan, { pre }), close: () => graph.close() };
  } catch (error) {
    await graph.close();
    throw error;
  }
}

export async function exportGgufFile(options: GgufFileOptions): Promise<GgufFileResult> {
  const target = resolve(options.out);
  await checkOutput(options.out, { overwrite: options.overwrite, sources: [options.model], kind: 'file' });
  const { source, close } = await openSource(options);
  const temp = `${target}.partial-${process.pid}`;
  try {
    const plan = planLlamaGguf(source, options.type);
    await rm(temp, { force: true });
    const bytes = await writeGgufFile(plan, temp, options.onTensor);
    await rename(temp, target);
    return { arch: plan.arch, ffnDims: source.shape.ffnDims, tiedOutput: source.shape.tiedOutput, f16Fallbacks: plan.f16Fallbacks, bytes };
  } catch (error) {
    await rm(temp, { force: true });
    throw error;
  } finally {
    await close();
  }
}
