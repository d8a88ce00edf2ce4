import { describe, expect, it } from 'vitest';
import { referenceGreedy } from '../import/llama-reference';
import { loadBuiltin } from '../fixtures/builtin';
import { buildTokenizerFiles } from '../import/tokenizer-json';
import { loadTokenizer } from '../model/tokenizer';
import { buildCalibrationSet, buildGenericCalibrationSet, DEFAULT_SYNTHESIS, type CalibrationTokenizer, type Synthesize } from './calibration-set';
import { personaSystemPrompt, promptFormat, renderPrompt } from './persona-prompt';

/** One id per character (BOS = 1 when asked), so ids decode back to the exact text. */
const charTokenizer = (addsBos: boolean): CalibrationTokenizer => ({
  addsBos,
  encode: (text, { addBos = false } = {}) => [...(addBos ? [1] : []), ...[...text].map((c) => c.codePointAt(0)!)],
});
const decode = (ids: number[]) => String.fromCodePoint(...ids);

const CHATML =
  "{% for message in messages %}{{'<|im_start|>' + message['role'] + '\n' + message['content'] + '<|im_end|>\n'}}{% endfor %}{% if add_generation_prompt %}{{ '<|im_start|>assistant\n' }}{% endif %}";
const chat = promptFormat({ chat_template: CHATML });
const questions = Array.from({ length: 12 }, (_, i) => `Question ${i}?`);
const persona = 'A stern knight.';

/** Answers "<seed>!" so each sample shows which seed it was generated with; records every call. */
function fakeSynthesis(empty: (call: number) => boolean = () => false) {
  const calls: { promptIds: number[]; seed: number; temperature: number }[] = [];
  const synthesize: Synthesize = async (promptIds, settings) => {
    calls.push({ promptIds, seed: settings.seed, temperature: settings.temperature });
    return empty(calls.length - 1) ? [] : [...`${settings.seed}!`].map((c) => c.codePointAt(0)!);
  };
  return { calls, synthesize };
}

