import { describe, expect, it } from 'vitest';
import { chatTemplate, chatTemplates } from './chat-template';

describe('chat templates', () => {
  it('reads a single template string as "default"', () => {
    const config = { chat_template: '{{ messages }}' };
    expect(chatTemplates(config)).toEqual([{ name: 'default', template: '{{ messages }}' }]);
    expect(chatTemplate(config)).toBe('{{ messages }}');
  });

  it('reads a list of named templates and picks by name', () => {
    const config = {
      chat_template: [
        { name: 'default', template: 'D' },
        { name: 'tool_use', template: 'T' },
        { name: 42, template: 'ignored' },
      ],
    };
    expect(chatTemplates(config).map((t) => t.name)).toEqual(['default', 'tool_use']);
    expect(chatTemplate(config, 'tool_use')).toBe('T');
    expect(chatTemplate(config)).toBe('D');
    expect(chatTemplate(config, 'rag')).toBeUndefined();
  });

  it('takes a lone named template as the default, and has none without a template', () => {
    expect(chatTemplate({ chat_template: [{ name: 'chatml', template: 'C' }] })).toBe('C');
    expect(chatTemplates({})).toEqual([]);
    expect(chatTemplate({})).toBeUndefined();
  });
});
