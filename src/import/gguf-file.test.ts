import { describe, expect, test } from 'vitest';
import { buildGgufHeader, gguf, GGMLQuantizationType, GGUFValueType } from '@huggingface/gguf';
import type { GGUFTypedMetadata } from '@huggingface/gguf';
import { GgufError, readGguf } from './gguf-file';
import { f16ToF32Array } from '../onnx/float16';
import { encodeBf16, encodeF16, f32ToF16Bits } from '../onnx/float16';
import { builtinBytesCopy, builtinGgufPath, loadBuiltin, rewriteGguf } from '../fixtures/builtin';

/** Deterministic bytes (xorshift) so a failure reproduces. */
function pseudoRandomBytes(n: number, seed: number): Uint8Array {
  const out = new Uint8Array(n);
  let x = seed;
  for (let i = 0; i < n; i++) {
    x ^= x << 13;
    x ^= x >>> 17;
    x ^= x << 5;
    out[i] = x & 0xff;
  }
  return out;
}

async function ggufError(bytes: Uint8Array): Promise<GgufError> {
  const err = await readGguf(bytes).then(
    () => null,
    (e: unknown) => e,
  );
  expect(err).toBeInstanceOf(GgufError);
  return err as GgufError;
}

describe('readGguf on the built-in model', () => {
  test('config and tensor table', async () => {
    const model = await loadBuiltin();
    expect(model.version).toBe(3);
    expect(model.config).toEqual({
      vocabSize: 512,
      dim: 64,
      ffnDim: 172,
      ffnDims: [172, 172, 172, 172, 172],
      nLayers: 5,
      nHeads: 8,
      nKvHeads: 4,
      headDim: 8,
      ropeDim: 8,
      ropeTheta: 10000,
      rmsEps: Math.fround(1e-5),
      contextLength: 2048,
      bosTokenId: 1,
      eosTokenId: 2,
      unkTokenId: 0,
      tiedOutput: false,
    });
    expect(model.tensors.size).toBe(48);
    const gate = model.tensorInfo('blk.0.ffn_gate.weight');
    expect(gate).toMatchObject({ typeName: 'F32', shape: [64, 172], elementCount: 64 * 172, byteLength: 4 * 64 * 172 });
    expect(model.tensorInfo('output_norm.weight').shape).toEqual([64]);
    expect(() => model.tensorInfo('nope')).toThrow(/missing tensor: nope/);
  });

  test('F32 tensors are zero-copy views with the stored values', async () => {
    const model = await loadBuiltin();
    const info = model.tensorInfo('blk.1.attn_k.weight');
    const values = model.tensorF32(info.name);
    expect(values.buffer).toBe(model.bytes.buffer);
    const view = new DataView(model.bytes.buffer, model.bytes.byteOffset);
    for (const i of [0, 1, 100, info.elementCount - 1]) {
      expect(values[i]).toBe(view.getFloat32(info.dataOffset + 4 * i, true));
    }
    expect(model.tensorRaw(info.name).byteLength).toBe(info.byteLength);
  });

  test('misaligned input bytes are copied, not misread', async () => {
    const bytes = builtinBytesCopy();
    const shifted = new Uint8Array(bytes.length + 1).subarray(1);
    shifted.set(bytes);
    const [a, b] = await Promise.all([readGguf(bytes), readGguf(shifted)]);
    for (const name of ['token_embd.weight', 'blk.4.ffn_down.weight']) {
      expect(b.tensorF32(name)).toEqual(a.tensorF32(name));
    }
  });

  test('the library agrees on the tensor table when reading the file itself', async () => {
    const [model, direct] = await Promise.all([
      loadBuiltin(),
      gguf(builtinGgufPath, { allowLocalFile: true }),
    ]);
    expect([...model.tensors.keys()]).toEqual(direct.tensorInfos.map((t) => t.name));
  });
});

