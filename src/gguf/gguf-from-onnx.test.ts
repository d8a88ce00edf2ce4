/**
 * ONNX → GGUF tensor mapping on the fixture layouts (Optimum and onnxruntime-genai: packed QKV,
 * SkipSimplifiedLayerNormalization, zero-padded heads, int4 MatMulNBits, and the model builder's folder
 * without config.json, whose shape comes from genai_config.json): an F32 export holds exactly
 * the weights each graph computes with, which every fixture records as its reference GGUF.
 */
import { mkdtemp, readdir, readFile, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join, relative, sep } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { buildFixtureSet, type FixtureName, type FixtureSet } from '../fixtures/fixtures';
import { readGguf } from '../import/gguf-file';
import { unpermuteRopeRows } from '../import/llama-onnx';
import { exportGgufFile } from '../node/gguf-export';
import { ggufFromFolderFiles } from './gguf-from-folder';
import { permuteRopeRows } from './gguf-from-onnx';

const NAMES: FixtureName[] = ['optimum-fp32', 'optimum-fp16', 'genai-fp32', 'genai-fp16', 'genai-int4', 'genai-builder'];
let set: FixtureSet;
let out: string;

beforeAll(async () => {
  set = await buildFixtureSet(NAMES);
  out = await mkdtemp(join(tmpdir(), 'pps-gguf-map-'));
}, 120_000);

afterAll(async () => {
  await set?.remove();
  await rm(out, { recursive: true, force: true });
});

describe('ONNX → GGUF tensors', () => {
  it.each(NAMES)('%s: an F32 export holds the weights the graph computes with', async (name) => {
    const fixture = set.fixtures[name];
    const path = join(out, `${name}.gguf`);
    const result = await exportGgufFile({ model: fixture.dir, out: path, type: 'f32' });
    expect(result.arch).toBe('llama');
    const exported = await readGguf(new Uint8Array(await readFile(path)));
    const reference = await readGguf(new Uint8Array(await readFile(fixture.referenceGguf)));
    // fixtures write output.weight even when it equals the embedding; the export then ties it
    const embedding = reference.tensorF32('token_embd.weight');
    const tied = reference.tensorF32('output.weight').every((v, i) => v === embedding[i]);
    expect(exported.config).toEqual({ ...reference.config, contextLength: exported.config.contextLength, tiedOutput: tied });
    for (const t of reference.tensors.keys()) {
      const a = exported.tensorF32(t === 'output.weight' && tied ? 'token_embd.weight' : t);
      const b = reference.tensorF32(t);
      // a plain loop: deep equality of large typed arrays is slow
      expect(a.length, t).toBe(b.length);
      expect(a.findIndex((v, i) => v !== b[i]), `first differing value of ${t}`).toBe(-1);
    }
    for (const key of ['tokenizer.ggml.tokens', 'tokenizer.ggml.token_type', 'tokenizer.ggml.bos_token_id', 'tokenizer.ggml.eos_token_id']) {
      expect(exported.metadata[key], key).toEqual(reference.metadata[key]);
    }
  }, 60_000);

  it('the studio’s in-memory conversion of a folder writes the same bytes as the CLI', async () => {
    const fixture = set.fixtures['genai-int4'];
    const names = (await readdir(fixture.dir, { recursive: true, withFileTypes: true })).filter((e) => e.isFile());
    const files = await Promise.all(names.map(async (e) => ({ path: relative(fixture.dir, join(e.parentPath, e.name)).split(sep).join('/'), data: new Uint8Array(await readFile(join(e.parentPath, e.name))) })));
    const path = join(out, 'cli-q8.gguf');
    await exportGgufFile({ model: fixture.dir, out: path, type: 'q8_0' });
    const progress: number[] = [];
    const inMemory = await ggufFromFolderFiles(files, 'q8_0', (done) => progress.push(done));
    expect(inMemory.arch).toBe('llama');
    expect(Buffer.from(inMemory.bytes).equals(await readFile(path))).toBe(true);
    expect(progress.at(-1)).toBe(progress.length);
  }, 60_000);

  it('permuteRopeRows inverts the importer’s unpermuteRopeRows', () => {
    const heads = 3;
    const headDim = 8;
    const inDim = 5;
    const rows = Float32Array.from({ length: heads * headDim * inDim }, (_, i) => i);
    expect(permuteRopeRows(unpermuteRopeRows(rows, heads, headDim, inDim), heads, headDim, inDim)).toEqual(rows);
    // head 0, GGUF row 1 is HF row headDim/2 (the first dim of the second half)
    expect(Array.from(permuteRopeRows(rows, heads, headDim, inDim).subarray(inDim, 2 * inDim))).toEqual(Array.from(rows.subarray(4 * inDim, 5 * inDim)));
  });
});
