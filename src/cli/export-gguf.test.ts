/** `npm run cli -- export --format gguf`: the file, its summary on stdout, and clear refusals. */
import { execFile } from 'node:child_process';
import { mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { gguf as parseGguf } from '@huggingface/gguf';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { builtinGgufPath } from '../fixtures/builtin';

const run = promisify(execFile);
const cli = (...args: string[]) => run('npx', ['tsx', 'src/cli/main.ts', 'export', ...args]);
let dir: string;

beforeAll(async () => {
  dir = await mkdtemp(join(tmpdir(), 'pps-export-gguf-cli-'));
  // layer 1 keeps fewer channels than the others: an uneven plan
  const keep = [0, 1, 2, 3, 4].map((l) => Array.from({ length: l === 1 ? 64 : 96 }, (_, i) => i + l));
  await writeFile(join(dir, 'plan.json'), JSON.stringify({ keep }));
});
afterAll(() => rm(dir, { recursive: true, force: true }));

describe('export --format gguf', () => {
  it('writes a deci GGUF for an uneven plan, with per-layer widths, Q8_0 where rows are whole blocks and the tokenizer carried over', async () => {
    const out = join(dir, 'uneven.gguf');
    const { stdout, stderr } = await cli('--format', 'gguf', '--model', builtinGgufPath, '--plan', join(dir, 'plan.json'), '--out', out, '--gguf-type', 'q8_0');
    const summary = JSON.parse(stdout) as { arch: string; ffnDims: number[]; f16Fallbacks: string[]; bytes: number };
    expect(summary.arch).toBe('deci');
    expect(summary.ffnDims).toEqual([96, 64, 96, 96, 96]);
    expect(summary.f16Fallbacks).toEqual([]); // 96 and 64 are whole 32-value blocks
    expect(stderr).toMatch(/architecture deci/);
    const bytes = new Uint8Array(await readFile(out));
    expect(bytes.length).toBe(summary.bytes);
    const fetchBytes = (async () => new Response(bytes)) as unknown as typeof fetch;
    const parsed = await parseGguf('https://local.invalid/x.gguf', { fetch: fetchBytes, allowLocalFile: false });
    const md = parsed.metadata as Record<string, unknown>;
    expect(md['general.architecture']).toBe('deci');
    expect(md['deci.feed_forward_length']).toEqual([96, 64, 96, 96, 96]);
    expect((md['tokenizer.ggml.tokens'] as string[]).length).toBe(512);
    const types = Object.fromEntries(parsed.tensorInfos.map((t) => [t.name, t.dtype]));
    expect(types['blk.1.ffn_down.weight']).toBe(8); // Q8_0
    expect(types['blk.1.ffn_norm.weight']).toBe(0); // F32
  }, 60_000);

  it('refuses an unknown type, an existing file and a plan for another model', async () => {
    await expect(cli('--format', 'gguf', '--model', builtinGgufPath, '--out', join(dir, 'x.gguf'), '--gguf-type', 'q4_k')).rejects.toMatchObject({ code: 2, stderr: expect.stringMatching(/--gguf-type must be one of f32, f16, q8_0/) });
    const out = join(dir, 'exists.gguf');
    await writeFile(out, 'keep me');
    await expect(cli('--format', 'gguf', '--model', builtinGgufPath, '--out', out)).rejects.toMatchObject({ stderr: expect.stringMatching(/already exists/) });
    expect(await readFile(out, 'utf8')).toBe('keep me');
    await writeFile(join(dir, 'short.json'), JSON.stringify({ keep: [[0]] }));
    await expect(cli('--format', 'gguf', '--model', builtinGgufPath, '--plan', join(dir, 'short.json'), '--out', join(dir, 'y.gguf'))).rejects.toMatchObject({ stderr: expect.stringMatching(/lists 1 layers, but the model has 5/) });
  }, 60_000);
});
