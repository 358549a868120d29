/**
 * Prompts from the shared templates (contracts/prompt_templates.json, bundled at build so the
 * .vsix needs no repository) or a critic bundle's manifest, which carries the templates its
 * critic was trained with. The rule is the contract's: training builds the same messages.
 */
import defaultTemplatesJson from '../../../contracts/prompt_templates.json';
import type { Problem, PromptTemplates } from '../problem/types';

export interface ChatMessage {
  role: 'system' | 'user' | 'assistant';
  content: string;
}

export const DEFAULT_TEMPLATES: PromptTemplates = defaultTemplatesJson;

/** Checks a templates object from an untrusted source (a bundle manifest) and says what is wrong. */
export function validateTemplates(value: unknown, source: string): PromptTemplates {
  const record = value as Record<string, unknown> | null;
  for (const key of ['system', 'standard_input', 'call_based'] as const) {
    if (!record || typeof record[key] !== 'string') {
      throw new Error(`${source}: prompt templates need a string "${key}"`);
    }
  }
  const templates = record as unknown as PromptTemplates;
  if (!templates.standard_input.includes('{question}') || !templates.call_based.includes('{question}')) {
    throw new Error(`${source}: prompt templates must contain the {question} placeholder`);
  }
  return templates;
}

/**
 * The [system, user] messages for a problem; the chat template adds the generation prompt.
 * The question is trimmed and the starter code right-trimmed, and placeholders are filled in
 * one pass, so text inside the question is never re-expanded.
 */
export function buildMessages(problem: Problem, templates: PromptTemplates = DEFAULT_TEMPLATES): ChatMessage[] {
  const template = problem.kind === 'call_based' ? templates.call_based : templates.standard_input;
  const values: Record<string, string> = { question: problem.question.trim(), starter_code: (problem.starterCode ?? '').trimEnd() };
  const user = template.replace(/\{(question|starter_code)\}/g, (_, key: string) => values[key]);
  return [
    { role: 'system', content: templates.system },
    { role: 'user', content: user },
  ];
}
