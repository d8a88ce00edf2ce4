/**
 * Chat templates from tokenizer_config.json. `chat_template` is either one Jinja string or, in models
 * with tool use or RAG variants, a list of `{ name, template }` where `default` is the ordinary one.
 */

export interface NamedTemplate {
  name: string;
  template: string;
}

export function chatTemplates(tokenizerConfig: Record<string, unknown>): NamedTemplate[] {
  const value = tokenizerConfig.chat_template;
  if (typeof value === 'string') return [{ name: 'default', template: value }];
  if (!Array.isArray(value)) return [];
  return value.filter(
    (entry): entry is NamedTemplate => typeof entry?.name === 'string' && typeof entry?.template === 'string',
  );
}

/** The template called `name`; for `default`, a lone unnamed-purpose template also counts. */
export function chatTemplate(tokenizerConfig: Record<string, unknown>, name = 'default'): string | undefined {
  const templates = chatTemplates(tokenizerConfig);
  const named = templates.find((t) => t.name === name);
  if (named) return named.template;
  return name === 'default' && templates.length === 1 ? templates[0]!.template : undefined;
}
