/**
 * `loadCritic`: the local critic behind a worker thread (critic.worker.ts), so the caller's
 * thread (the extension host) never waits on tokenisation or onnxruntime.
 */
import type { Worker } from 'node:worker_threads';
import type { Problem } from '../problem/types';
import { AbortError } from '../shared/abort';
import { startWorker } from '../shared/worker';
import type { LocalCriticOptions } from './engine';
import { CriticError } from './errors';
import type { AppendResult, EngineCall, FromWorker, ToWorker } from './protocol';
import type { Critic, CriticInfo, CriticStream, TokenScores } from './types';

export type { ExecutionProvider, LocalCriticOptions } from './engine';

/** A worker's error message as the error the caller sees. */
function errorFrom(message: Extract<FromWorker, { type: 'error' }>): Error {
  return message.code === 'aborted' ? new AbortError(message.message) : new CriticError(message.code, message.message);
}

type Pending = { resolve: (value: unknown) => void; reject: (error: Error) => void };

class LocalCritic implements Critic {
  private nextId = 1;
  private readonly pending = new Map<number, Pending>();
  private disposed: Promise<void> | undefined;
  private failure: CriticError | undefined;
  private exited = false;

  constructor(
    readonly info: CriticInfo,
    private readonly worker: Worker,
  ) {
    worker.on('message', (message: FromWorker) => {
      if (message.type !== 'result' && message.type !== 'error') return;
      if (message.id === undefined) return;
      const pending = this.pending.get(message.id);
      if (!pending) return;
      this.pending.delete(message.id);
      if (message.type === 'result') pending.resolve(message.value);
      else pending.reject(errorFrom(message));
    });
    const stop = (why: string) => {
      this.failure ??= new CriticError('disposed', why);
      for (const pending of this.pending.values()) pending.reject(this.failure);
      this.pending.clear();
    };
    worker.on('error', (error) => stop(`The critic worker failed: ${error.message}. Reload the critic (PassLens: Select Critic Model).`));
    worker.on('exit', () => {
      this.exited = true;
      stop('The critic was disposed.');
    });
  }

  /** Sends a call; the returned promise settles with the worker's answer (never aborted). */
  call<T>(request: EngineCall): { id: number; done: Promise<T> } {
    if (this.failure || this.disposed) return { id: 0, done: Promise.reject(this.failure ?? new CriticError('disposed', 'The critic was disposed.')) };
    const id = this.nextId++;
    const done = new Promise<T>((resolve, reject) => this.pending.set(id, { resolve: resolve as (v: unknown) => void, reject }));
    this.worker.postMessage({ type: 'call', id, ...request } as ToWorker);
    return { id, done };
  }

  /** A call the caller may abort: the worker skips it if it has not started or stops between batches. */
  private abortable<T>(request: EngineCall, signal?: AbortSignal): Promise<T> {
    if (signal?.aborted) return Promise.reject(new AbortError('Critic scoring was cancelled.'));
    const { id, done } = this.call<T>(request);
    if (!signal) return done;
    return new Promise<T>((resolve, reject) => {
      const onAbort = () => {
        this.worker.postMessage({ type: 'cancel', id } as ToWorker);
        reject(new AbortError('Critic scoring was cancelled.'));
      };
      signal.addEventListener('abort', onAbort, { once: true });
      done.then(resolve, reject).finally(() => signal.removeEventListener('abort', onAbort));
    });
  }

  score(problem: Problem, text: string, signal?: AbortSignal): Promise<TokenScores> {
    return this.abortable({ method: 'score', args: [problem, text] }, signal);
  }

  scoreMany(problem: Problem, texts: readonly string[], signal?: AbortSignal): Promise<TokenScores[]> {
    return this.abortable({ method: 'scoreMany', args: [problem, [...texts]] }, signal);
  }

  async open(problem: Problem): Promise<CriticStream> {
    const id = await this.call<number>({ method: 'open', args: [problem] }).done;
    return new LocalCriticStream(this, id);
  }

