import { execFile } from 'node:child_process';
import { mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { promisify } from 'node:util';
import * as ort from 'onnxruntime-node';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { CALIBRATION_TEST_TEXTS } from '../calibration/engine-test-texts';
import { buildLlamaOnnx } from '../import/llama-onnx';
import { importGguf } from '../import/import-gguf';
import { loadBuiltin } from '../fixtures/builtin';
import { valueInfo } from '../onnx/builders';
import { encodeModel } from '../onnx/model-io';
import { DataType } from '../onnx/proto';
import { loadTokenizer } from '../model/tokenizer';
import { writeFolderAtomic } from '../node/folder-io';

const run = promisify(execFile);
const cli = (...args: string[]) => run('npx', ['tsx', 'src/cli/main.ts', 'stats', ...args]);

let dir: string;

beforeAll(async () => {
  dir = await mkdtemp(join(tmpdir(), 'pps-stats-'));
  await writeFolderAtomic(join(dir, 'model'), importGguf(await loadBuiltin()));
  await writeFile(join(dir, 'texts.jsonl'), CALIBRATION_TEST_TEXTS.map((text) => JSON.stringify({ text })).join('\n') + '\n');
});

afterAll(() => rm(dir, { recursive: true, force: true }));

/**
 * Independent of the engine and of src/onnx/instrument.ts: the importer's graph with the FFN products
 * (`/model/layers.{l}/mlp/Mul_output_0`, the down_proj inputs by construction) added as outputs by name,
 * each text run alone, sums in plain JS.
 */
async function expectedStats() {
  const gguf = await loadBuiltin();
  const { nLayers, ffnDim, nKvHeads, headDim } = gguf.config;
  const graph = buildLlamaOnnx(gguf);
  const names = Array.from({ length: nLayers }, (_, l) => `/model/layers.${l}/mlp/Mul_output_0`);
  graph.graph!.output!.push(...names.map((name) => valueInfo(name, DataType.FLOAT, ['batch', 'sequence', ffnDim])));
  const session = await ort.InferenceSession.create(encodeModel(graph).model);
  const json = (file: string) => readFile(join(dir, 'model', file), 'utf8').then((text) => JSON.parse(text) as Record<string, unknown>);
  const tokenizer = loadTokenizer(await json('tokenizer.json'), await json('tokenizer_config.json'));
  const layers = names.map(() => ({ sumSq: new Float64Array(ffnDim), sum: new Float64Array(ffnDim), weight: 0 }));
  for (const text of CALIBRATION_TEST_TEXTS) {
    const ids = [gguf.config.bosTokenId, ...tokenizer.encode(text)];
    const T = ids.length;
    const feeds: Record<string, ort.Tensor> = {
      input_ids: new ort.Tensor('int64', BigInt64Array.from(ids, BigInt), [1, T]),
      attention_mask: new ort.Tensor('int64', new BigInt64Array(T).fill(1n), [1, T]),
      position_ids: new ort.Tensor('int64', BigInt64Array.from(ids, (_, i) => BigInt(i)), [1, T]),
    };
    for (let l = 0; l < nLayers; l++) {
      for (const kv of ['key', 'value']) feeds[`past_key_values.${l}.${kv}`] = new ort.Tensor('float32', new Float32Array(0), [1, nKvHeads, 0, headDim]);
    }
    const out = await session.run(feeds, names);
    names.forEach((name, l) => {
      const a = out[name]!.data as Float32Array;
      const s = layers[l]!;
      s.weight += T;
      for (let i = 0; i < a.length; i++) {
        s.sumSq[i % ffnDim] += a[i]! * a[i]!;
        s.sum[i % ffnDim] += a[i]!;
      }
    });
  }
  await session.release();
  return layers;
}

describe('npm run cli -- stats', () => {
  it('writes the down_proj input statistics of every layer, equal to an independent computation', async () => {
    const out = join(dir, 'stats.json');
    const { stdout } = await cli('--model', join(dir, 'model'), '--texts', join(dir, 'texts.jsonl'), '--out', out, '--batch-size', '3');
    const summary = JSON.parse(stdout) as { layers: number; texts: number; tokens: number };
    const written = JSON.parse(await readFile(out, 'utf8')) as { layers: { sumSq: number[]; sum: number[]; weight: number }[] };
    const expected = await expectedStats();
    expect(summary).toMatchObject({ layers: 5, texts: CALIBRATION_TEST_TEXTS.length });
    expect(written.layers).toHaveLength(5);
    written.layers.forEach((layer, l) => {
      const e = expected[l]!;
      expect(layer.weight).toBe(e.weight);
      expect(layer.sumSq).toHaveLength(172);
      layer.sumSq.forEach((v, c) => expect(Math.abs(v - e.sumSq[c]!)).toBeLessThanOrEqual(1e-5 * e.sumSq[c]!));
      // Σa may cancel to near 0: compare it on the scale of Σa² (Cauchy-Schwarz: |Σa| ≤ sqrt(T Σa²)).
      layer.sum.forEach((v, c) => expect(Math.abs(v - e.sum[c]!)).toBeLessThanOrEqual(1e-5 * Math.sqrt(e.weight * e.sumSq[c]!)));
    });
    expect(summary.tokens).toBe(expected[0]!.weight);
  });

  it('names the line of a bad texts file and exits non-zero', async () => {
    const bad = join(dir, 'bad.jsonl');
    await writeFile(bad, '{"text": "One day."}\n{"words": "no text"}\n');
    const failure = await cli('--model', join(dir, 'model'), '--texts', bad, '--out', join(dir, 'bad.json')).then(
      () => undefined,
      (error: { code: number; stderr: string }) => error,
    );
    expect(failure?.code).toBe(2);
    expect(failure?.stderr).toContain(`${bad}:2: expected an object with a string "text"`);
  });
});