describe('buildCalibrationSet', () => {
  it('answers seeded random questions under the persona prompt, counting only answer tokens', async () => {
    const { calls, synthesize } = fakeSynthesis();
    const set = await buildCalibrationSet({ persona, questions, tokenizer: charTokenizer(false), format: chat, synthesize, samples: 4, seed: 7 });
    expect(set.samples).toHaveLength(4);
    expect(set.sampling).toEqual(DEFAULT_SYNTHESIS);
    set.samples.forEach((s, n) => {
      const { questionIndex, prompt } = s.meta;
      expect(prompt).toBe(questions[questionIndex!]);
      const rendered = renderPrompt(chat, persona, prompt).text;
      expect(rendered).toContain(personaSystemPrompt(persona));
      expect(decode(s.ids)).toBe(`${rendered}${7 + n}!`);
      expect(calls[n].promptIds).toEqual(s.ids.slice(0, rendered.length));
      expect([...s.weights]).toEqual([...Array(rendered.length).fill(0), ...Array(`${7 + n}!`.length).fill(1)]);
      expect(s.meta).toMatchObject({ kind: 'persona-answer', sampleWeight: 1, promptTokens: rendered.length, sampling: { ...DEFAULT_SYNTHESIS, seed: 7 + n } });
    });
    const picked = set.samples.map((s) => s.meta.questionIndex);
    expect(new Set(picked).size).toBe(4);
    // The same seed picks the same questions; another seed (almost surely) others.
    const again = await buildCalibrationSet({ persona, questions, tokenizer: charTokenizer(false), format: chat, synthesize, samples: 4, seed: 7 });
    expect(again.samples.map((s) => s.meta.questionIndex)).toEqual(picked);
    const other = await buildCalibrationSet({ persona, questions, tokenizer: charTokenizer(false), format: chat, synthesize, samples: 4, seed: 8 });
    expect(other.samples.map((s) => s.meta.questionIndex)).not.toEqual(picked);
  });

  it('keeps the most persona-sensitive questions, weighting answer tokens by normalised score', async () => {
    const { synthesize } = fakeSynthesis();
    const sensitivity = questions.map((_, i) => (i === 5 ? 0.6 : i === 2 ? 0.3 : 0.01));
    const set = await buildCalibrationSet({
      persona,
      questions,
      tokenizer: charTokenizer(false),
      format: chat,
      synthesize,
      sensitivity,
      samples: 2,
      seed: 0,
      sampling: { maxNewTokens: 4, temperature: 0 },
    });
    // Mean of 0.6 and 0.3 is 0.45: weights 4/3 and 2/3.
    expect(set.samples.map((s) => s.meta.questionIndex)).toEqual([5, 2]);
    expect(set.samples.map((s) => s.meta.sensitivity)).toEqual([0.6, 0.3]);
    const [first, second] = set.samples;
    expect(first.meta.sampleWeight).toBeCloseTo(4 / 3, 12);
    expect(second.meta.sampleWeight).toBeCloseTo(2 / 3, 12);
    expect([...first.weights.filter((w) => w !== 0)]).toEqual(Array(2).fill(Math.fround(first.meta.sampleWeight)));
    expect(first.meta.sampling).toEqual({ maxNewTokens: 4, temperature: 0, seed: 0 });
  });

  it('adds user examples with every text token counted, and drops answers the model did not write', async () => {
    const { synthesize } = fakeSynthesis((call) => call === 1);
    const progress: number[] = [];
    const set = await buildCalibrationSet({
      persona,
      questions: ['Once', 'Twice', 'Thrice'],
      tokenizer: charTokenizer(true),
      format: { kind: 'base' },
      synthesize,
      samples: 3,
      seed: 1,
      userExamples: ['Hmph.', '   ', 'Steel!'],
      userExampleWeight: 2,
      onProgress: (done) => progress.push(done),
    });
    expect(progress).toEqual([1, 2, 3]);
    expect(set.emptyAnswers).toBe(1);
    const answers = set.samples.filter((s) => s.meta.kind === 'persona-answer');
    expect(answers).toHaveLength(2);
    // Base model: BOS, then persona prefix and the story opening.
    for (const s of answers) expect(decode(s.ids.slice(1, s.meta.promptTokens))).toBe(`${persona}\n\n${s.meta.prompt}`);
    expect(answers.every((s) => s.ids[0] === 1)).toBe(true);
    const examples = set.samples.filter((s) => s.meta.kind === 'user-example');
    expect(examples.map((s) => decode(s.ids.slice(1)))).toEqual(['Hmph.', 'Steel!']);
    expect([...examples[0].weights]).toEqual([0, 2, 2, 2, 2, 2]);
    expect(examples[0].meta).toMatchObject({ sampleWeight: 2, promptTokens: 1, answerTokens: 5 });
  });

  it('builds the generic set from the same questions without a persona', async () => {
    const { synthesize } = fakeSynthesis();
    const generic = await buildGenericCalibrationSet({ questions, tokenizer: charTokenizer(false), format: chat, synthesize, samples: 3, seed: 4 });
    const personaSet = await buildCalibrationSet({ persona, questions, tokenizer: charTokenizer(false), format: chat, synthesize, samples: 3, seed: 4 });
    expect(generic.persona).toBeNull();
    expect(generic.samples.map((s) => s.meta.questionIndex)).toEqual(personaSet.samples.map((s) => s.meta.questionIndex));
    for (const s of generic.samples) {
      expect(s.meta.kind).toBe('generic-answer');
      expect(decode(s.ids.slice(0, s.meta.promptTokens))).toBe(`<|im_start|>user\n${s.meta.prompt}<|im_end|>\n<|im_start|>assistant\n`);
    }
  });

  it('rejects what it cannot build', async () => {
    const { synthesize } = fakeSynthesis();
    const base = { questions, tokenizer: charTokenizer(false), format: chat, synthesize, seed: 0 };
    await expect(buildCalibrationSet({ ...base, persona, samples: 13 })).rejects.toThrow(/only 12 questions/);
    await expect(buildCalibrationSet({ ...base, persona: ' ', samples: 1 })).rejects.toThrow(/empty/);
    await expect(buildCalibrationSet({ ...base, persona, samples: 1, sensitivity: [1] })).rejects.toThrow(/1 sensitivity scores for 12/);
  });

  it('calibrates the built-in base model end to end with its real tokenizer and greedy answers', async () => {
    const model = await loadBuiltin();
    const { tokenizerJson, tokenizerConfig } = buildTokenizerFiles(model);
    const tokenizer = loadTokenizer(tokenizerJson, tokenizerConfig as unknown as Record<string, unknown>);
    const format = promptFormat(tokenizerConfig as unknown as Record<string, unknown>);
    expect(format.kind).toBe('base');
    const synthesize: Synthesize = async (ids, settings) => referenceGreedy(model, ids, settings.maxNewTokens);
    const set = await buildCalibrationSet({
      persona: 'Lily is a happy girl who loves her red ball.',
      questions: ['One day, the little dog', 'The old sailor looked at the sea and'],
      tokenizer,
      format,
      synthesize,
      samples: 2,
      seed: 0,
      sampling: { maxNewTokens: 6, temperature: 0 },
    });
    for (const s of set.samples) {
      expect(s.ids[0]).toBe(tokenizer.bosTokenId);
      expect(tokenizer.decode(s.ids.slice(0, s.meta.promptTokens))).toBe(`Lily is a happy girl who loves her red ball.\n\n${s.meta.prompt}`);
      expect(s.meta.answerTokens).toBe(6);
      expect([...s.weights.slice(s.meta.promptTokens)]).toEqual(Array(6).fill(1));
    }
  });
});
