/**
 * Prompt building with the templates the critic was trained with: the critic bundle's
 * manifest when one is configured, else the repository's prompt_templates.json (bundled
 * at build time so the .vsix needs no training/ folder).
 */
import defaultTemplatesJson from '../../training/passlens_training/prompt_templates.json';
import type { Problem, PromptTemplates } from './problem';

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

/** Fills `{question}` / `{starter_code}` in one pass so text inside the question is never re-expanded. */
function fill(template: string, values: Record<string, string>): string {
  return template.replace(/\{(question|starter_code)\}/g, (_, key: string) => values[key] ?? '');
}

/** The [system, user] messages for a problem; the chat template adds the generation prompt. */
export function buildMessages(problem: Problem, templates: PromptTemplates = DEFAULT_TEMPLATES): ChatMessage[] {
  const template = problem.kind === 'call_based' ? templates.call_based : templates.standard_input;
  const user = fill(template, { question: problem.question.trim(), starter_code: (problem.starterCode ?? '').trimEnd() });
  return [
    { role: 'system', content: templates.system },
    { role: 'user', content: user },
  ];
}

/**
 * Phi-4's chat format as plain text, for servers reached through the raw completions API
 * (they do not apply a chat template). Matches the tiny models' template in training.
 */
export function renderPhiChat(messages: readonly ChatMessage[]): string {
  return messages.map((m) => `<|${m.role}|>${m.content}<|end|>`).join('') + '<|assistant|>';
}

/** Opening of the assistant response the critic scores when it judges code in an editor. */
export const CODE_RESPONSE_PREFIX = '```python\n';

/**
 * How a file's code becomes the assistant response the critic scores: an open ```python
 * block, as a response looks while its code is being written. Leaving the fence open keeps
 * every edit at the end of the file an append (the critic's KV cache stays valid).
 */
export function codeAsResponse(code: string): { text: string; codeStart: number } {
  return { text: CODE_RESPONSE_PREFIX + code, codeStart: CODE_RESPONSE_PREFIX.length };
}

/** A fenced block found in a response: its code and where that code starts in the response. */
export interface ExtractedCode {
  code: string;
  /** UTF-16 offset of the code's first character in the response. */
  start: number;
}

/**
 * The solution code of a generated response: the first ```python block (the templates
 * ask for one), else the first fenced block, else the whole response. An unterminated
 * block (generation cut off) runs to the end.
 */
export function extractCode(response: string): ExtractedCode {
  const fence = /```([A-Za-z0-9_+-]*)[^\n]*\n/g;
  let fallback: ExtractedCode | undefined;
  for (let match = fence.exec(response); match; match = fence.exec(response)) {
    const start = match.index + match[0].length;
    const close = response.indexOf('```', start);
    const block = { code: response.slice(start, close === -1 ? undefined : close), start };
    const language = match[1].toLowerCase();
    if (language === 'python' || language === 'py' || language === 'python3') return block;
    fallback ??= block;
    if (close === -1) break;
    fence.lastIndex = close + 3;
  }
  return fallback ?? { code: response, start: 0 };
}
