import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { CliUsageError } from './args';
import { quantizeRequest } from './quantize-option';

let dir: string;
beforeAll(async () => {
  dir = await mkdtemp(join(tmpdir(), 'pps-quantize-option-'));
  await writeFile(join(dir, 'texts.jsonl'), '{"text": "ab"}\n{"text": "c"}\n');
});
afterAll(() => rm(dir, { recursive: true, force: true }));

/** A stand-in tokenizer: BOS 1, then one id per character. */
const tokenizer = { encode: (t: string, o?: { addBos?: boolean }) => [...(o?.addBos ? [1] : []), ...[...t].map((c) => c.charCodeAt(0))], decode: () => '', addsBos: true, bosTokenId: 1 };

describe('--quantize options', () => {
  it('int4 with held-out texts tokenized BOS first, block size and zero points as given', async () => {
    const make = await quantizeRequest({ quantize: 'int4', 'block-size': '64', 'zero-points': true, texts: join(dir, 'texts.jsonl') });
    expect(make!(tokenizer)).toEqual({ type: 'int4', blockSize: 64, zeroPoints: true, heldOut: { sequences: [[1, 97, 98], [1, 99]], source: `2 texts of ${join(dir, 'texts.jsonl')}` } });
    expect(await quantizeRequest({})).toBeUndefined();
  });

  it.each([
    [{ quantize: 'int8' }, 'unknown --quantize "int8" (int4 is supported)'],
    [{ texts: 'x.jsonl' }, '--texts is an option of --quantize int4'],
    [{ quantize: 'int4', 'block-size': '24' }, '--block-size must be a power of two >= 16, got 24'],
    [{ quantize: 'int4', 'block-size': '8' }, '--block-size must be an integer >= 16, got "8"'],
    [{ quantize: 'int4', texts: '/nowhere/texts.jsonl' }, '/nowhere/texts.jsonl does not exist'],
  ])('refuses %o', async (values, message) => {
    const error = await quantizeRequest(values).catch((e: unknown) => e);
    expect(error).toBeInstanceOf(CliUsageError);
    expect((error as Error).message).toBe(message);
  });
});
