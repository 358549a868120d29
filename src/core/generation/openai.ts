/**
 * Generator for any OpenAI-compatible server (vLLM, Ollama, llama.cpp server, LM Studio):
 * chat or completions endpoint, SSE streaming, `n` candidates per request where the server
 * honours it and parallel single requests where it does not.
 */
import type { ChatMessage } from '../contracts/prompt';
import { AbortError } from '../shared/abort';
import { sendToOrigin } from '../shared/origin';
import { checkSampling } from './sampling';
import { EventQueue, type GenerationEvent, type GenerationRequest, type Generator, type StreamingCapable, type StreamingGenerator } from './types';

/**
 * Phi-4's chat format as plain text, for servers reached through the raw completions API
 * (they do not apply a chat template). Matches the tiny models' template in training.
 */
export function renderPhiChat(messages: readonly ChatMessage[]): string {
  return messages.map((m) => `<|${m.role}|>${m.content}<|end|>`).join('') + '<|assistant|>';
}

export interface OpenAIGeneratorOptions {
  /** Base URL including the version prefix, e.g. http://127.0.0.1:8000/v1. */
  baseUrl: string;
  model: string;
  api: 'chat' | 'completions';
  /**
   * Sent as a Bearer token, only to the origin of baseUrl (redirects elsewhere are refused);
   * the key stored for that origin in the editor's secret storage, never from settings.
   */
  apiKey?: string;
  /** Called with the server's origin before any request (key, prompt or code) goes out; rejecting stops it. */
  beforeSend?: (origin: string) => Promise<void>;
  /**
   * 'n': one request asking for n choices; 'parallel': n requests of one choice;
   * 'auto' (default): ask for n, then top up with parallel requests if fewer came back.
   */
  candidates?: 'auto' | 'n' | 'parallel';
  /** Ask the server for per-token log-probabilities (default true; servers that lack them send none). */
  logprobs?: boolean;
}

export class GeneratorServerError extends Error {
  constructor(message: string, readonly status?: number) {
    super(message);
    this.name = 'GeneratorServerError';
  }
}

type FinishReason = 'stop' | 'length' | 'cancelled';

interface StreamChoice {
  index?: number;
  text?: string;
  delta?: { content?: string | null };
  finish_reason?: string | null;
  logprobs?: {
    content?: Array<{ token: string; logprob: number }> | null;
    token_logprobs?: Array<number | null>;
  } | null;
}

export class OpenAIGenerator implements Generator, StreamingCapable {
  readonly name: string;
  private readonly baseUrl: string;

  constructor(private readonly options: OpenAIGeneratorOptions) {
    this.baseUrl = options.baseUrl.replace(/\/+$/, '');
    this.name = `${options.model} at ${this.baseUrl} (${options.api})`;
  }

  stream(request: GenerationRequest, signal?: AbortSignal): AsyncIterable<GenerationEvent> {
    const queue = new EventQueue<GenerationEvent>();
    try {
      checkSampling(request);
    } catch (error) {
      queue.fail(error);
      return queue;
    }
    this.run(request, queue, signal).then(
      () => queue.end(),
      (error: unknown) => queue.fail(error),
    );
    return queue;
  }

  /**
   * Single candidates, one request each. Through the completions API a stream continues a
   * prefix: the prompt is the rendered chat plus the prefix text, which the server tokenises
   * (vLLM, llama.cpp's server, llama-cpp-python, LM Studio and Ollama's /v1/completions take a
   * raw prompt). Chat APIs have no reliable way to continue an assistant turn, so there
   * streams start from the prompt only.
   */
  get streaming(): StreamingGenerator {
    const continuesPrefix = this.options.api === 'completions';
    return {
      name: this.name,
      continuesPrefix,
      start: (request, signal) => {
        if (request.prefix.text && !continuesPrefix) throw new Error(`${this.name} cannot continue a prefix: use the completions API`);
        const { messages, temperature, topP, topK, maxNewTokens, seed } = request;
        const generation: GenerationRequest = { messages, n: 1, temperature, topP, topK, maxNewTokens, seed };
        const queue = new EventQueue<GenerationEvent>();
        try {
          checkSampling(generation);
        } catch (error) {
          queue.fail(error);
          return queue;
        }
        this.requestStream(generation, 1, () => 0, (event) => queue.push(event), signal, request.prefix.text).then(
          () => queue.end(),
          (error: unknown) => queue.fail(error),
        );
        return queue;
      },
    };
  }

