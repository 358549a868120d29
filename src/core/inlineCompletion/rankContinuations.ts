/**
 * Ranked inline suggestions: N continuations of the code at the cursor, each scored by the
 * critic in the context of the whole file and ranked by the contract's value (`finalScore`).
 * With no critic configured they are ranked by the generator's mean token log-probability,
 * as best-of-n is (`meanLogprob`): a ranking, never a p(pass).
 *
 * The file above the cursor is scored once, on a critic stream kept between requests
 * (typing forward only appends to it, as live confidence does), and each continuation is
 * scored on a fork of that stream: only its own tokens (and the text after the cursor) run.
 * A candidate is scored as soon as the generator finishes it, so the first suggestion is
 * ready before the last one is written; every scored candidate re-ranks the list.
 */
import type { Critic, CriticStream, TokenScores } from '../critic/types';
import type { Generator } from '../generation/types';
import { finalScore, meanLogprob, rankCandidates, type RankedBy } from '../generateAndRank/ranking';
import { AbortError, isAbortError, throwIfAborted } from '../shared/abort';
import { continuationOf, type InlineRequest } from './request';

export type FinishReason = 'stop' | 'length' | 'cancelled';

/** One distinct continuation, scored. */
export interface ScoredContinuation {
  /** The text inserted at the cursor. */
  continuation: string;
  /** Generator candidates that wrote it (identical continuations are scored once). */
  indices: number[];
  /** Scores over the file after accepting it, as the critic reads a file: codeAsResponse(prefix + continuation + suffix); empty when ranked by likelihood. */
  scores: TokenScores;
  values: number[];
  /** The ranking value: the contract's finalScore of `scores` (critic), or the mean token log-probability of the first sample that wrote it (likelihood). */
  final: number;
  rankedBy: RankedBy;
  /** [start, end) of the continuation in the scored response text. */
  span: [number, number];
  finishReason: FinishReason;
}

export type CandidateState = 'generating' | 'scoring' | 'scored' | 'empty';

/** A generator candidate as it streams: the panel shows these before they are scored. */
export interface ContinuationCandidate {
  index: number;
  /** What the generator wrote so far, from the start of `healed` (request). */
  generated: string;
  state: CandidateState;
  finishReason?: FinishReason;
}

/** Whether two lists hold the same continuations in the same order. */
export function sameOrder(a: readonly ScoredContinuation[], b: readonly ScoredContinuation[]): boolean {
  return a.length === b.length && a.every((c, i) => c.continuation === b[i].continuation);
}

export interface InlineRanking {
  /** Distinct non-empty continuations scored so far, best first. */
  ranked: ScoredContinuation[];
  /** Every generator candidate, by index. */
  candidates: ContinuationCandidate[];
  /** True once every candidate was generated and scored. */
  done: boolean;
}

export interface RankCallbacks {
  /** A candidate's text grew (at most once per generator event). */
  onText?: (candidate: ContinuationCandidate) => void;
  /** A candidate was scored (or came out empty): the ranking so far. */
  onRanking?: (ranking: InlineRanking) => void;
}

const NO_SCORES: TokenScores = { tokens: [], tokenIds: [], charOffsets: [], values: [] };

/**
 * Ranks continuations for one critic (or, given none, by likelihood). Holds the critic
 * stream of the last file prefix it scored, so the next request whose prefix extends it
 * (typing forward) scores only the new text. Requests run one at a time: a new one waits
 * for the previous (cancelled) one.
 */
export class ContinuationRanker {
  private base: { stream: CriticStream; problemKey: string; text: string } | undefined;
  private queue: Promise<unknown> = Promise.resolve();

  constructor(private readonly critic: Critic | undefined) {}

  /** Generates `request.generation.n` continuations and ranks them; rejects with AbortError when `signal` aborts. */
  rank(generator: Generator, request: InlineRequest, signal?: AbortSignal, callbacks: RankCallbacks = {}): Promise<InlineRanking> {
    const run = this.queue.then(() => this.run(generator, request, signal, callbacks));
    this.queue = run.catch(() => undefined);
    return run;
  }

