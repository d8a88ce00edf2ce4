import { mkdir, mkdtemp, rm, symlink, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { checkOutput, looksLikeOurOutput, OutputPathError, realPathOf } from './output-guard';

let dir: string;
beforeAll(async () => {
  dir = await mkdtemp(join(tmpdir(), 'pps-guard-'));
  await mkdir(join(dir, 'model', 'onnx'), { recursive: true });
  await writeFile(join(dir, 'model', 'config.json'), '{}');
  await writeFile(join(dir, 'model', 'onnx', 'model.onnx'), '');
  await symlink(join(dir, 'model'), join(dir, 'link'));
  await mkdir(join(dir, 'notes'));
  await writeFile(join(dir, 'notes', 'thesis.txt'), 'years of work');
  await mkdir(join(dir, 'empty'));
  await mkdir(join(dir, 'genai'));
  await writeFile(join(dir, 'genai', 'genai_config.json'), '{}');
  await mkdir(join(dir, 'graph-only', 'onnx'), { recursive: true });
  await writeFile(join(dir, 'graph-only', 'onnx', 'model.onnx'), '');
  await writeFile(join(dir, 'model.gguf'), '');
  await writeFile(join(dir, 'stats.json'), '{}');
});
afterAll(() => rm(dir, { recursive: true, force: true }));

const refused = (out: string, options: Parameters<typeof checkOutput>[1]) => checkOutput(out, options).then(() => '', (e: Error) => (e instanceof OutputPathError ? e.message : `not an OutputPathError: ${e.message}`));

describe('realPathOf', () => {
  it('resolves links in the existing part of a path that does not exist yet', async () => {
    expect(await realPathOf(join(dir, 'link', 'new', 'deeper'))).toBe(join(dir, 'model', 'new', 'deeper'));
    expect(await realPathOf(join(dir, 'link'))).toBe(join(dir, 'model'));
  });
});

describe('checkOutput', () => {
  const sources = () => [join(dir, 'link')];
  it('refuses the model folder reached through a link, a folder inside it, and a folder around it', async () => {
    expect(await refused(join(dir, 'model'), { overwrite: true, sources: sources() })).toBe(`--out ${join(dir, 'model')} is the model itself, ${join(dir, 'link')} (really ${join(dir, 'model')}); choose another folder`);
    expect(await refused(join(dir, 'link'), { overwrite: true, sources: [join(dir, 'model')] })).toContain('is the model itself');
    expect(await refused(join(dir, 'model', 'pruned'), { sources: sources() })).toBe(`--out ${join(dir, 'model', 'pruned')} lies inside the model folder ${join(dir, 'link')} (really ${join(dir, 'model')}); choose a folder outside it`);
    expect(await refused(dir, { overwrite: true, sources: sources() })).toContain(`--out ${dir} contains the model ${join(dir, 'link')}`);
  });

  it('refuses an output that is or contains a source file (a .gguf)', async () => {
    expect(await refused(join(dir, 'model.gguf'), { overwrite: true, sources: [join(dir, 'model.gguf')], option: 'output folder' })).toContain('output folder');
    expect(await refused(dir, { overwrite: true, sources: [join(dir, 'model.gguf')] })).toContain('contains the model');
    expect(await refused(join(dir, 'model.gguf', 'x'), { sources: [join(dir, 'model.gguf')] })).toContain('lies inside');
  });

  it('replaces an existing folder only with overwrite, and only an empty one or one of ours', async () => {
    expect(await refused(join(dir, 'genai'), {})).toBe(`${join(dir, 'genai')} already exists; choose another --out or pass --overwrite`);
    expect(await refused(join(dir, 'notes'), { overwrite: true })).toBe(
      `refusing to replace ${join(dir, 'notes')}: it is not empty and does not look like a model folder (no config.json, genai_config.json, pruning.json or ONNX graph in it); remove it yourself or choose another --out`,
    );
    for (const ok of ['empty', 'genai', 'graph-only', 'new']) expect(await refused(join(dir, ok), { overwrite: true, sources: sources() })).toBe('');
    expect(await refused(join(dir, 'stats.json'), { overwrite: true })).toContain('is a file, not a folder');
  });

  it('checks a file output: existing only with overwrite, never a folder', async () => {
    expect(await refused(join(dir, 'stats.json'), { kind: 'file' })).toContain('already exists');
    expect(await refused(join(dir, 'stats.json'), { kind: 'file', overwrite: true })).toBe('');
    expect(await refused(join(dir, 'notes'), { kind: 'file', overwrite: true })).toContain('is a folder; name a file');
    expect(await refused(join(dir, 'link', 'stats.json'), { kind: 'file', sources: [join(dir, 'model')] })).toContain('lies inside the model folder');
  });

  it('tells our outputs from other folders', async () => {
    expect(await looksLikeOurOutput(join(dir, 'notes'))).toBe(false);
    expect(await looksLikeOurOutput(join(dir, 'empty'))).toBe(true);
    expect(await looksLikeOurOutput(join(dir, 'graph-only'))).toBe(true);
  });
});
