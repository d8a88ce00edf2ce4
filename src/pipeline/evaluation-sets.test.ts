import { describe, expect, it } from 'vitest';
import { buildCalibrationSet, buildGenericCalibrationSet, type CalibrationTokenizer, type Synthesize } from '../calibration/calibration-set';
import { promptFormat, renderPrompt } from '../calibration/persona-prompt';
import { storyPrompts } from '../calibration/question-bank';
import { answerNll, buildEvaluationSets, EVALUATION_SAMPLES, EVALUATION_SEED_OFFSET, heldOutQuestions } from './evaluation-sets';

/** One id per character (BOS = 1 when asked), so ids decode back to the exact text. */
const tokenizer: CalibrationTokenizer = {
  addsBos: true,
  encode: (text, { addBos = false } = {}) => [...(addBos ? [1] : []), ...[...text].map((c) => c.codePointAt(0)!)],
};
const decode = (ids: readonly number[]) => String.fromCodePoint(...ids.filter((id) => id !== 1));
const base = promptFormat({});
const CHATML =
  "{% for message in messages %}{{'<|im_start|>' + message['role'] + '\n' + message['content'] + '<|im_end|>\n'}}{% endfor %}{% if add_generation_prompt %}{{ '<|im_start|>assistant\n' }}{% endif %}";
const chat = promptFormat({ chat_template: CHATML });
const persona = 'A gruff old sea captain who tells tall tales.';

/** Answers " <seed>." so every sample shows the seed it was written with. */
const synthesize: Synthesize = async (_ids, settings) => [...` ${settings.seed}.`].map((c) => c.codePointAt(0)!);

/** What the studio calibrates on for a persona method plus a baseline: persona answers, examples, plain answers. */
async function calibration(questions: readonly string[], format = base) {
  const personaSet = await buildCalibrationSet({ persona, questions, tokenizer, format, synthesize, samples: 12, seed: 0, userExamples: ['Arr, the sea took my ship.'] });
  const generic = await buildGenericCalibrationSet({ questions, tokenizer, format, synthesize, samples: 12, seed: 0 });
  return [...personaSet.samples, ...generic.samples];
}

describe('buildEvaluationSets', () => {
  for (const [name, format] of [['a base model (story prompts)', base], ['a chat model', chat]] as const) {
    it(`holds out persona and plain texts disjoint from each other and from calibration, on ${name}`, async () => {
      const questions = format === base ? storyPrompts() : Array.from({ length: 40 }, (_, i) => `Question number ${i}?`);
      const calibrated = await calibration(questions, format);
      const sets = await buildEvaluationSets({ questions, tokenizer, format, persona, synthesize, calibration: calibrated, seed: 0 });
      const { persona: personaSet, general } = sets;
      expect(personaSet.samples).toHaveLength(EVALUATION_SAMPLES);
      expect(general.samples).toHaveLength(EVALUATION_SAMPLES);

      const calibrationPrompts = new Set(calibrated.map((s) => s.meta.prompt));
      const personaPrompts = personaSet.samples.map((s) => s.meta.prompt);
      const generalPrompts = general.samples.map((s) => s.meta.prompt);
      expect(personaPrompts.filter((p) => generalPrompts.includes(p))).toEqual([]);
      expect([...personaPrompts, ...generalPrompts].filter((p) => calibrationPrompts.has(p))).toEqual([]);

      // As texts: no evaluation sequence equals, or shares its prompt with, any calibration sample or the other set.
      const text = (ids: readonly number[]) => decode(ids);
      const calibrationTexts = new Set(calibrated.map((s) => text(s.ids)));
      for (const s of [...personaSet.samples, ...general.samples]) expect(calibrationTexts.has(text(s.ids))).toBe(false);
      const personaTexts = new Set(personaSet.samples.map((s) => text(s.ids)));
      for (const s of general.samples) expect(personaTexts.has(text(s.ids))).toBe(false);

      // Persona texts are written under the persona prompt; plain texts have no persona at all.
      for (const s of personaSet.samples) expect(text(s.ids)).toBe(`${renderPrompt(format, persona, s.meta.prompt).text} ${s.meta.sampling!.seed}.`);
      for (const s of general.samples) {
        expect(text(s.ids)).not.toContain(persona);
        expect(text(s.ids)).toBe(`${renderPrompt(format, null, s.meta.prompt).text} ${s.meta.sampling!.seed}.`);
      }
      // Seeds of their own: no evaluation answer reuses a calibration answer's seed.
      const calibrationSeeds = new Set(calibrated.flatMap((s) => (s.meta.sampling ? [s.meta.sampling.seed] : [])));
      for (const s of [...personaSet.samples, ...general.samples]) {
        expect(s.meta.sampling!.seed).toBeGreaterThanOrEqual(EVALUATION_SEED_OFFSET);
        expect(calibrationSeeds.has(s.meta.sampling!.seed)).toBe(false);
      }
    });
  }

  it('says what to do when calibration used almost every prompt', async () => {
    const questions = Array.from({ length: 20 }, (_, i) => `Story ${String.fromCharCode(65 + i)} began`);
    const calibrated = await calibration(questions);
    // 12 persona + 12 generic answers (seeded choices, overlapping) leave fewer than 12 prompts unused.
    const free = heldOutQuestions(questions, tokenizer, base, persona, calibrated);
    expect(free.length).toBeLessThan(2 * EVALUATION_SAMPLES);
    await expect(buildEvaluationSets({ questions, tokenizer, format: base, persona, synthesize, calibration: calibrated, seed: 0 })).rejects.toThrow(
      `only ${free.length} prompts are left over`,
    );
  });
});

describe('heldOutQuestions', () => {
  it('drops exactly the prompts a calibration sample starts with, with or without the persona', () => {
    const questions = ['The dragon woke', 'A ship sailed', 'The cat sat', 'Rain fell'];
    const ids = (who: string | null, q: string, answer: string) => tokenizer.encode(renderPrompt(base, who, q).text + answer, { addBos: true });
    const samples = [
      { ids: ids(persona, 'A ship sailed', ' far away.'), weights: new Float32Array(0) },
      { ids: ids(null, 'Rain fell', ' all day.'), weights: new Float32Array(0) },
      // A user example that mentions a prompt (not at its start) does not use it up.
      { ids: tokenizer.encode('Arr, the cat sat on my map.', { addBos: true }), weights: new Float32Array(0) },
    ];
    expect(heldOutQuestions(questions, tokenizer, base, persona, samples)).toEqual(['The dragon woke', 'The cat sat']);
  });
});

describe('answerNll', () => {
  it('keeps the NLL of the positions that predict a counted token', () => {
    // ids [p0 p1 a0 a1]: NLL t predicts ids[t + 1]; the weights count a0 and a1, predicted by NLLs 1 and 2.
    const sample = { ids: [1, 5, 6, 7], weights: Float32Array.from([0, 0, 1, 1]) };
    expect([...answerNll([0.5, 0.25, 0.125], sample)]).toEqual([0.25, 0.125]);
    expect(() => answerNll([0.5], sample)).toThrow('expected 3 token NLLs');
  });
});
