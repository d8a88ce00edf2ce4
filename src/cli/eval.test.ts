import { execFile } from 'node:child_process';
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { GgufModel } from '../import/gguf-file';
import { importGguf } from '../import/import-gguf';
import { referenceLogits } from '../import/llama-reference';
import { loadBuiltin } from '../fixtures/builtin';
import { buildTokenizerFiles } from '../import/tokenizer-json';
import { loadTokenizer } from '../model/tokenizer';
import { writeFolderAtomic } from '../node/folder-io';
import { exportPrunedFolder } from '../node/prune-folder';
import { keepMasks } from '../core/keep-plan';

const run = promisify(execFile);
const cli = (...args: string[]) => run('npx', ['tsx', 'src/cli/main.ts', 'eval', ...args]);

const TEXTS = ['Once upon a time, there was a little girl named Lily.', 'The big dog barked at the red ball, and the cat ran away. "Stop!" said Tom.'];
let dir: string;
let gguf: GgufModel;
beforeAll(async () => {
  dir = await mkdtemp(join(tmpdir(), 'pps-eval-cli-'));
  gguf = await loadBuiltin();
  await writeFolderAtomic(join(dir, 'model'), importGguf(gguf));
  await writeFile(join(dir, 'texts.jsonl'), TEXTS.map((text) => JSON.stringify({ text })).join('\n') + '\n');
});
afterAll(() => rm(dir, { recursive: true, force: true }));

/** Pooled NLL from the reference forward pass: BOS + text, every token after BOS predicted, log-softmax in float64. */
function expected(masks?: Uint8Array[]) {
  const { tokenizerJson, tokenizerConfig } = buildTokenizerFiles(gguf);
  const tokenizer = loadTokenizer(tokenizerJson, tokenizerConfig as unknown as Record<string, unknown>);
  let sum = 0;
  let tokens = 0;
  for (const text of TEXTS) {
    const ids = [gguf.config.bosTokenId, ...tokenizer.encode(text)];
    referenceLogits(gguf, ids, { ffnMask: masks }).forEach((row, t) => {
      if (t + 1 >= ids.length) return;
      const max = Math.max(...row);
      const logSum = Math.log(row.reduce((acc, v) => acc + Math.exp(v - max), 0)) + max;
      sum += logSum - row[ids[t + 1]!]!;
      tokens++;
    });
  }
  return { meanNll: sum / tokens, tokens };
}

describe('npm run cli -- eval', () => {
  it('prints the NLL per predicted token and the perplexity, equal to the reference forward pass', async () => {
    const { stdout } = await cli('--model', join(dir, 'model'), '--texts', join(dir, 'texts.jsonl'));
    const result = JSON.parse(stdout) as { meanNll: number; perplexity: number; tokens: number };
    const ref = expected();
    expect(result.tokens).toBe(ref.tokens);
    expect(Math.abs(result.meanNll - ref.meanNll)).toBeLessThan(1e-5);
    expect(result.perplexity).toBeCloseTo(Math.exp(result.meanNll), 10);

    // A pruned folder: its own numbers, equal to the reference with those channels masked.
    const keep = Array.from({ length: 5 }, (_, l) => Array.from({ length: 172 }, (_, c) => c).filter((c) => (c + l) % 3 !== 0));
    await exportPrunedFolder({ modelDir: join(dir, 'model'), plan: { keep }, outDir: join(dir, 'pruned') });
    const pruned = JSON.parse((await cli('--model', join(dir, 'pruned'), '--texts', join(dir, 'texts.jsonl'))).stdout) as typeof result;
    const masked = expected(keepMasks({ keep }, Array(5).fill(172)));
    expect(Math.abs(pruned.meanNll - masked.meanNll)).toBeLessThan(1e-5);
    expect(pruned.meanNll).toBeGreaterThan(result.meanNll);
  });

  it('rejects a texts file with a bad line, and a missing one', async () => {
    await writeFile(join(dir, 'bad.jsonl'), '{"text": "One day."}\n[1, 2]\n');
    const fail = (...args: string[]) => cli(...args).then(() => ({ code: 0, stderr: '' }), (e: { code: number; stderr: string }) => e);
    const [bad, missing] = await Promise.all([
      fail('--model', join(dir, 'model'), '--texts', join(dir, 'bad.jsonl')),
      fail('--model', join(dir, 'model'), '--texts', join(dir, 'none.jsonl')),
    ]);
    expect(bad.code).toBe(2);
    expect(bad.stderr).toContain(`${join(dir, 'bad.jsonl')}:2: expected an object with a string "text"`);
    expect(missing.code).toBe(2);
    expect(missing.stderr).toContain(`${join(dir, 'none.jsonl')} does not exist`);
  });
});
