import { describe, expect, it } from 'vitest';
import { chatTemplateOf, personaSystemPrompt, promptFormat, renderPrompt } from './persona-prompt';

// SmolLM2-Instruct's ChatML template (Qwen-style turns; adds its own system turn when none is given).
const CHATML =
  "{% for message in messages %}{% if loop.first and messages[0]['role'] != 'system' %}{{ '<|im_start|>system\nYou are a helpful AI assistant named SmolLM, trained by Hugging Face<|im_end|>\n' }}{% endif %}" +
  "{{'<|im_start|>' + message['role'] + '\n' + message['content'] + '<|im_end|>' + '\n'}}{% endfor %}" +
  "{% if add_generation_prompt %}{{ '<|im_start|>assistant\n' }}{% endif %}";

// Llama-3-Instruct's template: BOS from the config, trimmed contents, header tokens.
const LLAMA3 =
  "{% set loop_messages = messages %}{% for message in loop_messages %}{% set content = '<|start_header_id|>' + message['role'] + '<|end_header_id|>\n\n'+ message['content'] | trim + '<|eot_id|>' %}" +
  "{% if loop.index0 == 0 %}{% set content = bos_token + content %}{% endif %}{{ content }}{% endfor %}" +
  "{% if add_generation_prompt %}{{ '<|start_header_id|>assistant<|end_header_id|>\n\n' }}{% endif %}";

// Gemma's template: rejects a system role outright.
const GEMMA =
  "{{ bos_token }}{% if messages[0]['role'] == 'system' %}{{ raise_exception('System role not supported') }}{% endif %}" +
  "{% for message in messages %}{% if (message['role'] == 'user') != (loop.index0 % 2 == 0) %}{{ raise_exception('Conversation roles must alternate user/assistant/user/assistant/...') }}{% endif %}" +
  "{% if (message['role'] == 'assistant') %}{% set role = 'model' %}{% else %}{% set role = message['role'] %}{% endif %}" +
  "{{ '<start_of_turn>' + role + '\n' + message['content'] | trim + '<end_of_turn>\n' }}{% endfor %}{% if add_generation_prompt %}{{'<start_of_turn>model\n'}}{% endif %}";

// A template that silently ignores system messages.
const USER_ONLY = "{% for m in messages %}{% if m['role'] == 'user' %}[INST] {{ m['content'] }} [/INST]{% endif %}{% endfor %}";

const persona = 'A grumpy blacksmith who hates dragons.';
const system = 'You are roleplaying as a user with this persona: A grumpy blacksmith who hates dragons.\nAnswer the question, roleplay as the given persona.';
const question = 'What do you eat for breakfast?';

describe('persona prompts', () => {
  it('uses the paper’s system prompt verbatim', () => {
    expect(personaSystemPrompt(persona)).toBe(system);
  });

  it('renders ChatML with the persona system turn and a generation prompt', () => {
    const format = promptFormat({ chat_template: CHATML, bos_token: '<|im_start|>', eos_token: '<|im_end|>' });
    const p = renderPrompt(format, `  ${persona}\n`, question);
    expect(p.text).toBe(`<|im_start|>system\n${system}<|im_end|>\n<|im_start|>user\n${question}<|im_end|>\n<|im_start|>assistant\n`);
    expect(p.answerSpan).toEqual([p.text.length, p.text.length]);
    expect(p.systemFolded).toBe(false);
    // No persona: the template's own default system turn.
    expect(renderPrompt(format, null, question).text).toBe(
      `<|im_start|>system\nYou are a helpful AI assistant named SmolLM, trained by Hugging Face<|im_end|>\n<|im_start|>user\n${question}<|im_end|>\n<|im_start|>assistant\n`,
    );
  });

  it('renders Llama-3 with BOS from the config (object form) and marks an appended answer', () => {
    const format = promptFormat({ chat_template: LLAMA3, bos_token: { content: '<|begin_of_text|>' }, eos_token: '<|eot_id|>' });
    const answer = 'Hmph. Porridge, like every day.';
    const p = renderPrompt(format, persona, question, answer);
    const prompt =
      `<|begin_of_text|><|start_header_id|>system<|end_header_id|>\n\n${system}<|eot_id|>` +
      `<|start_header_id|>user<|end_header_id|>\n\n${question}<|eot_id|><|start_header_id|>assistant<|end_header_id|>\n\n`;
    expect(p.text).toBe(prompt + answer);
    expect(p.answerSpan).toEqual([prompt.length, prompt.length + answer.length]);
    expect(p.text.slice(...p.answerSpan)).toBe(answer);
  });

  it('folds the system prompt into the user turn when the template rejects or drops it', () => {
    const gemma = renderPrompt(promptFormat({ chat_template: GEMMA, bos_token: '<bos>' }), persona, question);
    expect(gemma.text).toBe(`<bos><start_of_turn>user\n${system}\n\n${question}<end_of_turn>\n<start_of_turn>model\n`);
    expect(gemma.systemFolded).toBe(true);
    const dropped = renderPrompt(promptFormat({ chat_template: USER_ONLY }), persona, question);
    expect(dropped.text).toBe(`[INST] ${system}\n\n${question} [/INST]`);
    expect(dropped.systemFolded).toBe(true);
  });

  it('prefixes the persona to a story prompt for base models', () => {
    const format = promptFormat({ bos_token: '<s>' });
    expect(format).toEqual({ kind: 'base' });
    const p = renderPrompt(format, persona, 'One day, the little dog', ' ran home.');
    expect(p.text).toBe(`${persona}\n\nOne day, the little dog ran home.`);
    expect(p.text.slice(...p.answerSpan)).toBe(' ran home.');
    expect(renderPrompt(format, null, 'One day, the little dog').text).toBe('One day, the little dog');
    expect(() => renderPrompt(format, '  ', 'x')).toThrow(/empty/);
  });

  it('picks the "default" template from a list', () => {
    expect(chatTemplateOf({ chat_template: [{ name: 'tool_use', template: 'T' }, { name: 'default', template: 'D' }] })).toBe('D');
    expect(chatTemplateOf({ chat_template: [{ name: 'rag', template: 'R' }] })).toBe('R');
    expect(chatTemplateOf({})).toBeNull();
    expect(() => chatTemplateOf({ chat_template: 5 })).toThrow(/neither a string nor a list/);
  });
});