  dispose(): Promise<void> {
    if (this.exited) this.disposed ??= Promise.resolve();
    this.disposed ??= new Promise<void>((resolve) => {
      const finish = () => {
        void this.worker.terminate().then(() => resolve());
      };
      this.worker.on('message', (message: FromWorker) => {
        if (message.type === 'disposed') finish();
      });
      this.worker.once('exit', () => resolve());
      this.worker.postMessage({ type: 'dispose' } as ToWorker);
    });
    return this.disposed;
  }
}

class LocalCriticStream implements CriticStream {
  /** Appends run in order; each updates `scored` when the worker answers, aborted or not. */
  private last: Promise<unknown> = Promise.resolve();
  private closed = false;

  constructor(
    private readonly critic: LocalCritic,
    private readonly id: number,
    private scored: TokenScores = { tokens: [], tokenIds: [], charOffsets: [], values: [] },
  ) {}

  append(chunk: string, signal?: AbortSignal): Promise<TokenScores> {
    if (this.closed) return Promise.reject(new CriticError('disposed', 'This critic stream is closed; open a new one.'));
    if (signal?.aborted) return Promise.reject(new AbortError('Critic scoring was cancelled.'));
    const done = this.critic.call<AppendResult>({ method: 'append', args: [this.id, chunk] }).done.then(({ from, scores }) => {
      const keep = <T>(old: T[], added: T[]) => old.slice(0, from).concat(added);
      this.scored = {
        tokens: keep(this.scored.tokens, scores.tokens),
        tokenIds: keep(this.scored.tokenIds, scores.tokenIds),
        charOffsets: keep(this.scored.charOffsets, scores.charOffsets),
        values: keep(this.scored.values, scores.values),
        ...(scores.notice ? { notice: scores.notice } : {}),
      };
      return scores;
    });
    this.last = done.catch(() => undefined);
    if (!signal) return done;
    // The chunk stays appended even when the caller stops waiting (the stream stays consistent).
    return new Promise<TokenScores>((resolve, reject) => {
      const onAbort = () => reject(new AbortError('Critic scoring was cancelled.'));
      signal.addEventListener('abort', onAbort, { once: true });
      done.then(resolve, reject).finally(() => signal.removeEventListener('abort', onAbort));
    });
  }

  async fork(): Promise<CriticStream> {
    if (this.closed) throw new CriticError('disposed', 'This critic stream is closed; open a new one.');
    // Sent now, so the worker forks after exactly the appends sent so far; their scores are
    // in `scored` once the last of them has answered.
    const forked = this.critic.call<number>({ method: 'fork', args: [this.id] }).done;
    await this.last;
    const scored = this.scored;
    return new LocalCriticStream(this.critic, await forked, scored);
  }

  current(): TokenScores {
    return this.scored;
  }

  async close(): Promise<void> {
    if (this.closed) return;
    this.closed = true;
    await this.last;
    await this.critic.call({ method: 'close', args: [this.id] }).done.catch(() => undefined);
  }
}

/**
 * Loads a critic bundle (local files only) in a worker thread. Rejects with a CriticError
 * whose message says what to fix (missing folder, unknown format_version, damaged or
 * mismatched ONNX, mismatched tokenizer, out of memory). An unavailable execution provider
 * falls back to CPU; `info.notices` says so.
 */
export function loadCritic(options: LocalCriticOptions): Promise<Critic> {
  const worker = startWorker(__dirname, 'critic.worker');
  return new Promise<Critic>((resolve, reject) => {
    const onMessage = (message: FromWorker) => {
      if (message.type === 'loaded') {
        cleanup();
        resolve(new LocalCritic(message.info, worker));
      } else if (message.type === 'error' && message.id === undefined) {
        cleanup();
        void worker.terminate();
        reject(errorFrom(message));
      }
    };
    const onError = (error: Error) => {
      cleanup();
      void worker.terminate();
      reject(new CriticError('onnx_invalid', `The critic worker failed while loading: ${error.message}`));
    };
    const cleanup = () => {
      worker.off('message', onMessage);
      worker.off('error', onError);
    };
    worker.on('message', onMessage);
    worker.on('error', onError);
    worker.postMessage({ type: 'load', options } as ToWorker);
  });
}