describe('half precision', () => {
  test('every f16 bit pattern survives f16 → f32 → f16', () => {
    const all = Uint16Array.from({ length: 65536 }, (_, i) => i);
    const floats = f16ToF32Array(all);
    const wrong: number[] = [];
    for (let h = 0; h < 65536; h++) {
      const isNaN16 = (h & 0x7c00) === 0x7c00 && (h & 0x3ff) !== 0;
      if (isNaN16 ? !Number.isNaN(floats[h]) : f32ToF16Bits(floats[h]) !== h) wrong.push(h);
    }
    expect(wrong).toEqual([]);
    expect([floats[0x3c00], floats[0xc000], floats[0x0001], floats[0x7bff], floats[0x7c00]]).toEqual([
      1,
      -2,
      2 ** -24,
      65504,
      Infinity,
    ]);
  });

  test('f32 → f16 rounds to nearest even, with subnormals and overflow', () => {
    const cases: [number, number][] = [
      [1 + 2 ** -11, 0x3c00], // tie → even (down)
      [1 + 3 * 2 ** -11, 0x3c02], // tie → even (up)
      [1 + 2 ** -11 + 2 ** -20, 0x3c01], // just above the tie
      [65504, 0x7bff],
      [65519, 0x7bff],
      [65520, 0x7c00], // rounds to infinity
      [-1e9, 0xfc00],
      [2 ** -24, 0x0001],
      [2 ** -25, 0x0000], // tie → even zero
      [1.5 * 2 ** -25, 0x0001],
      [3 * 2 ** -25, 0x0002], // subnormal tie → even
      [2 ** -14 - 2 ** -25, 0x0400], // rounds up into the smallest normal
      [-0, 0x8000],
      [1e-30, 0],
    ];
    for (const [value, bits] of cases) expect([value, f32ToF16Bits(value)]).toEqual([value, bits]);
    expect(f32ToF16Bits(NaN) & 0x7e00).toBe(0x7e00);
  });

  test('an F16 copy of the model reads back as the rounded weights', async () => {
    const model = await loadBuiltin();
    const f16 = await readGguf(
      rewriteGguf(model, { encode: (_, v) => ({ type: GGMLQuantizationType.F16, data: encodeF16(v) }) }),
    );
    expect(f16.config).toEqual(model.config);
    for (const name of model.tensors.keys()) {
      expect(f16.tensorInfo(name).typeName).toBe('F16');
      const original = model.tensorF32(name);
      const halves = f16.tensorF32(name);
      const rounded = f16ToF32Array(new Uint16Array(encodeF16(original).buffer));
      expect(halves).toEqual(rounded);
      // half has 11 significant bits: relative error ≤ 2^-11, absolute ≤ 2^-25 near zero
      const worst = original.reduce(
        (w, x, i) => Math.max(w, Math.abs(halves[i] - x) - (Math.abs(x) * 2 ** -11 + 2 ** -25)),
        -Infinity,
      );
      expect(worst).toBeLessThanOrEqual(0);
    }
  });

  test('a BF16 copy reads back within bf16 precision', async () => {
    const model = await loadBuiltin();
    const bf16 = await readGguf(
      rewriteGguf(model, { encode: (_, v) => ({ type: GGMLQuantizationType.BF16, data: encodeBf16(v) }) }),
    );
    const original = model.tensorF32('blk.2.attn_v.weight');
    const back = bf16.tensorF32('blk.2.attn_v.weight');
    expect(bf16.tensorInfo('blk.2.attn_v.weight').typeName).toBe('BF16');
    const worst = original.reduce((w, x, i) => Math.max(w, Math.abs(back[i] - x) - Math.abs(x) * 2 ** -8), -Infinity);
    expect(worst).toBeLessThanOrEqual(0);
  });
});

