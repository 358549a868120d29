/**
 * What an inline suggestion asks for: N continuations of the code at the cursor. The
 * generator continues the same assistant response the critic scores a file as (an open
 * ```python block holding the code above the cursor, `codeAsResponse`), so a continuation
 * is judged in exactly the text it was written in.
 */
import { codeAsResponse } from '../confidence/documentScoring';
import { buildMessages } from '../contracts';
import type { GenerationRequest } from '../generation/types';
import type { Problem, PromptTemplates } from '../problem/types';
import { stopIndex } from '../generation/stop';

/** Ends the code block: a continuation stops where the model closes it. */
export const CLOSING_FENCE = '```';

export interface InlineOptions {
  n: number;
  temperature: number;
  maxNewTokens: number;
  /**
   * Send the code below the cursor as the completions API's `suffix` (fill-in-the-middle).
   * Only servers that support it should get it (vLLM rejects the field); local models never do.
   */
  fillInTheMiddle: boolean;
  seed?: number;
}

export interface InlineRequest {
  problem: Problem;
  /** The document before and after the cursor. */
  prefix: string;
  suffix: string;
  /** The response the generator continues and the critic scores first: codeAsResponse(prefix). */
  responsePrefix: string;
  generation: GenerationRequest;
}

/** The request for continuations of `text` at UTF-16 `offset`, under `problem` and the critic's templates. */
export function buildInlineRequest(problem: Problem, templates: PromptTemplates, text: string, offset: number, options: InlineOptions): InlineRequest {
  if (!Number.isInteger(offset) || offset < 0 || offset > text.length) throw new RangeError(`cursor offset ${offset} is outside the document (0..${text.length})`);
  const prefix = text.slice(0, offset);
  const suffix = text.slice(offset);
  const responsePrefix = codeAsResponse(prefix).text;
  return {
    problem,
    prefix,
    suffix,
    responsePrefix,
    generation: {
      messages: buildMessages(problem, templates),
      n: options.n,
      temperature: options.temperature,
      maxNewTokens: options.maxNewTokens,
      seed: options.seed,
      responsePrefix,
      stop: [CLOSING_FENCE],
      ...(options.fillInTheMiddle ? { suffix: suffix + CLOSING_FENCE } : {}),
    },
  };
}

/**
 * The text to insert, from what the generator wrote after the cursor: up to the closing
 * fence (a server may ignore `stop`). A model without fill-in-the-middle cannot see the
 * text after the cursor, so: in the middle of a line the suggestion is the rest of that
 * line, without the text the line already ends with; elsewhere it stops before a line
 * that repeats the first line below the cursor, and leaves the line break to the text
 * after the cursor when there is one. '' when nothing but whitespace is left.
 */
export function continuationOf(generated: string, suffix: string): string {
  const fence = stopIndex(generated, [CLOSING_FENCE]);
  let text = fence >= 0 ? generated.slice(0, fence) : generated;
  const restOfLine = suffix.split('\n')[0].trim();
  if (restOfLine) {
    text = text.split('\n')[0];
    if (text.endsWith(restOfLine)) text = text.slice(0, text.length - restOfLine.length);
  } else {
    const nextLine = suffix.split('\n').find((line) => line.trim())?.trim();
    const lines = text.split('\n');
    // Line 0 continues the cursor's line, so only later lines can repeat one below it.
    const repeat = nextLine ? lines.findIndex((line, i) => i > 0 && line.trim() === nextLine) : -1;
    if (repeat > 0) text = lines.slice(0, repeat).join('\n');
    if (suffix.includes('\n')) text = text.replace(/\n+$/, '');
  }
  return text.trim() ? text : '';
}
