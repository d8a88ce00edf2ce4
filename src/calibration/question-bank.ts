/**
 * The project's own question bank (generic chat questions by topic, open story beginnings for base models)
 * and personas (reference personas for sensitivity filtering, examples for the studio), all CC0.
 */
import personasData from './data/personas.json';
import questionsData from './data/questions.json';
import type { PromptFormat } from './persona-prompt';

export interface Persona {
  id: string;
  name: string;
  description: string;
}

/** SPDX identifier of the bank's licence (questions.json and personas.json). */
export const QUESTION_BANK_LICENSE = questionsData.license;

/** Chat questions grouped by topic, in file order. */
export function questionTopics(): Record<string, readonly string[]> {
  return questionsData.chat;
}

/** Every chat question, topics in file order. */
export function chatQuestions(): string[] {
  return Object.values(questionsData.chat).flat();
}

/** Open story beginnings for base (non-chat) models, continued by the model itself. */
export function storyPrompts(): string[] {
  return [...questionsData.story];
}

/** The prompts that suit a model: chat questions for a chat template, story beginnings for a base model. */
export function promptsFor(format: PromptFormat): string[] {
  return format.kind === 'chat' ? chatQuestions() : storyPrompts();
}

/** The contrast set of sensitivity filtering. */
export function referencePersonas(): Persona[] {
  return personasData.reference.map((p) => ({ ...p }));
}

/** Ready-made characters for the studio (not used as references). */
export function examplePersonas(): Persona[] {
  return personasData.examples.map((p) => ({ ...p }));
}