  private async run(generator: Generator, request: InlineRequest, signal: AbortSignal | undefined, callbacks: RankCallbacks): Promise<InlineRanking> {
    throwIfAborted(signal);
    const n = request.generation.n;
    const candidates: ContinuationCandidate[] = Array.from({ length: n }, (_, index) => ({ index, generated: '', state: 'generating' }));
    const ranked: ScoredContinuation[] = [];
    const snapshot = (done: boolean): InlineRanking => ({ ranked: rankCandidates(ranked), candidates: candidates.map((c) => ({ ...c })), done });
    const logprobs: number[][] = candidates.map(() => []);
    // Start scoring the file above the cursor while the generator starts.
    const critic = this.critic;
    const prefix = critic ? this.prefixStream(critic, request, signal) : undefined;
    prefix?.catch(() => undefined);
    const byText = new Map<string, Promise<ScoredContinuation>>();
    const jobs: Array<Promise<void>> = [];
    const finish = async (candidate: ContinuationCandidate, finishReason: FinishReason) => {
      candidate.finishReason = finishReason;
      const continuation = continuationOf(candidate.generated, request);
      if (!continuation) {
        candidate.state = 'empty';
      } else {
        candidate.state = 'scoring';
        let scoring = byText.get(continuation);
        if (scoring) {
          (await scoring).indices.push(candidate.index);
        } else {
          scoring = critic && prefix ? this.scoreOn(critic, await prefix, request, continuation, candidate, signal) : Promise.resolve(byLikelihood(request, continuation, candidate, logprobs[candidate.index]));
          byText.set(continuation, scoring);
          ranked.push(await scoring);
        }
        candidate.state = 'scored';
      }
      throwIfAborted(signal);
      callbacks.onRanking?.(snapshot(false));
    };
    try {
      for await (const event of generator.stream(request.generation, signal)) {
        const candidate = candidates[event.candidate];
        if (!candidate || candidate.state !== 'generating') continue;
        if (event.type === 'token') {
          if (event.logprob !== undefined) logprobs[event.candidate].push(event.logprob);
          if (!event.text) continue;
          candidate.generated += event.text;
          callbacks.onText?.({ ...candidate });
        } else if (event.finishReason !== 'cancelled' || !signal?.aborted) {
          const job = finish(candidate, event.finishReason);
          job.catch(() => undefined);
          jobs.push(job);
        }
      }
      throwIfAborted(signal);
      await Promise.all(jobs);
      return snapshot(true);
    } catch (error) {
      await Promise.allSettled(jobs);
      throw signal?.aborted && !isAbortError(error) ? new AbortError() : error;
    }
  }

  /** The stream holding codeAsResponse(prefix): the kept one when the new prefix extends it, else a new one. */
  private async prefixStream(critic: Critic, request: InlineRequest, signal?: AbortSignal): Promise<CriticStream> {
    const problemKey = JSON.stringify(request.problem);
    const text = request.responsePrefix;
    let base = this.base;
    if (!base || base.problemKey !== problemKey || !text.startsWith(base.text)) {
      await this.dropBase();
      base = { stream: await critic.open(request.problem), problemKey, text: '' };
      this.base = base;
    }
    if (text.length > base.text.length) {
      const added = text.slice(base.text.length);
      base.text = text;
      try {
        await base.stream.append(added, signal);
      } catch (error) {
        // An interrupted append leaves the stream's state unknown: start over next time.
        if (this.base === base) await this.dropBase();
        throw error;
      }
    }
    return base.stream;
  }

  /** Scores `continuation` + the text after the cursor on a fork of the prefix stream. */
  private async scoreOn(critic: Critic, prefix: CriticStream, request: InlineRequest, continuation: string, candidate: ContinuationCandidate, signal?: AbortSignal): Promise<ScoredContinuation> {
    throwIfAborted(signal);
    const fork = await prefix.fork();
    try {
      await fork.append(continuation + request.suffix, signal);
      const scores = fork.current();
      const start = request.responsePrefix.length;
      return {
        continuation,
        indices: [candidate.index],
        scores,
        values: scores.values,
        final: finalScore(scores, critic.info.specialIds),
        rankedBy: 'critic',
        span: [start, start + continuation.length],
        finishReason: candidate.finishReason ?? 'cancelled',
      };
    } finally {
      await fork.close().catch(() => undefined);
    }
  }

  private async dropBase(): Promise<void> {
    const base = this.base;
    this.base = undefined;
    await base?.stream.close().catch(() => undefined);
  }

  /** Frees the kept critic stream (the critic belongs to the caller). */
  async dispose(): Promise<void> {
    await this.queue;
    await this.dropBase();
  }
}

/** A continuation ranked by its sample's mean token log-probability (NaN when the generator reports none: listed last). */
function byLikelihood(request: InlineRequest, continuation: string, candidate: ContinuationCandidate, logprobs: readonly number[]): ScoredContinuation {
  const start = request.responsePrefix.length;
  return {
    continuation,
    indices: [candidate.index],
    scores: NO_SCORES,
    values: [],
    final: meanLogprob(logprobs),
    rankedBy: 'likelihood',
    span: [start, start + continuation.length],
    finishReason: candidate.finishReason ?? 'cancelled',
  };
}
