/**
 * Generator that runs an ONNX causal LM with transformers.js in a worker thread. The model
 * loads on first use (downloading when it is a hub id and offline-only is off); dispose()
 * terminates the worker, which frees all of its memory.
 */
import type { Worker } from 'node:worker_threads';
import { AbortError } from '../shared/abort';
import { startWorker } from '../shared/worker';
import { EventQueue, type GenerationEvent, type GenerationRequest, type Generator, type StreamRequest, type StreamingCapable, type StreamingGenerator } from './types';
import type { FromWorker, LoadOptions, ToWorker } from './protocol';
import { checkSampling } from './sampling';

export interface DownloadProgress {
  file: string;
  loaded: number;
  total: number;
}

export type LocalGeneratorOptions = LoadOptions;

/** Apart enough that a stream's turns never share a seed with another stream's (streams' seeds differ by 1). */
const TURN_SEED_STRIDE = 100_003;

export class LocalGenerator implements Generator, StreamingCapable {
  readonly name: string;
  private worker: Worker | undefined;
  private ready: Promise<void> | undefined;
  private nextId = 1;
  private readonly listeners = new Set<(message: FromWorker) => void>();
  /** Open generations by id, so a worker crash can end each of them. */
  private readonly generations = new Map<number, (message: FromWorker) => void>();

  constructor(private readonly options: LocalGeneratorOptions) {
    this.name = `${options.model} (${options.dtype}, local)`;
  }

  private onProgress: ((progress: DownloadProgress) => void) | undefined;
  private loaded = false;

  /** Whether the model is loaded and the worker ready. */
  get isLoaded(): boolean {
    return this.loaded;
  }

  /**
   * Loads the model (once); rejects with an actionable message when it cannot.
   * `onProgress` hears about files downloading or loading from disk.
   */
  load(signal?: AbortSignal, onProgress?: (progress: DownloadProgress) => void): Promise<void> {
    if (onProgress) this.onProgress = onProgress;
    this.ready ??= new Promise<void>((resolve, reject) => {
      const worker = startWorker(__dirname, 'generator.worker');
      this.worker = worker;
      worker.on('message', (message: FromWorker) => {
        for (const listener of this.listeners) listener(message);
      });
      worker.on('error', (error) => this.fail(error));
      worker.on('exit', (code) => {
        if (this.worker === worker) this.fail(new Error(`generator worker exited (code ${code})`));
      });
      const onLoad = (message: FromWorker) => {
        if (message.type === 'progress') this.onProgress?.(message);
        else if (message.type === 'loaded') {
          this.listeners.delete(onLoad);
          this.loaded = true;
          resolve();
        } else if (message.type === 'error' && message.id === undefined) {
          this.listeners.delete(onLoad);
          reject(new Error(message.message));
        }
      };
      this.listeners.add(onLoad);
      this.onFailure = (error) => reject(error);
      const { model, dtype, offlineOnly, cacheDir } = this.options;
      this.post({ type: 'load', options: { model, dtype, offlineOnly, cacheDir } });
    }).catch(async (error: unknown) => {
      // A failed load leaves nothing behind; the next call tries again.
      await this.dispose();
      throw error;
    });
    if (signal) {
      return new Promise<void>((resolve, reject) => {
        const abort = () => {
          void this.dispose();
          reject(new AbortError());
        };
        if (signal.aborted) return abort();
        signal.addEventListener('abort', abort, { once: true });
        this.ready!.then(resolve, reject).finally(() => signal.removeEventListener('abort', abort));
      });
    }
    return this.ready;
  }

  /** A response prefix is the start of the assistant turn, which the candidates continue. */
  stream(request: GenerationRequest, signal?: AbortSignal): AsyncIterable<GenerationEvent> {
    return this.generation(request, request.responsePrefix ? { prefixText: request.responsePrefix } : {}, signal);
  }

  /**
   * Single candidates that continue a prefix (the prompt's ids, then the prefix's). The worker
   * runs one generation at a time, so a stream is generated `roundTokens` at a time, each turn
   * asked for only when the reader has taken the last: streams advance side by side, and one
   * a search stops has generated no more than its reader saw. Each turn re-reads the prompt
   * and the response so far (the worker keeps no cache between generations).
   */
  get streaming(): StreamingGenerator {
    return { name: this.name, continuesPrefix: true, start: (request, signal) => this.turns(request, signal) };
  }