  /** Lists the server's models: a cheap check that the URL and key work. */
  async listModels(signal?: AbortSignal): Promise<string[]> {
    const response = await this.fetch('/models', { method: 'GET' }, signal);
    const body = (await this.readJson(response)) as { data?: Array<{ id?: unknown }> };
    if (!Array.isArray(body.data)) throw this.malformed('GET /models has no "data" list');
    return body.data.map((m) => String(m.id));
  }

  async dispose(): Promise<void> {
    // Stateless: each request owns its connection.
  }

  private async run(request: GenerationRequest, queue: EventQueue<GenerationEvent>, signal?: AbortSignal): Promise<void> {
    const mode = this.options.candidates ?? 'auto';
    const finished = new Set<number>();
    const emit = (event: GenerationEvent) => {
      if (event.type === 'done') finished.add(event.candidate);
      queue.push(event);
    };
    const all = Array.from({ length: request.n }, (_, i) => i);
    if (mode === 'parallel' || request.n === 1) {
      await this.parallel(request, all, emit, signal);
    } else {
      try {
        await this.requestStream(request, request.n, (i) => i, emit, signal);
      } catch (error) {
        // Some servers reject n > 1 outright; in auto mode fall back to one choice per request.
        if (mode === 'n' || !(error instanceof GeneratorServerError) || (error.status !== 400 && error.status !== 422)) throw error;
      }
      const missing = all.filter((i) => !finished.has(i));
      if (missing.length && mode === 'auto' && !signal?.aborted) await this.parallel(request, missing, emit, signal);
    }
    for (const i of all) if (!finished.has(i)) emit({ type: 'done', candidate: i, finishReason: 'cancelled' });
  }

  private async parallel(
    request: GenerationRequest,
    candidates: number[],
    emit: (event: GenerationEvent) => void,
    signal?: AbortSignal,
  ): Promise<void> {
    const results = await Promise.allSettled(
      candidates.map((candidate) =>
        this.requestStream({ ...request, seed: request.seed === undefined ? undefined : request.seed + candidate }, 1, () => candidate, emit, signal),
      ),
    );
    const failure = results.find((r): r is PromiseRejectedResult => r.status === 'rejected');
    if (failure) throw failure.reason;
  }

  /** `prefix`: a stream's prefix (guided search); otherwise the request's response prefix, if any. */
  private body(request: GenerationRequest, n: number, prefix?: string): Record<string, unknown> {
    const common = {
      model: this.options.model,
      n,
      stream: true,
      temperature: request.temperature,
      max_tokens: request.maxNewTokens,
      ...(request.topP !== undefined ? { top_p: request.topP } : {}),
      // Not in OpenAI's API, but vLLM, llama.cpp, LM Studio and Ollama read it, and llama.cpp's
      // servers apply top-k 40 when it is absent: sampling as asked means sending it.
      top_k: request.topK ?? 0,
      ...(request.seed !== undefined ? { seed: request.seed } : {}),
    };
    const logprobs = this.options.logprobs ?? true;
    const stop = request.stop?.length ? { stop: request.stop } : {};
    const continued = prefix ?? request.responsePrefix ?? '';
    if (this.options.api === 'chat') {
      // A response prefix is sent as the assistant's unfinished turn: vLLM continues it with
      // continue_final_message, llama.cpp's server continues a final assistant message itself.
      // (Guided search's streams do not rely on this: they continue prefixes through completions only.)
      const prefill = continued
        ? { messages: [...request.messages, { role: 'assistant', content: continued }], continue_final_message: true, add_generation_prompt: false }
        : { messages: request.messages };
      return { ...common, ...prefill, ...stop, ...(logprobs ? { logprobs: true } : {}) };
    }
    const suffix = request.suffix !== undefined ? { suffix: request.suffix } : {};
    return { ...common, prompt: renderPhiChat(request.messages) + continued, ...suffix, ...stop, ...(logprobs ? { logprobs: 1 } : {}) };
  }

