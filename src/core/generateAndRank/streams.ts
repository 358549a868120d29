/**
 * Guided search's view of a generator: single candidate streams (`StreamingGenerator` in
 * generation/types.ts). A generator that has its own (local worker, completions API)
 * continues prefixes; `streamsFrom` gives any other one streams from the prompt.
 */
import type { GenerationEvent, Generator, StreamingCapable, StreamingGenerator } from '../generation/types';

export type { StreamPrefix, StreamRequest, StreamingGenerator } from '../generation/types';

/** A stream's events: `candidate` is always 0 (one candidate per stream). */
export type StreamEvent = GenerationEvent;

/**
 * A generator's single-candidate streams (one `n = 1` request each). They cannot continue a
 * prefix: the chat API has no reliable way to resume an assistant turn.
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

/** The generator's own streams when it has them, else `streamsFrom`. */
export function streamingOf(generator: Generator & Partial<StreamingCapable>): StreamingGenerator {
  return generator.streaming ?? streamsFrom(generator);
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
