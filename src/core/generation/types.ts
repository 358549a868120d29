/** One interface for every generator: N candidates per prompt, streamed token by token. */
import type { ChatMessage } from '../contracts/prompt';

export interface GenerationRequest {
  messages: ChatMessage[];
  /** Number of candidates. */
  n: number;
  temperature: number;
  maxNewTokens: number;
  topP?: number;
  seed?: number;
  /**
   * The start of the assistant's response, which each candidate continues (candidates'
   * text is what follows it): e.g. an open ```python block holding the code above the cursor.
   */
  responsePrefix?: string;
  /** Each candidate ends before the first of these strings (not included), finishing 'stop'. */
  stop?: string[];
  /**
   * Text that follows the generated part (fill-in-the-middle). Only the completions API
   * sends it, as `suffix`, to servers that support it; local models ignore it.
   */
  suffix?: string;
}

/** Events of a generation, in order per candidate; candidates may interleave. */
export type GenerationEvent =
  | {
      type: 'token';
      candidate: number;
      /** Text this step added (may be empty for a partial multi-byte character). */
      text: string;
      tokenId?: number;
      /** Log-probability of the token under the generator (temperature 1), when known. */
      logprob?: number;
    }
  | { type: 'done'; candidate: number; finishReason: 'stop' | 'length' | 'cancelled' };

export interface GeneratedCandidate {
  index: number;
  text: string;
  tokenIds: number[];
  logprobs: number[];
  finishReason: 'stop' | 'length' | 'cancelled';
}

export interface Generator {
  /** Model and backend in words, for logs and pickers. */
  readonly name: string;
  /** Streams the candidates' tokens; stops early (ending each candidate 'cancelled') when `signal` aborts. */
  stream(request: GenerationRequest, signal?: AbortSignal): AsyncIterable<GenerationEvent>;
  dispose(): Promise<void>;
}

/** Runs a generation to the end and returns the candidates in index order. */
export async function collectCandidates(
  generator: Generator,
  request: GenerationRequest,
  signal?: AbortSignal,
  onEvent?: (event: GenerationEvent) => void,
): Promise<GeneratedCandidate[]> {
  const candidates: GeneratedCandidate[] = Array.from({ length: request.n }, (_, index) => ({
    index,
    text: '',
    tokenIds: [],
    logprobs: [],
    finishReason: 'cancelled' as const,
  }));
  for await (const event of generator.stream(request, signal)) {
    onEvent?.(event);
    const candidate = candidates[event.candidate];
    if (!candidate) continue;
    if (event.type === 'token') {
      candidate.text += event.text;
      if (event.tokenId !== undefined) candidate.tokenIds.push(event.tokenId);
      if (event.logprob !== undefined) candidate.logprobs.push(event.logprob);
    } else candidate.finishReason = event.finishReason;
  }
  return candidates;
}

/** A push-to-pull queue that turns callbacks into an async iterable. */
export class EventQueue<T> implements AsyncIterable<T> {
  private readonly items: T[] = [];
  private waiting: ((result: IteratorResult<T>) => void) | undefined;
  private failed: { error: unknown } | undefined;
  private ended = false;

  push(item: T): void {
    if (this.ended) return;
    if (this.waiting) {
      const resolve = this.waiting;
      this.waiting = undefined;
      resolve({ value: item, done: false });
    } else this.items.push(item);
  }

  end(): void {
    this.ended = true;
    this.wake();
  }

  fail(error: unknown): void {
    this.failed ??= { error };
    this.ended = true;
    this.wake();
  }

  /** Ends a pending next(); the iterator then rethrows a failure or finishes. */
  private wake(): void {
    if (this.waiting && this.items.length === 0) {
      const resolve = this.waiting;
      this.waiting = undefined;
      resolve({ value: undefined as never, done: true });
    }
  }

  async *[Symbol.asyncIterator](): AsyncIterator<T> {
    for (;;) {
      if (this.items.length) {
        yield this.items.shift()!;
        continue;
      }
      if (this.ended) {
        if (this.failed) throw this.failed.error;
        return;
      }
      const next = await new Promise<IteratorResult<T>>((resolve) => (this.waiting = resolve));
      if (next.done) {
        if (this.failed) throw this.failed.error;
        return;
      }
      yield next.value;
    }
  }
}