  /** One streaming request; `candidateOf` maps the server's choice index to our candidate index. */
  private async requestStream(
    request: GenerationRequest,
    n: number,
    candidateOf: (choiceIndex: number) => number,
    emit: (event: GenerationEvent) => void,
    signal?: AbortSignal,
    prefix?: string,
  ): Promise<void> {
    const path = this.options.api === 'chat' ? '/chat/completions' : '/completions';
    const response = await this.fetch(path, { method: 'POST', body: JSON.stringify(this.body(request, n, prefix)) }, signal);
    if (!response.body) throw this.malformed(`POST ${path} returned no body`);
    const done = new Set<number>();
    let finished = false;
    try {
      for await (const data of readServerSentEvents(response.body, signal)) {
        if (data === '[DONE]') {
          finished = true;
          break;
        }
        let chunk: { choices?: StreamChoice[]; error?: { message?: string } };
        try {
          chunk = JSON.parse(data) as typeof chunk;
        } catch {
          throw this.malformed(`stream event is not JSON: ${data.slice(0, 120)}`);
        }
        if (chunk.error) throw new GeneratorServerError(`The generator server at ${this.baseUrl} reported: ${chunk.error.message ?? 'an error'}`);
        if (!Array.isArray(chunk.choices)) throw this.malformed(`stream event without "choices": ${data.slice(0, 120)}`);
        for (const choice of chunk.choices) this.emitChoice(choice, n, candidateOf, emit, done);
      }
    } catch (error) {
      if (!signal?.aborted) {
        if (error instanceof GeneratorServerError) throw error;
        // The connection broke (the server crashed or was stopped) in the middle of the stream.
        const cause = (error as { cause?: { code?: string } }).cause?.code ?? (error instanceof Error ? error.message : String(error));
        throw new GeneratorServerError(`The generator server at ${this.baseUrl} broke off the stream mid-generation (${cause}). Check that it is still running.`);
      }
    }
    if (finished && n === 1 && done.size === 0 && !signal?.aborted) {
      throw new GeneratorServerError(
        `The generator server at ${this.baseUrl} ended a candidate's stream without finishing it. ` +
          '(llama-cpp-python\'s server drops a request when another arrives: start it with --interrupt_requests false.)',
      );
    }
    if (!finished && !signal?.aborted && done.size < n) {
      throw new GeneratorServerError(`The generator server at ${this.baseUrl} closed the stream before finishing (no [DONE]). Check that it is still running.`);
    }
    if (signal?.aborted) {
      for (let i = 0; i < n; i++) if (!done.has(i)) emit({ type: 'done', candidate: candidateOf(i), finishReason: 'cancelled' });
    }
  }

  private emitChoice(
    choice: StreamChoice,
    n: number,
    candidateOf: (choiceIndex: number) => number,
    emit: (event: GenerationEvent) => void,
    done: Set<number>,
  ): void {
    const index = choice.index ?? 0;
    if (index < 0 || index >= n || done.has(index)) return;
    const candidate = candidateOf(index);
    const text = this.options.api === 'chat' ? choice.delta?.content ?? '' : choice.text ?? '';
    const logprobs = choice.logprobs?.content?.map((c) => c.logprob) ?? choice.logprobs?.token_logprobs?.map((l) => l ?? Number.NaN);
    if (logprobs && logprobs.length > 1) {
      // A chunk may carry several tokens; attach each log-probability to its own event.
      logprobs.forEach((logprob, k) =>
        emit({ type: 'token', candidate, text: k === 0 ? text : '', logprob }),
      );
    } else if (text || logprobs?.length) {
      emit({ type: 'token', candidate, text, ...(logprobs?.length ? { logprob: logprobs[0] } : {}) });
    }
    if (choice.finish_reason) {
      done.add(index);
      const finishReason: FinishReason = choice.finish_reason === 'length' ? 'length' : 'stop';
      emit({ type: 'done', candidate, finishReason });
    }
  }

