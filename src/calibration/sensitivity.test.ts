import { describe, expect, it } from 'vitest';
import { referenceLogits } from '../import/llama-reference';
import { loadBuiltin } from '../fixtures/builtin';
import { buildTokenizerFiles } from '../import/tokenizer-json';
import { loadTokenizer } from '../model/tokenizer';
import { renderPrompt } from './persona-prompt';
import { cosineSimilarityMean, middleLayerRange, questionSensitivities, selectBySensitivity, sensitivityScore, type HiddenStates } from './sensitivity';

const f = (...rows: number[][]) => rows.map((r) => Float32Array.from(r));
// Per-layer cosines of a and b: layer 0 → 0 (orthogonal), layer 1 → 1 (same direction), layer 2 → −1.
const a = f([1, 0], [1, 1], [0, 2]);
const b = f([0, 1], [3, 3], [0, -3]);

describe('sensitivity', () => {
  it('averages per-layer cosines over a half-open layer range', () => {
    expect(cosineSimilarityMean(a, b, [0, 3])).toBeCloseTo(0, 12);
    expect(cosineSimilarityMean(a, b, [1, 2])).toBeCloseTo(1, 12);
    expect(cosineSimilarityMean(a, b, [0, 2])).toBeCloseTo(0.5, 12);
    expect(cosineSimilarityMean(a, b, [2, 3])).toBeCloseTo(-1, 12);
    // cos(45°) between [1, 0] and [1, 1].
    expect(cosineSimilarityMean(f([1, 0]), f([1, 1]), [0, 1])).toBeCloseTo(Math.SQRT1_2, 7);
    // A zero vector has cosine 0.
    expect(cosineSimilarityMean(f([0, 0]), f([1, 1]), [0, 1])).toBe(0);
  });

  it('rejects ranges and shapes that do not fit', () => {
    expect(() => cosineSimilarityMean(a, b, [2, 2])).toThrow(/empty/);
    expect(() => cosineSimilarityMean(a, b, [0, 4])).toThrow(/outside/);
    expect(() => cosineSimilarityMean(a, b.slice(1), [0, 1])).toThrow(/3 and 2 layers/);
    expect(() => cosineSimilarityMean(f([1]), f([1, 2]), [0, 1])).toThrow(/sizes 1 and 2/);
  });

  it('takes the middle third of the layers, at least one', () => {
    expect(middleLayerRange(1)).toEqual([0, 1]);
    expect(middleLayerRange(2)).toEqual([0, 1]);
    expect(middleLayerRange(3)).toEqual([1, 2]);
    expect(middleLayerRange(5)).toEqual([1, 3]);
    expect(middleLayerRange(6)).toEqual([2, 4]);
    expect(middleLayerRange(30)).toEqual([10, 20]);
    expect(() => middleLayerRange(0)).toThrow(RangeError);
  });

  it('scores 1 − mean cosine over references and layers', () => {
    // References b (mean cosine 0.5 over layers 0–1) and a itself (1): 1 − 0.75.
    expect(sensitivityScore(a, [b, a], [0, 2])).toBeCloseTo(0.25, 12);
    // Default range for 3 layers is [1, 2): cosine 1 with b.
    expect(sensitivityScore(a, [b])).toBeCloseTo(0, 12);
    expect(() => sensitivityScore(a, [])).toThrow(/at least one reference/);
  });

  it('keeps the top-k questions weighted by score with mean weight 1', () => {
    const picked = selectBySensitivity([0.1, 0.4, 0.2, 0.4], 3);
    expect(picked.map((p) => p.index)).toEqual([1, 3, 2]);
    // Mean of 0.4, 0.4, 0.2 is 1/3.
    [1.2, 1.2, 0.6].forEach((w, i) => expect(picked[i].weight).toBeCloseTo(w, 12));
    expect(selectBySensitivity([0, 0], 2).map((p) => p.weight)).toEqual([1, 1]);
    expect(selectBySensitivity([0.5, -1e-9], 2).map((p) => p.weight)).toEqual([2, 0]);
    expect(selectBySensitivity([1, 2], 0)).toEqual([]);
    expect(() => selectBySensitivity([Number.NaN], 1)).toThrow(/non-finite/);
  });
});

describe('questionSensitivities', () => {
  it('scores questions on the built-in model from last-token hidden states, caching reference runs', async () => {
    const model = await loadBuiltin();
    const { tokenizerJson, tokenizerConfig } = buildTokenizerFiles(model);
    const tokenizer = loadTokenizer(tokenizerJson, tokenizerConfig as unknown as Record<string, unknown>);
    const prompts: number[][] = [];
    const runOne = (ids: number[]) => {
      const states: Float32Array[] = [];
      referenceLogits(model, ids, { capture: (l, t, { hidden }) => t === ids.length - 1 && (states[l] = hidden) });
      return states;
    };
    let calls = 0;
    const hiddenStates: HiddenStates = async (batch) => {
      calls++;
      prompts.push(...batch);
      return batch.map(runOne);
    };
    const questions = ['One day, the little dog', 'The old sailor looked at the sea and'];
    const persona = 'Tom is a brave pirate with a big ship.';
    const references = ['Lily is a shy girl who loves flowers.', 'Max is a lazy cat who sleeps all day.'];
    const cache = new Map<string, Float32Array[]>();
    const options = { persona, references, questions, format: { kind: 'base' } as const, tokenizer, hiddenStates, cache };
    const scores = await questionSensitivities(options);

    // 2 questions × (target + 2 references); the prompt is the persona prefix + story opening after BOS.
    expect(prompts).toHaveLength(6);
    expect(calls).toBe(1);
    expect(prompts[0]).toEqual(tokenizer.encode(renderPrompt({ kind: 'base' }, persona, questions[0]).text, { addBos: true }));
    // Recompute the first score from the recorded runs, persona by persona: the target's (runs 0, 1), then each reference's.
    const [target, ref1, ref2] = [prompts[0]!, prompts[2]!, prompts[4]!].map(runOne);
    expect(prompts[2]).toEqual(tokenizer.encode(renderPrompt({ kind: 'base' }, references[0]!, questions[0]).text, { addBos: true }));
    expect(scores[0]).toBeCloseTo(sensitivityScore(target, [ref1, ref2], middleLayerRange(5)), 12);
    scores.forEach((s) => expect(s).toBeGreaterThan(0));

    // A second persona reuses the cached reference runs; a persona equal to the only reference scores 0.
    prompts.length = 0;
    const same = await questionSensitivities({ ...options, persona: references[0], references: [references[0]] });
    expect(prompts).toHaveLength(2);
    same.forEach((s) => expect(Math.abs(s)).toBeLessThan(1e-12));
  });
});