  private async *turns(request: StreamRequest, signal: AbortSignal): AsyncGenerator<GenerationEvent> {
    const ids = [...(request.prefix.tokenIds ?? [])];
    const prefixText = request.prefix.tokenIds ? undefined : request.prefix.text || undefined;
    const perTurn = request.roundTokens ?? request.maxNewTokens;
    let produced = 0;
    for (let turn = 0; ; turn++) {
      const maxNewTokens = Math.min(perTurn, request.maxNewTokens - produced);
      const last = produced + maxNewTokens >= request.maxNewTokens;
      let finish: GenerationEvent & { type: 'done' } = { type: 'done', candidate: 0, finishReason: 'cancelled' };
      const events = this.generation(
        { ...request, n: 1, maxNewTokens, seed: request.seed === undefined ? undefined : request.seed + TURN_SEED_STRIDE * turn },
        { prefixText, prefixIds: ids.slice(), holdPartial: !last },
        signal,
      );
      for await (const event of events) {
        if (event.type === 'done') finish = event;
        else {
          if (event.tokenId !== undefined) {
            ids.push(event.tokenId);
            produced++;
          }
          yield event;
        }
      }
      if (finish.finishReason !== 'length' || last || signal.aborted) {
        yield signal.aborted ? { ...finish, finishReason: 'cancelled' } : finish;
        return;
      }
    }
  }

  private generation(
    request: GenerationRequest,
    continued: { prefixText?: string; prefixIds?: number[]; holdPartial?: boolean },
    signal?: AbortSignal,
  ): AsyncIterable<GenerationEvent> {
    const queue = new EventQueue<GenerationEvent>();
    try {
      checkSampling(request);
    } catch (error) {
      queue.fail(error);
      return queue;
    }
    const id = this.nextId++;
    const abort = () => this.post({ type: 'cancel', id });
    const ended = new Set<number>();
    const listener = (message: FromWorker) => {
      if (!('id' in message) || message.id !== id) return;
      if (message.type === 'token') {
        queue.push({ type: 'token', candidate: message.candidate, text: message.text, ...(message.tokenId >= 0 ? { tokenId: message.tokenId } : {}), ...(Number.isFinite(message.logprob) ? { logprob: message.logprob } : {}) });
      } else if (message.type === 'done') {
        if (!ended.has(message.candidate)) queue.push({ type: 'done', candidate: message.candidate, finishReason: message.finishReason });
        ended.add(message.candidate);
      } else if (message.type === 'finished' || message.type === 'error') {
        this.listeners.delete(listener);
        this.generations.delete(id);
        signal?.removeEventListener('abort', abort);
        if (message.type === 'error') queue.fail(new Error(message.message));
        else queue.end();
      }
    };
    this.load(signal).then(
      () => {
        this.listeners.add(listener);
        this.generations.set(id, listener);
        signal?.addEventListener('abort', abort, { once: true });
        this.post({
          type: 'generate',
          id,
          messages: request.messages,
          n: request.n,
          temperature: request.temperature,
          topK: request.topK ?? 0,
          topP: request.topP ?? 1,
          maxNewTokens: request.maxNewTokens,
          seed: request.seed,
          stop: request.stop,
          ...continued,
        });
        if (signal?.aborted) abort();
      },
      (error: unknown) => queue.fail(error),
    );
    return queue;
  }

  async dispose(): Promise<void> {
    const worker = this.worker;
    this.worker = undefined;
    this.ready = undefined;
    this.loaded = false;
    this.listeners.clear();
    for (const [id, listener] of [...this.generations]) listener({ type: 'finished', id });
    if (worker) await worker.terminate();
  }

  private onFailure: ((error: Error) => void) | undefined;

  /** The worker died: the pending load and every open generation end with the error. */
  private fail(error: Error): void {
    this.onFailure?.(error);
    this.onFailure = undefined;
    for (const [id, listener] of [...this.generations]) listener({ type: 'error', id, message: error.message });
  }

  private post(message: ToWorker): void {
    this.worker?.postMessage(message);
  }
}
