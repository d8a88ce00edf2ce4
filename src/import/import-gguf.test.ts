import { mkdtemp, readdir, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { execFile } from 'node:child_process';
import { promisify } from 'node:util';
import * as ort from 'onnxruntime-node';
import { GGMLQuantizationType } from '@huggingface/gguf';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { encodeModel } from '../onnx/model-io';
import { writeFolderAtomic } from '../node/folder-io';
import { readGguf, type GgufModel } from './gguf-file';
import { encodeF16 } from '../onnx/float16';
import { importGguf } from './import-gguf';
import { buildLlamaOnnx } from './llama-onnx';
import { referenceLogits } from './llama-reference';
import { builtinBytesCopy, builtinGgufPath, loadBuiltin, rewriteGguf } from '../fixtures/builtin';

const run = promisify(execFile);

function seededTokens(n: number, seed: number, vocab: number): number[] {
  let s = seed;
  const next = () => ((s = (s * 1103515245 + 12345) >>> 0), s);
  return [1, ...Array.from({ length: n - 1 }, () => 3 + (next() % (vocab - 3)))];
}

async function onnxLogits(session: ort.InferenceSession, model: GgufModel, tokens: number[], leftPad = 0): Promise<Float32Array> {
  const c = model.config;
  const T = tokens.length + leftPad;
  const ids = [...Array(leftPad).fill(0), ...tokens];
  const feeds: Record<string, ort.Tensor> = {
    input_ids: new ort.Tensor('int64', BigInt64Array.from(ids, BigInt), [1, T]),
    attention_mask: new ort.Tensor('int64', BigInt64Array.from(ids, (_, i) => (i < leftPad ? 0n : 1n)), [1, T]),
    position_ids: new ort.Tensor('int64', BigInt64Array.from(ids, (_, i) => BigInt(Math.max(0, i - leftPad))), [1, T]),
  };
  for (let l = 0; l < c.nLayers; l++) {
    for (const kv of ['key', 'value']) feeds[`past_key_values.${l}.${kv}`] = new ort.Tensor('float32', new Float32Array(0), [1, c.nKvHeads, 0, c.headDim]);
  }
  const out = await session.run(feeds);
  return (out.logits!.data as Float32Array).subarray(leftPad * c.vocabSize);
}

function maxAbsDiff(reference: Float32Array[], flat: Float32Array, vocab: number): number {
  let max = 0;
  reference.forEach((row, t) => row.forEach((v, i) => (max = Math.max(max, Math.abs(v - flat[t * vocab + i]!)))));
  return max;
}

describe('GGUF → ONNX import', () => {
  let model: GgufModel;
  let session: ort.InferenceSession;
  beforeAll(async () => {
    model = await loadBuiltin();
    session = await ort.InferenceSession.create(encodeModel(buildLlamaOnnx(model)).model);
  });

  it.each([1, 2, 7, 33, 64])('ONNX logits equal the independent reference within 1e-4 (%i tokens)', async (n) => {
    const tokens = seededTokens(n, n * 7919, model.config.vocabSize);
    const diff = maxAbsDiff(referenceLogits(model, tokens), await onnxLogits(session, model, tokens), model.config.vocabSize);
    expect(diff).toBeLessThan(1e-4);
  });

  it('matches the reference on real text, also when left-padded in the attention mask', async () => {
    const tokens = [1, 403, 407, 261, 378, 428, 271, 300, 263, 1000 % 512];
    const reference = referenceLogits(model, tokens);
    expect(maxAbsDiff(reference, await onnxLogits(session, model, tokens), 512)).toBeLessThan(1e-4);
    expect(maxAbsDiff(reference, await onnxLogits(session, model, tokens, 5), 512)).toBeLessThan(1e-4);
  });

  it('keeps the graph in the HF Optimum layout (names, SiLU pattern, weights stored [in, out])', () => {
    const onnx = buildLlamaOnnx(model);
    const nodes = new Map(onnx.graph!.node!.map((n) => [n.name, n]));
    const gate = nodes.get('/model/layers.2/mlp/gate_proj/MatMul')!;
    expect(gate.op_type).toBe('MatMul');
    expect(gate.output).toEqual(['/model/layers.2/mlp/gate_proj/MatMul_output_0']);
    expect(nodes.get('/model/layers.2/mlp/act_fn/Sigmoid')!.input).toEqual(gate.output);
    expect(nodes.get('/model/layers.2/mlp/down_proj/MatMul')!.input![0]).toBe('/model/layers.2/mlp/Mul_output_0');
    const init = new Map(onnx.graph!.initializer!.map((t) => [t.name, t]));
    expect(gate.input![1]).toMatch(/^onnx::MatMul_\d+$/);
    expect(init.get(gate.input![1]!)!.dims).toEqual([64, 172]);
    expect(onnx.graph!.input!.map((i) => i.name).slice(0, 4)).toEqual(['input_ids', 'attention_mask', 'position_ids', 'past_key_values.0.key']);
    expect(onnx.graph!.output!.map((o) => o.name).slice(0, 3)).toEqual(['logits', 'present.0.key', 'present.0.value']);
  });

  it('imports tied-output and F16 GGUFs', async () => {
    const tied = await readGguf(rewriteGguf(model, { drop: ['output.weight'] }));
    expect(tied.config.tiedOutput).toBe(true);
    const f16 = await readGguf(rewriteGguf(model, { encode: (_, values) => ({ type: GGMLQuantizationType.F16, data: encodeF16(values) }) }));
    for (const variant of [tied, f16]) {
      const s = await ort.InferenceSession.create(encodeModel(buildLlamaOnnx(variant)).model);
      const tokens = seededTokens(12, 3, 512);
      expect(maxAbsDiff(referenceLogits(variant, tokens), await onnxLogits(s, variant, tokens), 512)).toBeLessThan(1e-4);
    }
  });

  it('writes a complete HF folder, with external data when forced, that onnxruntime-node loads from disk', async () => {
    const dir = await mkdtemp(join(tmpdir(), 'pps-import-'));
    try {
      await writeFolderAtomic(join(dir, 'm'), importGguf(model, { externalData: 'always' }));
      expect((await readdir(join(dir, 'm'))).sort()).toEqual(['config.json', 'generation_config.json', 'onnx', 'tokenizer.json', 'tokenizer_config.json']);
      expect((await readdir(join(dir, 'm', 'onnx'))).sort()).toEqual(['model.onnx', 'model.onnx_data']);
      const fromDisk = await ort.InferenceSession.create(join(dir, 'm', 'onnx', 'model.onnx'));
      const tokens = seededTokens(9, 11, 512);
      expect(maxAbsDiff(referenceLogits(model, tokens), await onnxLogits(fromDisk, model, tokens), 512)).toBeLessThan(1e-4);
    } finally {
      await rm(dir, { recursive: true, force: true });
    }
  });
});

describe('import-gguf CLI on bad input', () => {
  let dir: string;
  beforeAll(async () => {
    dir = await mkdtemp(join(tmpdir(), 'pps-cli-'));
  });
  afterAll(() => rm(dir, { recursive: true, force: true }));

  const cli = async (...args: string[]) =>
    run('npx', ['tsx', 'src/cli/main.ts', ...args]).then(
      (r) => ({ code: 0, stderr: r.stderr }),
      (e: { code: number; stderr: string }) => ({ code: e.code, stderr: e.stderr }),
    );

  it.each([
    ['not GGUF', () => new TextEncoder().encode('PK\u0003\u0004 this is a zip, not a model'), /not a GGUF file/],
    ['truncated', () => builtinBytesCopy().subarray(0, 600_000), /truncated/],
    ['unsupported architecture', async () => rewriteGguf(await loadBuiltin(), { metadata: { 'general.architecture': { value: 'gpt2', type: 8 } } }), /unsupported architecture: gpt2/],
  ] as const)('%s: clear error, non-zero exit, no output folder', async (label, make, message) => {
    const file = join(dir, `${label.replace(/ /g, '-')}.gguf`);
    await writeFile(file, await make());
    const out = join(dir, `out-${label.replace(/ /g, '-')}`);
    const result = await cli('import-gguf', file, out);
    expect(result.code).toBe(1);
    expect(result.stderr).toMatch(message);
    expect((await readdir(dir)).filter((f) => f.startsWith('out-'))).toEqual([]);
  });

  it('imports the built-in model and refuses to overwrite without --overwrite', async () => {
    const out = join(dir, 'builtin');
    expect((await cli('import-gguf', builtinGgufPath, out)).code).toBe(0);
    const again = await cli('import-gguf', builtinGgufPath, out);
    // An existing output is bad input (exit 2), as in every other command that writes.
    expect(again.code).toBe(2);
    expect(again.stderr).toMatch(/already exists/);
  });
});