  private async fetch(path: string, init: RequestInit, signal?: AbortSignal): Promise<Response> {
    const url = this.baseUrl + path;
    let response: Response;
    try {
      response = await sendToOrigin(
        url,
        {
          ...init,
          signal,
          headers: { 'content-type': 'application/json', accept: init.method === 'POST' ? 'text/event-stream' : 'application/json' },
        },
        { apiKey: this.options.apiKey, beforeSend: this.options.beforeSend },
      );
    } catch (error) {
      if (signal?.aborted) throw new AbortError();
      // fetch fails with a TypeError when the server cannot be reached; the rest (declined,
      // redirected elsewhere, bad URL) already says what happened.
      if (!(error instanceof TypeError)) throw error;
      const cause = (error as { cause?: { code?: string; message?: string } }).cause;
      throw new GeneratorServerError(
        `Cannot reach the generator server at ${this.baseUrl} (${cause?.code ?? cause?.message ?? String(error)}). ` +
          'Start the server or change passlens.generator.serverUrl.',
      );
    }
    if (response.status === 401 || response.status === 403) {
      throw new GeneratorServerError(
        `The generator server at ${this.baseUrl} refused the API key (HTTP ${response.status}). ` +
          'Set the key with "PassLens: Select Generator".',
        response.status,
      );
    }
    if (!response.ok) {
      const detail = (await response.text().catch(() => '')).slice(0, 300);
      throw new GeneratorServerError(
        `The generator server at ${this.baseUrl} answered ${init.method} ${path} with HTTP ${response.status}${detail ? `: ${detail}` : ''}`,
        response.status,
      );
    }
    return response;
  }

  private async readJson(response: Response): Promise<unknown> {
    const text = await response.text();
    try {
      return JSON.parse(text);
    } catch {
      throw this.malformed(`response is not JSON: ${text.slice(0, 120)}`);
    }
  }

  private malformed(detail: string): GeneratorServerError {
    return new GeneratorServerError(`The server at ${this.baseUrl} does not speak the OpenAI API: ${detail}`);
  }
}

/** The `data` payloads of a text/event-stream body (events joined per the SSE spec). */
export async function* readServerSentEvents(body: ReadableStream<Uint8Array>, signal?: AbortSignal): AsyncGenerator<string> {
  const decoder = new TextDecoder();
  const reader = body.getReader();
  const abort = () => void reader.cancel().catch(() => undefined);
  signal?.addEventListener('abort', abort, { once: true });
  let buffer = '';
  let data: string[] = [];
  try {
    for (;;) {
      const { value, done } = await reader.read();
      buffer += done ? decoder.decode() : decoder.decode(value, { stream: true });
      let newline: number;
      while ((newline = buffer.search(/\r\n|\r|\n/)) !== -1) {
        const line = buffer.slice(0, newline);
        buffer = buffer.slice(newline + (buffer.startsWith('\r\n', newline) ? 2 : 1));
        if (line === '') {
          if (data.length) yield data.join('\n');
          data = [];
        } else if (line.startsWith('data:')) data.push(line.slice(line.startsWith('data: ') ? 6 : 5));
        // Comments (":"), "event:", "id:" and "retry:" lines carry nothing we use.
      }
      if (done) break;
    }
    if (buffer.startsWith('data:')) data.push(buffer.slice(buffer.startsWith('data: ') ? 6 : 5));
    if (data.length) yield data.join('\n');
  } finally {
    signal?.removeEventListener('abort', abort);
    reader.releaseLock();
  }
}
