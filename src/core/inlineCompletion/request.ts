/**
 * What an inline suggestion asks for: N continuations of the code at the cursor. The
 * generator continues a response whose code block holds the code above the cursor, after
 * the explanation it writes for the problem (`leadRequest`); the critic scores the file
 * after accepting a continuation as it scores any file, an open ```python block
 * (`codeAsResponse`), so a suggestion's p(pass) is the one the status bar shows once it is in.
 */
import { codeAsResponse } from '../confidence/documentScoring';
import type { GenerationRequest } from '../generation/types';
import { samplingRequest } from '../generateAndRank/bestOfN';
import type { Problem, PromptTemplates } from '../problem/types';
import { stopIndex } from '../generation/stop';

/** Ends the code block: a continuation stops where the model closes it. */
export const CLOSING_FENCE = '```';

export interface InlineOptions {
  n: number;
  temperature: number;
  /** Sampling as the generator's settings ask (GenerationRequest's defaults when absent). */
  topP?: number;
  topK?: number;
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
  /**
   * The end of the text before the cursor that the generator writes again: its last word,
   * run of punctuation or whitespace (line breaks and indentation). A prompt cut there ends
   * on a token the model would rarely have produced (its tokenizer would have merged it
   * with what follows: `)` of `):`, a line break with the next line's indentation), and
   * small models go astray from one. A
   * continuation counts only if it starts with this text (token healing, by filtering).
   */
  healed: string;
  /** The response the critic scores the file above the cursor as: codeAsResponse(prefix). */
  responsePrefix: string;
  /** The continuations' request: the generator continues `lead` + `responsePrefix`. */
  generation: GenerationRequest;
}

/**
 * The request for continuations of `text` at UTF-16 `offset`, under `problem` and the
 * critic's templates. `lead` is what the generator's response says before its code block
 * (`leadRequest`): the code is continued where the generator would have written it.
 * `codeFrom` is where the generator's view of the file starts (`codeAfterTopStatement` when
 * the problem is the file's top docstring: the prompt holds it already, and a code block
 * that opens with it is text the generator never wrote); a cursor before it sees it all.
 * The critic scores the whole file, as the status bar does.
 */
export function buildInlineRequest(problem: Problem, templates: PromptTemplates, text: string, offset: number, options: InlineOptions, lead = '', codeFrom = 0): InlineRequest {
  if (!Number.isInteger(offset) || offset < 0 || offset > text.length) throw new RangeError(`cursor offset ${offset} is outside the document (0..${text.length})`);
  const prefix = text.slice(0, offset);
  const suffix = text.slice(offset);
  const responsePrefix = codeAsResponse(prefix).text;
  // Blank lines between the statement and the cursor are not code the generator must repeat.
  const seen = offset >= codeFrom ? prefix.slice(codeFrom) : prefix;
  const context = seen.trim() ? seen : '';
  const healed = /(?:\s+|[^\S\n]?[\p{L}\p{N}_]+|[^\S\n]?[^\s\p{L}\p{N}_]+)$/u.exec(context)?.[0] ?? '';
  return {
    problem,
    prefix,
    suffix,
    healed,
    responsePrefix,
    generation: {
      ...samplingRequest(problem, templates, options),
      responsePrefix: lead + codeAsResponse(context.slice(0, context.length - healed.length)).text,
      stop: [CLOSING_FENCE],
      ...(options.fillInTheMiddle ? { suffix: suffix + CLOSING_FENCE } : {}),
    },
  };
}

/**
 * Asks for the start of a response up to its code block. Responses the generator was
 * trained on, and chat models' answers, explain before the code; a code block opened
 * straight away is text a small model has never seen (the micro generator then opens a
 * second block instead of writing code). The lead depends only on the problem, so it is
 * written once per problem and reused by every suggestion.
 */
export function leadRequest(problem: Problem, templates: PromptTemplates, options: Pick<InlineOptions, 'temperature' | 'topP' | 'topK' | 'seed'>): GenerationRequest {
  return { ...samplingRequest(problem, templates, { ...options, n: 1, maxNewTokens: LEAD_MAX_TOKENS }), stop: [CLOSING_FENCE] };
}

/** A lead longer than this is not waited for: the code block then opens the response. */
export const LEAD_MAX_TOKENS = 128;

/**
 * The text to insert, from what the generator wrote in place of `healed` and after it:
 * nothing unless it starts with `healed`, then the rest up to the closing fence (a server
 * may ignore `stop`). A model without fill-in-the-middle cannot see the
 * text after the cursor, so: in the middle of a line the suggestion is the rest of that
 * line, without the text the line already ends with; elsewhere it stops before a line
 * that repeats the first line below the cursor, and leaves the line break to the text
 * after the cursor when there is one. '' when nothing but whitespace is left.
 */
export function continuationOf(generated: string, request: Pick<InlineRequest, 'healed' | 'suffix'>): string {
  const { healed, suffix } = request;
  if (!generated.startsWith(healed)) return '';
  const fence = stopIndex(generated, [CLOSING_FENCE]);
  let text = (fence >= 0 ? generated.slice(0, fence) : generated).slice(healed.length);
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
