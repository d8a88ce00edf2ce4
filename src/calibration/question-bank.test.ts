import { describe, expect, it } from 'vitest';
import { chatQuestions, examplePersonas, promptsFor, QUESTION_BANK_LICENSE, questionTopics, referencePersonas, storyPrompts } from './question-bank';

/** Case, punctuation and spacing do not make two prompts different. */
const normalise = (s: string) => s.toLowerCase().replace(/[^a-z0-9 ]/g, '').replace(/\s+/g, ' ').trim();

function duplicates(list: string[]): string[] {
  const seen = new Set<string>();
  return list.filter((s) => {
    const key = normalise(s);
    const dup = seen.has(key);
    seen.add(key);
    return dup;
  });
}

describe('question bank', () => {
  it('holds hundreds of distinct chat questions over many topics and 100+ distinct story openings', () => {
    const chat = chatQuestions();
    const story = storyPrompts();
    expect(chat.length).toBeGreaterThanOrEqual(300);
    expect(Object.keys(questionTopics()).length).toBeGreaterThanOrEqual(10);
    expect(story.length).toBeGreaterThanOrEqual(100);
    expect(duplicates([...chat, ...story])).toEqual([]);
    for (const s of [...chat, ...story]) expect(s).toBe(s.trim());
    expect(chat.every((s) => s.length > 8)).toBe(true);
    // Story openings are left open for the model to continue.
    expect(story.filter((s) => /[.!?]$/.test(s))).toEqual([]);
  });

  it('serves chat questions to chat models and story openings to base models', () => {
    expect(promptsFor({ kind: 'base' })).toEqual(storyPrompts());
    expect(promptsFor({ kind: 'chat', template: '', specialTokens: {} })).toEqual(chatQuestions());
  });

  it('has a licence note and diverse, separate reference and example personas', () => {
    expect(QUESTION_BANK_LICENSE).toBe('CC0-1.0');
    const reference = referencePersonas();
    const examples = examplePersonas();
    expect(reference.length).toBeGreaterThanOrEqual(8);
    expect(examples.length).toBeGreaterThanOrEqual(4);
    const all = [...reference, ...examples];
    expect(new Set(all.map((p) => p.id)).size).toBe(all.length);
    expect(duplicates(all.map((p) => p.description))).toEqual([]);
    expect(all.every((p) => p.name.length > 0 && p.description.length > 40)).toBe(true);
  });
});
