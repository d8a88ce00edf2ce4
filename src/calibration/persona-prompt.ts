/**
 * Calibration prompts: a chat model gets its own chat template with the persona system prompt of
 * Persona-Pruner; a base (non-chat) model gets the persona description as a prefix of an open story prompt.
 * Each prompt carries the character span of its answer, so token weights can mark answer tokens.
 */
import { Template } from '@huggingface/jinja';
import type { TextTokenizer } from '../model/tokenizer';

/** The system prompt of the paper, verbatim. */
export function personaSystemPrompt(persona: string): string {
  return `You are roleplaying as a user with this persona: ${persona}\nAnswer the question, roleplay as the given persona.`;
}

/** How a model wants its prompts: a chat template, or plain text for a base model. */
export type PromptFormat =
  | {
      kind: 'chat';
      template: string;
      /** Special tokens from tokenizer_config.json that templates may print (bos_token, eos_token, ...). */
      specialTokens: Record<string, string>;
    }
  | { kind: 'base' };

type TokenSpec = string | { content?: string } | null | undefined;
const SPECIAL_TOKEN_KEYS = ['bos_token', 'eos_token', 'unk_token', 'pad_token'] as const;

/**
 * The chat template of a tokenizer_config.json: the `chat_template` string, or from a list of
 * `{ name, template }` the one named "default" (else the first); null when the model has none.
 */
export function chatTemplateOf(tokenizerConfig: Record<string, unknown>): string | null {
  const spec = tokenizerConfig.chat_template;
  if (spec === undefined || spec === null) return null;
  if (typeof spec === 'string') return spec;
  if (Array.isArray(spec)) {
    const entries = spec as { name?: unknown; template?: unknown }[];
    const chosen = entries.find((e) => e?.name === 'default') ?? entries[0];
    if (typeof chosen?.template === 'string') return chosen.template;
  }
  throw new Error('tokenizer_config.json has a chat_template that is neither a string nor a list of { name, template }');
}

export function promptFormat(tokenizerConfig: Record<string, unknown>): PromptFormat {
  const template = chatTemplateOf(tokenizerConfig);
  if (template === null) return { kind: 'base' };
  const specialTokens: Record<string, string> = {};
  for (const key of SPECIAL_TOKEN_KEYS) {
    const spec = tokenizerConfig[key] as TokenSpec;
    const content = typeof spec === 'string' ? spec : spec?.content;
    if (typeof content === 'string') specialTokens[key] = content;
  }
  return { kind: 'chat', template, specialTokens };
}

export interface RenderedPrompt {
  text: string;
  /** [start, end) characters of the answer in `text`; empty at the end when the answer is still to be generated. */
  answerSpan: [number, number];
  /** The template refused (or dropped) the system turn, so the system prompt went into the user turn. */
  systemFolded: boolean;
}

type Message = { role: 'system' | 'user'; content: string };

function withAnswer(prompt: string, answer: string | undefined, systemFolded: boolean): RenderedPrompt {
  const text = prompt + (answer ?? '');
  return { text, answerSpan: [prompt.length, text.length], systemFolded };
}

/**
 * A chat prompt ending where the assistant's answer begins (`add_generation_prompt: true`), followed by
 * `answer` when given. A template that raises on a system role, or silently drops it, gets the system
 * prompt folded into the user turn instead (system, blank line, question).
 */
function renderChat(format: Extract<PromptFormat, { kind: 'chat' }>, system: string | null, user: string, answer?: string): RenderedPrompt {
  const template = new Template(format.template);
  const render = (messages: Message[]) => template.render({ ...format.specialTokens, messages, add_generation_prompt: true });
  if (system !== null) {
    try {
      const text = render([
        { role: 'system', content: system },
        { role: 'user', content: user },
      ]);
      if (text.includes(system)) return withAnswer(text, answer, false);
    } catch {
      // e.g. Gemma's raise_exception('System role not supported'): fold below.
    }
    return withAnswer(render([{ role: 'user', content: `${system}\n\n${user}` }]), answer, true);
  }
  return withAnswer(render([{ role: 'user', content: user }]), answer, false);
}

/** A base-model prompt: the persona description (when given), a blank line, then the story opening. */
function renderStory(persona: string | null, storyPrompt: string, answer?: string): RenderedPrompt {
  return withAnswer(persona === null ? storyPrompt : `${persona}\n\n${storyPrompt}`, answer, false);
}

/** Token ids of a rendered prompt: a chat template writes its own BOS, a plain base-model prompt gets the tokenizer's. */
export function encodePrompt(tokenizer: Pick<TextTokenizer, 'encode' | 'addsBos'>, format: PromptFormat, text: string): number[] {
  return tokenizer.encode(text, { addBos: format.kind === 'base' && tokenizer.addsBos });
}

/**
 * The calibration prompt of one question for a persona (null: no persona, the generic prompt): the persona
 * system prompt in the chat template, or the persona prefix before a story prompt for a base model.
 */
export function renderPrompt(format: PromptFormat, persona: string | null, question: string, answer?: string): RenderedPrompt {
  const description = persona === null ? null : persona.trim();
  if (description === '') throw new Error('The persona description is empty.');
  if (format.kind === 'base') return renderStory(description, question, answer);
  return renderChat(format, description === null ? null : personaSystemPrompt(description), question, answer);
}
