/**
 * The generator capability guided search needs: single candidate streams, each started from
 * the prompt plus a text prefix (a re-branch continues an earlier candidate) and each
 * cancellable on its own. `streamsFrom` adapts any `Generator` for streams without a prefix.
 */
import type { ChatMessage } from '../contracts/prompt';
import type { GenerationEvent, Generator } from '../generation/types';

/** Text an earlier stream generated, which a new stream continues. */
export interface StreamPrefix {
  text: string;
  /** The generator's own token ids for `text`, when known: continuing from ids avoids re-tokenising. */
  tokenIds?: number[];
}

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
}

/** A stream's events: `candidate` is always 0 (one candidate per stream). */
export type StreamEvent = GenerationEvent;

export interface StreamingGenerator {
  readonly name: string;
  /** Whether `start` honours a non-empty prefix; when false, searches restart from the prompt instead. */
  readonly continuesPrefix: boolean;
  /**
   * Starts one candidate. Aborting `signal` stops this stream only (it then ends 'cancelled').
   * Streams run concurrently: one stream's progress must not wait for another being read.
   */
  start(request: StreamRequest, signal: AbortSignal): AsyncIterable<StreamEvent>;
}

/**
 * A generator's single-candidate streams (one `n = 1` request each): what every generator
 * offers today. They cannot continue a prefix: the chat API has no reliable way to resume an
 * assistant turn, and the local worker starts from the rendered prompt.
 */
export function streamsFrom(generator: Generator): StreamingGenerator {
  return {
    name: generator.name,
    continuesPrefix: false,
    start(request, signal) {
      if (request.prefix.text) throw new Error(`${generator.name} cannot continue a prefix`);
      const { messages, temperature, topP, topK, maxNewTokens, seed } = request;
      return generator.stream({ messages, n: 1, temperature, topP, topK, maxNewTokens, seed }, signal);
    },
  };
}

/**
 * Whether an event is one generated token. Generators that report token ids send one event
 * per id, plus possibly a last event carrying only text that was held back (a multi-byte
 * character split across tokens): that one is not a token. Generators without ids (servers
 * without logprobs) send one event per token or chunk, counted as one.
 */
export function isTokenEvent(event: Extract<StreamEvent, { type: 'token' }>, sawTokenIds: boolean): boolean {
  if (event.tokenId !== undefined) return true;
  return !sawTokenIds && (event.logprob !== undefined || event.text !== '');
}

/** A generator that offers prefix-continuing streams of its own. */
export interface StreamingCapable {
  readonly streaming: StreamingGenerator;
}

/** The generator's own streams when it has them, else `streamsFrom`. */
export function streamingOf(generator: Generator & Partial<StreamingCapable>): StreamingGenerator {
  return generator.streaming ?? streamsFrom(generator);
}
