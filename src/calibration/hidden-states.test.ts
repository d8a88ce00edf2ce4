import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { buildFixtureSet, type FixtureSet } from '../fixtures/fixtures';
import { importGguf } from '../import/import-gguf';
import { loadBuiltin } from '../fixtures/builtin';
import { writeFolderAtomic } from '../node/folder-io';
import { NodePipelineRuntime } from '../node/pipeline-runtime';
import { sharedPrefix } from './hidden-states';

let dir: string;
let set: FixtureSet;

beforeAll(async () => {
  dir = await mkdtemp(join(tmpdir(), 'pps-hidden-'));
  await writeFolderAtomic(join(dir, 'model'), importGguf(await loadBuiltin()));
  // onnxruntime-genai graphs: GroupQueryAttention continues the shared prefix's cache.
  set = await buildFixtureSet(['genai-fp32', 'genai-fp16']);
});

afterAll(async () => {
  await set?.remove();
  await rm(dir, { recursive: true, force: true });
});

describe('lastTokenHiddenStates', () => {
  const cases = [
    { name: 'built-in (Optimum layout)', open: () => NodePipelineRuntime.open(join(dir, 'model')), tolerance: 1e-5 },
    { name: 'genai fp32', open: () => NodePipelineRuntime.open(set.fixtures['genai-fp32'].dir, { modelFile: set.fixtures['genai-fp32'].modelFile }), tolerance: 1e-5 },
    // fp16 activations: the cached prefix and a whole run round differently.
    { name: 'genai fp16', open: () => NodePipelineRuntime.open(set.fixtures['genai-fp16'].dir, { modelFile: set.fixtures['genai-fp16'].modelFile }), tolerance: 1e-2 },
  ];
  it.each(cases)('$name: each prompt of a batch gets the states it has when run alone', async ({ open, tolerance }) => {
    const runtime = await open();
    try {
      // A shared prefix (run once, its cache continued), rests of equal and of different lengths, and a prompt that is the prefix plus little.
      const persona = 'Tom is a brave pirate with a big ship.\n\n';
      const prompts = ['Once upon a time, there was a little girl', 'The cat', 'The dog', 'Tom had a big red ball and he', ''].map((t) => runtime.tokenizer.encode(persona + t, { addBos: true }));
      expect(new Set(prompts.map((p) => p.length)).size).toBeLessThan(prompts.length);
      expect(sharedPrefix(prompts)).toBeGreaterThan(5);
      const batched = await runtime.hiddenStates(prompts);
      expect(batched).toHaveLength(prompts.length);
      for (const [i, ids] of prompts.entries()) {
        const [alone] = await runtime.hiddenStates([ids]);
        expect(batched[i]).toHaveLength(runtime.config.num_hidden_layers);
        batched[i]!.forEach((layer, l) => {
          expect(layer).toHaveLength(runtime.config.hidden_size);
          const scale = Math.max(...alone![l]!.map(Math.abs));
          layer.forEach((v, c) => expect(Math.abs(v - alone![l]![c]!)).toBeLessThan(tolerance * scale));
        });
      }
      // Different prompts end in different states (the rows are not mixed up).
      expect(batched[0]![2]![0]).not.toBe(batched[1]![2]![0]);
    } finally {
      await runtime.dispose();
    }
  });
});