describe('readGguf rejects bad files with a clear GgufError', () => {
  test('random bytes are not a GGUF file', async () => {
    for (const seed of [1, 2, 3]) {
      const err = await ggufError(pseudoRandomBytes(4096, seed));
      expect(err.message).toMatch(/^not a GGUF file: expected magic "GGUF"/);
    }
    expect((await ggufError(new Uint8Array(0))).message).toBe('not a GGUF file: the file is empty');
    expect((await ggufError(new TextEncoder().encode('PK\u0003\u0004 a zip'))).message).toMatch(/starts with 50 4b 03 04/);
  });

  test('the real file truncated anywhere is reported as truncated', async () => {
    const full = builtinBytesCopy();
    const headerEnd = 14176; // tensor data offset of the built-in file
    const cuts = [2, 4, 10, 23, 24, 100, 5000, 11400, 14000, headerEnd - 1, headerEnd, headerEnd + 100, 600_000, full.length - 1];
    // plus a sweep through the whole header, where the parser itself would read past the end
    for (let cut = 30; cut < headerEnd; cut += 211) cuts.push(cut);
    for (const cut of cuts) {
      const err = await ggufError(full.slice(0, cut));
      expect([cut, err.message]).toEqual([cut, expect.stringMatching(/^truncated file: /)]);
    }
    const last = await ggufError(full.slice(0, full.length - 1));
    expect(last.message).toBe(
      `truncated file: data of tensor blk.4.ffn_norm.weight ends at byte ${full.length} but the file has only ${full.length - 1}`,
    );
  });

  test('unsupported GGUF versions and byte order', async () => {
    const bytes = builtinBytesCopy();
    new DataView(bytes.buffer).setUint32(4, 7, true);
    expect((await ggufError(bytes)).message).toBe('unsupported GGUF version 7 (only versions 2 and 3 are supported)');
    new DataView(bytes.buffer).setUint32(4, 3, false);
    expect((await ggufError(bytes)).message).toMatch(/big-endian/);
  });

  test('architecture gpt2 (header rebuilt by @huggingface/gguf) is unsupported', async () => {
    const bytes = builtinBytesCopy();
    const parsed = await gguf(builtinGgufPath, { allowLocalFile: true, typedMetadata: true });
    const header = await buildGgufHeader(
      new Blob([bytes]),
      { ...parsed.typedMetadata, 'general.architecture': { value: 'gpt2', type: GGUFValueType.STRING } } as GGUFTypedMetadata,
      { littleEndian: true, tensorInfoByteRange: parsed.tensorInfoByteRange },
    );
    const patched = new Uint8Array(await new Blob([header, bytes.subarray(Number(parsed.tensorDataOffset))]).arrayBuffer());
    expect((await ggufError(patched)).message).toBe('unsupported architecture: gpt2 (only llama is supported)');
  });

  test('missing architecture key', async () => {
    const model = await loadBuiltin();
    const bytes = rewriteGguf(model, { metadata: { 'general.architecture': undefined } });
    expect((await ggufError(bytes)).message).toMatch(/general.architecture is missing/);
  });

  test('a quantized tensor names the tensor and its ggml type', async () => {
    const model = await loadBuiltin();
    const bytes = rewriteGguf(model, {
      encode: (name, v) =>
        name === 'blk.2.ffn_up.weight'
          ? { type: GGMLQuantizationType.Q4_K, data: new Uint8Array((v.length / 256) * 144) } // 144-byte Q4_K blocks of 256
          : { type: GGMLQuantizationType.F32, data: new Uint8Array(v.slice().buffer) },
    });
    expect((await ggufError(bytes)).message).toBe(
      'unsupported tensor type: blk.2.ffn_up.weight is Q4_K (only F32, F16 and BF16 are supported)',
    );
  });

  test('missing tensors are listed', async () => {
    const model = await loadBuiltin();
    const bytes = rewriteGguf(model, { drop: ['blk.3.ffn_up.weight', 'output_norm.weight'] });
    expect((await ggufError(bytes)).message).toBe('missing tensors: output_norm.weight, blk.3.ffn_up.weight');
  });

  test('tensor shapes must match the metadata', async () => {
    const model = await loadBuiltin();
    const bytes = rewriteGguf(model, {
      metadata: { 'llama.feed_forward_length': { value: 100, type: GGUFValueType.UINT32 } },
    });
    expect((await ggufError(bytes)).message).toBe('tensor blk.0.ffn_gate.weight has shape [64, 172], expected [64, 100]');
  });
});

test('without output.weight the LM head is tied to token_embd', async () => {
  const model = await loadBuiltin();
  const tied = await readGguf(rewriteGguf(model, { drop: ['output.weight'] }));
  expect(tied.config.tiedOutput).toBe(true);
  expect(tied.tensors.size).toBe(47);
});
