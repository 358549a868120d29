/** One interface for every generator: N candidates per prompt, streamed token by token. */
import type { ChatMessage } from '../contracts/prompt';

export interface GenerationRequest {
  messages: ChatMessage[];
  /** Number of candidates. */
  n: number;
  /** 0: greedy. */
  temperature: number;
  maxNewTokens: number;
  /** Nucleus sampling; 1 (the default) keeps every token. */
  topP?: number;
  /** Top-k sampling; 0 (the default) keeps every token. Training samples with neither. */
  topK?: number;
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
      /**
       * Log-probability of the token, when known. Local generator: under the sampling
       * distribution, softmax(logits / temperature) before top-k/top-p truncation, as training
       * records it (the model's own distribution when greedy). Servers: what the server
       * reports (vLLM: its --logprobs-mode; llama.cpp: the model's own distribution).
       */
      logprob?: number;
    }
  | { type: 'done'; candidate: number; finishReason: 'stop' | 'length' | 'cancelled' };

export interface GeneratedCandidate {
  index: number;
  text: string;
  tokenIds: number[];
  logprobs: number[];
  finishReason: 'stop' | 'length' | 'cancelled';
  /** The sampling the candidate was drawn with (the request's, defaults filled in). */
  sampling: { temperature: number; topP: number; topK: number };
}

export interface Generator {
  /** Model and backend in words, for logs and pickers. */
  readonly name: string;
  /** Streams the candidates' tokens; stops early (ending each candidate 'cancelled') when `signal` aborts. */
  stream(request: GenerationRequest, signal?: AbortSignal): AsyncIterable<GenerationEvent>;
  dispose(): Promise<void>;
}

/** Text an earlier stream generated, which a new stream continues. */
export interface StreamPrefix {
  text: string;
  /** The generator's own token ids for `text`, when known: continuing from ids avoids re-tokenising. */
  tokenIds?: number[];
}

/** One candidate, started from the prompt plus a prefix (guided search's re-branches). */
export interface StreamRequest {
  messages: ChatMessage[];
  /** Empty text for a stream that starts at the beginning of the response. */
  prefix: StreamPrefix;
  temperature: number;
  topP?: number;
  topK?: number;
  /** New tokens this stream may generate (the prefix not counted). */
  maxNewTokens: number;
  seed?: number;
  /**
   * Tokens the reader takes from this stream before it may stop it. A generator that runs
   * its streams one after another generates this many per turn, so that no stream runs far
   * ahead of a search that is about to stop it.
   */
  roundTokens?: number;
}

/** Single candidate streams, each cancellable on its own (guided search). Events have `candidate` 0. */
export interface StreamingGenerator {
  readonly name: string;
  /** Whether `start` honours a non-empty prefix; when false, searches restart from the prompt instead. */
  readonly continuesPrefix: boolean;
  /**
   * Starts one candidate. Aborting `signal` stops this stream only (it then ends 'cancelled').
   * Streams run concurrently: one stream's progress must not wait for another being read.
   */
  start(request: StreamRequest, signal: AbortSignal): AsyncIterable<GenerationEvent>;
}

/** A generator that offers single candidate streams of its own. */
export interface StreamingCapable {
  readonly streaming: StreamingGenerator;
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
    sampling: { temperature: request.temperature, topP: request.topP ?? 1, topK: request.topK ?? 0 },
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
